"""Overlay art: logos and text watermarks become RGBA PNGs at the exact pixel size the plan placed them.

Text is drawn with Pillow's built-in scalable font, so a text handle and an image watermark go through one
overlay mechanism in FFmpeg. Opacity is baked into the alpha channel: FFmpeg's overlay then needs no
extra filter per brand.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageFont
from PIL.ImageDraw import Draw

from portal.media.layers import ArtSizes, OverlayArt

# Text is drawn large and scaled down, so small handles stay crisp.
TEXT_DRAW_HEIGHT = 160
TEXT_STROKE_FRACTION = 0.06  # a dark outline keeps a white handle readable on a white sky


def image_size(path: Path) -> tuple[int, int]:
    """Pixel size of an overlay image.

    Cached, since brands reuse the same logo for every render, but keyed on the file's mtime and size too:
    a logo replaced under the same name (the dashboard saves brands/<id>/logo.png) must not keep the old
    shape in a long-running worker.
    """
    stat = path.stat()
    return _image_size(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _image_size(path: Path, _mtime_ns: int, _size: int) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


@lru_cache(maxsize=256)
def _draw_text(text: str, color: str) -> Image.Image:
    font = ImageFont.load_default(size=TEXT_DRAW_HEIGHT)
    stroke = max(1, round(TEXT_DRAW_HEIGHT * TEXT_STROKE_FRACTION))
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    canvas = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
    Draw(canvas).text(
        (-left, -top), text, font=font, fill=color, stroke_width=stroke, stroke_fill=(0, 0, 0, 200)
    )
    return canvas


def art_size(art: OverlayArt) -> tuple[int, int]:
    """Natural (width, height) of the art: the image's pixels, or the text as drawn."""
    if art.image is not None:
        return image_size(art.image)
    return _draw_text(art.text or "", art.color).size


def measure_art(arts: Iterable[OverlayArt]) -> ArtSizes:
    """The sizes the plan needs, measured once per distinct art."""
    return {art: art_size(art) for art in dict.fromkeys(arts)}


def render_art(art: OverlayArt, width: int, height: int, dest: Path) -> Path:
    """Write the art as an RGBA PNG of exactly width x height with its opacity in the alpha."""
    if art.image is not None:
        with Image.open(art.image) as source:
            picture = source.convert("RGBA")
    else:
        picture = _draw_text(art.text or "", art.color).copy()
    picture = picture.resize((width, height), Image.Resampling.LANCZOS)
    if art.opacity < 1:
        alpha = picture.getchannel("A").point(lambda value: round(value * art.opacity))
        picture.putalpha(alpha)
    picture.save(dest, format="PNG", compress_level=1)
    return dest
