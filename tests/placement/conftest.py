"""Clips for placement: a real face (scikit-image's bundled astronaut photo) or burned-in text in one corner.

Each clip is a still picture on a flat grey ground, encoded as a short H.264 clip by the engine's FFmpeg.
`CONTENT_BOX` is where the face or text sits, as fractions of the picture, so a test can say where an
overlay must not go on any output shape.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from tests.browser.conftest import browser, page, service  # noqa: F401  (real Chromium on the real app)
from tests.mediagen import ffmpeg

GROUND = (96, 96, 96)
CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
KEYFRAME_EVERY = 5  # frames: the analysis samples keyframes, and a 1 s clip should have several
CONTENT_FRACTION = 0.5  # the face or text block is this wide, as a fraction of the picture's short side


def content_box(corner: str, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) pixels of the content block in `corner` of a picture of `size`."""
    width, height = size
    side = round(min(size) * CONTENT_FRACTION)
    inset = round(min(size) * 0.05)
    left = inset if corner.endswith("left") else width - inset - side
    top = inset if corner.startswith("top") else height - inset - side
    return left, top, left + side, top + side


def astronaut_picture(corner: str, size: tuple[int, int]) -> Image.Image:
    left, top, right, bottom = content_box(corner, size)
    picture = Image.new("RGB", size, GROUND)
    photo = Image.fromarray(data.astronaut()).resize((right - left, bottom - top), Image.Resampling.LANCZOS)
    picture.paste(photo, (left, top))
    return picture


def caption_picture(corner: str, size: tuple[int, int]) -> Image.Image:
    """Three lines of white caption text with a dark outline, as burned-in subtitles look."""
    left, top, _right, bottom = content_box(corner, size)
    picture = Image.new("RGB", size, GROUND)
    draw = ImageDraw.Draw(picture)
    line_height = (bottom - top) // 3
    font = ImageFont.load_default(size=round(line_height * 0.6))  # Pillow's bundled font
    for index, words in enumerate(("BREAKING", "caption text", "burned in")):
        draw.text(
            (left, top + index * line_height),
            words,
            font=font,
            fill="white",
            stroke_width=2,
            stroke_fill="black",
        )
    return picture


def clip_of(picture: Image.Image, path: Path, duration: float = 1.0) -> Path:
    still = path.with_suffix(".png")
    picture.save(still)
    ffmpeg(
        "-loop", "1", "-framerate", "30", "-i", str(still), "-t", str(duration),
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(KEYFRAME_EVERY),
        str(path),
    )  # fmt: skip
    return path


PICTURES: dict[str, Callable[[str, tuple[int, int]], Image.Image]] = {
    "face": astronaut_picture,
    "text": caption_picture,
    "plain": lambda corner, size: Image.new("RGB", size, GROUND),
}


@pytest.fixture(scope="session")
def scene_clip(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """scene_clip(kind, corner, size) -> a clip with a face, text or nothing in that corner (cached)."""
    folder = tmp_path_factory.mktemp("scenes")
    made: dict[tuple, Path] = {}

    def get(kind: str, corner: str = "top-right", size: tuple[int, int] = (360, 640)) -> Path:
        key = (kind, corner, size)
        if key not in made:
            name = f"{kind}-{corner}-{size[0]}x{size[1]}.mp4"
            made[key] = clip_of(PICTURES[kind](corner, size), folder / name)
        return made[key]

    return get
