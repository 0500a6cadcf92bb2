"""Captions burned in by the render's one FFmpeg pass: read back off the frames by OCR at the right times,
kept out of every shape's projected UI areas, and written beside each output as WebVTT."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from portal.brand_loader import Brand, parse_brand_config
from portal.media.captions import caption_layout
from portal.media.options import ENGINE_DEFAULTS, OutputFormat, Trim
from portal.media.transcript import parse_subtitles
from portal.video_processor import render_source
from tests.conftest import require_program
from tests.mediagen import ffmpeg

VTT = """WEBVTT

00:00.200 --> 00:01.200
HELLO WORLD

00:01.800 --> 00:02.900
GOODBYE NOW
"""
SMALL = replace(ENGINE_DEFAULTS, max_short_side=360)


def _brand(style: dict, safe_zone: str = "tiktok") -> Brand:
    config = {"version": 2, "brands": {"cap": {"name": "Cap", "safe_zone": safe_zone,
                                              "layers": [{"captions": style}]}}}  # fmt: skip
    return parse_brand_config(config, Path("."), "test").brands["cap"]


def _black_clip(path: Path, width: int, height: int, seconds: float = 3) -> Path:
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=black:size={width}x{height}:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path),
    )  # fmt: skip
    return path


def _frame(video: Path, at: float, out: Path) -> Image.Image:
    ffmpeg("-ss", f"{at}", "-i", str(video), "-frames:v", "1", str(out))
    return Image.open(out).convert("RGB")


def _ocr(image: Image.Image, work: Path) -> str:
    """What tesseract reads in the picture (enlarged: captions of a small test output are small)."""
    grey = image.convert("L").resize((image.width * 3, image.height * 3), Image.LANCZOS)
    path = work / "ocr.png"
    Image.eval(grey, lambda v: 255 - v).save(path)  # dark text on light reads best
    found = subprocess.run(["tesseract", str(path), "-", "--psm", "6"], capture_output=True, text=True)
    return " ".join(found.stdout.split()).upper()


def test_an_uploaded_vtt_is_burned_in_and_read_back_at_its_times(tmp_path: Path) -> None:
    require_program("tesseract", shutil.which("tesseract") is not None)
    clip = _black_clip(tmp_path / "clip.mp4", 360, 640)
    brand = _brand({"highlight": None, "size": 0.06})
    cues = parse_subtitles(VTT)
    [output] = render_source(clip, [brand], tmp_path / "out", options=SMALL, transcript=cues)

    first = _ocr(_frame(output.path, 0.7, tmp_path / "a.png"), tmp_path)
    between = _ocr(_frame(output.path, 1.5, tmp_path / "b.png"), tmp_path)
    second = _ocr(_frame(output.path, 2.4, tmp_path / "c.png"), tmp_path)
    assert "HELLO" in first and "WORLD" in first and "GOODBYE" not in first
    assert "HELLO" not in between and "GOODBYE" not in between
    assert "GOODBYE" in second and "HELLO" not in second

    assert output.captions == output.path.with_suffix(".vtt")
    assert parse_subtitles(output.captions.read_text()) == cues


def test_an_edited_cue_shows_in_the_next_render(tmp_path: Path) -> None:
    require_program("tesseract", shutil.which("tesseract") is not None)
    clip = _black_clip(tmp_path / "clip.mp4", 360, 640)
    brand = _brand({"highlight": None, "size": 0.06})
    edited = parse_subtitles(VTT.replace("GOODBYE NOW", "FIXED CAPTION"))
    [output] = render_source(clip, [brand], tmp_path / "out", options=SMALL, transcript=edited)
    second = _ocr(_frame(output.path, 2.4, tmp_path / "c.png"), tmp_path)
    assert "FIXED" in second and "GOODBYE" not in second


def test_a_trimmed_output_shows_the_cues_at_its_own_times(tmp_path: Path) -> None:
    """Cues are timed on the source (its library item's transcript); an output cut to 1.0..3.0 s starts at
    the cut, and its captions and sidecar move with it."""
    require_program("tesseract", shutil.which("tesseract") is not None)
    clip = _black_clip(tmp_path / "clip.mp4", 360, 640)
    brand = _brand({"highlight": None, "size": 0.06})
    trim = Trim(start=1.0, end=3.0)
    [output] = render_source(
        clip, [brand], tmp_path / "out", options=SMALL, trim=trim, transcript=parse_subtitles(VTT)
    )
    assert "HELLO" in _ocr(_frame(output.path, 0.1, tmp_path / "a.png"), tmp_path)  # 0.2..1.2 cut at 1.0
    assert "GOODBYE" in _ocr(_frame(output.path, 1.4, tmp_path / "b.png"), tmp_path)  # 1.8..2.9 -> 0.8..1.9
    sidecar = parse_subtitles(output.captions.read_text())
    assert [(cue.start, cue.end, cue.text) for cue in sidecar] == [
        (0.0, 0.2, "HELLO WORLD"),
        (0.8, 1.9, "GOODBYE NOW"),
    ]


@pytest.mark.parametrize(("zone", "position"), [
    ("tiktok", "bottom"),
    ("all", "bottom"),
    ("all", {"vertical": "top", "square": "center", "landscape": "top"}),
])  # fmt: skip
def test_captions_never_enter_the_projected_ui_areas_of_any_shape(
    tmp_path: Path, zone: str, position: str | dict
) -> None:
    clip = _black_clip(tmp_path / "clip.mp4", 360, 640, seconds=1)
    # a long cue in a big boxed style: the widest and tallest captions the style allows
    long = "WEBVTT\n\n00:00.000 --> 00:01.000\n" + " ".join(["WWWWWW MMMM"] * 8) + "\n"
    style = {"size": 0.2, "box": {"color": "#FFFFFF", "opacity": 1.0}, "margin": 0, "position": position}
    brand = _brand(style, zone)
    formats = [OutputFormat(preset, "crop") for preset in ("vertical", "square", "landscape")]
    outputs = render_source(
        clip, [brand], tmp_path / "out", formats=formats, options=SMALL, transcript=parse_subtitles(long)
    )
    for output in outputs:
        frame = np.asarray(_frame(output.path, 0.5, tmp_path / f"{output.preset}.png").convert("L"))
        ys, xs = np.nonzero(frame > 60)
        assert len(xs) > 100, f"{output.preset}: no captions drawn"
        safe = brand.safe_zone_for(output.width, output.height)
        tolerance = 2  # one chroma sample of blur at the box's edge
        assert xs.min() >= safe.left * output.width - tolerance, output.preset
        assert xs.max() <= (1 - safe.right) * output.width + tolerance, output.preset
        assert ys.min() >= safe.top * output.height - tolerance, output.preset
        assert ys.max() <= (1 - safe.bottom) * output.height + tolerance, output.preset
        # inside the band the plan gives for them (what the brand editor outlines)
        x, y, w, h = caption_layout(brand.captions, (output.width, output.height), safe).band
        assert x - tolerance <= xs.min() and xs.max() <= x + w + tolerance, output.preset
        assert y - tolerance <= ys.min() and ys.max() <= y + h + tolerance, output.preset
