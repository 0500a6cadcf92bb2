"""Covers (DESIGN 4.11): every output's JPEG at its size, from a frame with a face if the clip has one,
else its sharpest, never from its first or last half second; or at the time asked for.

The covers are read back (PIL, OpenCV's face detector, PyAV on the output), never taken from the plan.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image, ImageFilter

from portal.media.cover import COVER_EDGE_S, choose_cover_time
from portal.media.probe import probe_media
from portal.video_processor import render_source
from tests.engine.conftest import LOGO_RGB, make_brands
from tests.mediagen import ffmpeg
from tests.placement.conftest import astronaut_picture, caption_picture

SIZE = (360, 640)
SPAN_S = 1.5  # each picture of a two-picture clip lasts this long


@pytest.fixture(scope="module")
def logo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cover-assets") / "logo.png"
    Image.new("RGBA", (200, 100), (*LOGO_RGB, 255)).save(path)
    return path


def two_pictures(first: Image.Image, second: Image.Image, path: Path) -> Path:
    """A clip showing `first` for SPAN_S seconds, then `second` for SPAN_S seconds."""
    stills = []
    for index, picture in enumerate((first, second)):
        stills.append(path.with_name(f"{path.stem}-{index}.png"))
        picture.save(stills[-1])
    ffmpeg(
        "-loop", "1", "-framerate", "30", "-t", str(SPAN_S), "-i", str(stills[0]),
        "-loop", "1", "-framerate", "30", "-t", str(SPAN_S), "-i", str(stills[1]),
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "15", str(path),
    )  # fmt: skip
    return path


def faces_in(picture: np.ndarray) -> int:
    grey = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
    detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    return len(detector.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5, minSize=(20, 20)))


def frame_at(video: Path, at: float) -> np.ndarray:
    """The output's frame shown at `at` seconds, decoded from the start (no seek: the reference)."""
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            if frame.time + 0.5 / 30 >= at:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"{video} has no frame at {at}")


def test_every_output_gets_a_cover_with_the_face(tmp_path: Path, logo: Path) -> None:
    # the caption half is sharper (dense letter edges) but has no face: the face half wins
    clip = two_pictures(
        caption_picture("top-left", SIZE), astronaut_picture("top-left", SIZE), tmp_path / "a.mp4"
    )
    brands = make_brands(logo, one="tiktok", two="reels")
    outputs = render_source(clip, brands, tmp_path / "out", preset="vertical")
    assert len(outputs) == 2
    for output in outputs:
        assert output.cover == output.path.with_suffix(".jpg")
        with Image.open(output.cover) as cover:
            assert cover.format == "JPEG"
            assert cover.size == (output.width, output.height)
            picture = np.asarray(cover.convert("RGB"))
        assert faces_in(picture) >= 1
        assert SPAN_S <= output.cover_at <= 2 * SPAN_S - COVER_EDGE_S
        # the cover is the output's own frame at that time (its logo and handle included)
        expected = frame_at(output.path, output.cover_at).astype(int)
        assert np.abs(picture.astype(int) - expected).mean() < 4


def test_without_a_face_the_sharpest_frame_away_from_the_edges(tmp_path: Path) -> None:
    sharp = caption_picture("bottom-right", SIZE)
    blurred = sharp.filter(ImageFilter.GaussianBlur(12))
    clip = two_pictures(blurred, sharp, tmp_path / "b.mp4")
    chosen = choose_cover_time(probe_media(clip))
    assert SPAN_S <= chosen <= 2 * SPAN_S - COVER_EDGE_S

    flipped = two_pictures(sharp, blurred, tmp_path / "c.mp4")
    chosen = choose_cover_time(probe_media(flipped))
    assert COVER_EDGE_S <= chosen <= SPAN_S


def test_cover_at_is_the_frame_asked_for(tmp_path: Path, logo: Path) -> None:
    clip = two_pictures(
        caption_picture("top-left", SIZE), astronaut_picture("top-left", SIZE), tmp_path / "d.mp4"
    )
    [output] = render_source(clip, make_brands(logo, one="tiktok"), tmp_path / "out", cover_at=0.2)
    assert output.cover_at == pytest.approx(0.2)
    with Image.open(output.cover) as cover:
        picture = np.asarray(cover.convert("RGB")).astype(int)
    assert faces_in(picture.astype(np.uint8)) == 0  # the caption half, though the face half would be chosen
    assert np.abs(picture - frame_at(output.path, 0.2).astype(int)).mean() < 4
