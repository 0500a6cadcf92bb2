"""Overlay art: logos, full-frame watermarks and text become RGBA PNGs at the exact pixel size the plan
placed them, once per render.

Text is drawn with the font bundled in Pillow (its scalable default, no system font needed), with its box
if it has one, so text and images go through one overlay mechanism in FFmpeg. Scaling, the key colour
and opacity are baked into the picture: FFmpeg's overlay then needs no scale, colorkey or alpha filter
per brand, and nothing is recomputed per frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageFont
from PIL.ImageDraw import Draw

from portal.media.images import MAX_IMAGE_PIXELS, ImageLimitError, LayerKind, check_image_size, open_image
from portal.media.layers import TEXT_BOX_PADDING, ArtSizes, OverlayArt

# Pixels within the key tolerance become transparent, then opacity ramps up over this further distance
# (the semantics of FFmpeg's colorkey=COLOR:similarity:blend, which v3 used with 0.1:0.1).
KEY_BLEND = 0.1

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
    with open_image(path) as image:
        return image.size


@lru_cache(maxsize=256)
def _draw_text(text: str, color: str, outline: bool) -> Image.Image:
    font = ImageFont.load_default(size=TEXT_DRAW_HEIGHT)
    stroke = max(1, round(TEXT_DRAW_HEIGHT * TEXT_STROKE_FRACTION)) if outline else 0
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    check_image_size((right - left, bottom - top), "text", f"text {text[:40]!r}")  # before it is drawn
    canvas = Image.new("RGBA", (right - left, bottom - top), (0, 0, 0, 0))
    Draw(canvas).text(
        (-left, -top), text, font=font, fill=color, stroke_width=stroke, stroke_fill=(0, 0, 0, 200)
    )
    return canvas


@lru_cache(maxsize=256)
def _text_picture(art: OverlayArt) -> Image.Image:
    """The text as drawn: outlined when bare (readable on any sky), or on its box (which does that job)."""
    text = _draw_text(art.text or "", art.color, outline=art.box is None)
    if art.box is None:
        return text
    colour, opacity = art.box
    pad = round(text.height * TEXT_BOX_PADDING)
    boxed = Image.new(
        "RGBA",
        (text.width + 2 * pad, text.height + 2 * pad),
        (*ImageColor.getrgb(colour), round(255 * opacity)),
    )
    boxed.alpha_composite(text, (pad, pad))
    return boxed


def art_size(art: OverlayArt) -> tuple[int, int]:
    """Natural (width, height) of the art: the image's pixels, or the text as drawn (with its box).

    An image too thin for its kind of layer (a full-frame cover, a logo) is refused here, before a render.
    """
    if art.image is None:
        return _text_picture(art).size
    size = image_size(art.image)
    check_image_size(size, _kind(art), str(art.image))
    return size


def _kind(art: OverlayArt) -> LayerKind:
    if art.image is None:
        return "text"
    return "cover" if art.cover is not None else "logo"


def measure_art(arts: Iterable[OverlayArt]) -> ArtSizes:
    """The sizes the plan needs, measured once per distinct art."""
    return {art: art_size(art) for art in dict.fromkeys(arts)}


def render_art(art: OverlayArt, width: int, height: int, dest: Path) -> Path:
    """Write the art as an RGBA PNG of exactly width x height: scaled (or, for a cover layer, scaled to
    cover the box, centred and cropped), its key colour made transparent, its opacity in the alpha."""
    if width * height > MAX_IMAGE_PIXELS:  # the plan keeps layers inside the output: this is a plan bug
        raise ImageLimitError(f"overlay {dest.name}: {width}x{height} is larger than any output")
    if art.image is not None:
        with open_image(art.image, _kind(art)) as source:
            picture = source.convert("RGBA")
    else:
        picture = _text_picture(art).copy()
    if art.cover is not None:
        picture = _cover(picture, width, height, art.cover)
    else:
        picture = picture.resize((width, height), Image.Resampling.LANCZOS)
    if art.key_color is not None:
        picture = _keyed(picture, art.key_color, art.key_tolerance)
    if art.opacity < 1:
        alpha = picture.getchannel("A").point(lambda value: round(value * art.opacity))
        picture.putalpha(alpha)
    picture.save(dest, format="PNG", compress_level=1)
    return dest


def _cover(picture: Image.Image, width: int, height: int, scale: float) -> Image.Image:
    """The picture scaled to cover width x height times `scale` (aspect kept), centred, cropped to it.

    Only the part of the picture that lands in the box is scaled, so the scaled picture is never larger
    than the box (a thin picture covering a frame would otherwise be scaled to gigabytes first).
    """
    factor = max(width / picture.width, height / picture.height) * scale
    size = (
        min(width, max(1, round(picture.width * factor))),
        min(height, max(1, round(picture.height * factor))),
    )
    seen_w, seen_h = size[0] / factor, size[1] / factor  # the visible part, in the picture's pixels
    left, top = (picture.width - seen_w) / 2, (picture.height - seen_h) / 2
    visible = picture.resize(size, Image.Resampling.LANCZOS, box=(left, top, left + seen_w, top + seen_h))
    canvas = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    canvas.paste(visible, ((width - size[0]) // 2, (height - size[1]) // 2))
    return canvas


def _keyed(picture: Image.Image, colour: str, tolerance: float) -> Image.Image:
    """Pixels close to `colour` made transparent (distance in RGB, 0..1 over the cube's diagonal)."""
    rgba = np.asarray(picture, dtype=np.float32)
    key = np.array(ImageColor.getrgb(colour), dtype=np.float32)
    distance = np.sqrt(((rgba[..., :3] - key) ** 2).sum(axis=2) / (3 * 255.0**2))
    keep = np.clip((distance - tolerance) / KEY_BLEND, 0.0, 1.0)
    rgba[..., 3] *= keep
    return Image.fromarray(rgba.round().astype(np.uint8), "RGBA")
