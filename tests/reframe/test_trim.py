"""Trim: the output is exactly the kept range, sound and picture together; loudness is measured on what is
kept; a trailing card is found and cut when asked. Checked on the rendered files."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from portal.media.errors import TrimError
from portal.media.options import EngineOptions, Trim
from portal.video_processor import render_source
from tests.mediagen import ffmpeg
from tests.reframe.conftest import QUICK

FPS = 30
FLASH_FRAME = 75  # 2.5 s
BEEP = (2.5, 2.55)


@pytest.fixture(scope="module")
def counter_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s at 30 fps whose grey level says the frame number (2 per frame), a white flash at frame 75 and
    a 1 kHz beep at the same moment (silence around it)."""
    path = tmp_path_factory.mktemp("trim") / "counter.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=black:s=160x90:r={FPS}:d=4,format=yuv420p,"
        f"geq=lum='if(eq(N,{FLASH_FRAME}),235,16+N*2)':cb=128:cr=128",
        "-f", "lavfi", "-i", f"sine=frequency=1000:sample_rate=48000:duration=4,"
        f"volume=volume=0:enable='not(between(t,{BEEP[0]},{BEEP[1]}))'",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "60", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-ar", "48000", str(path),
    )  # fmt: skip
    return path


def frame_numbers(path: Path) -> list[tuple[float, int]]:
    """(time, source frame number) of every frame, read from its grey level."""
    with av.open(str(path)) as container:
        return [
            (frame.time, round((float(frame.to_ndarray()[:90, :160].mean()) - 16) / 2))
            for frame in container.decode(video=0)
        ]


def first_loud(path: Path) -> float:
    """The time of the first audio sample above 5 % of full scale (the beep peaks at 1/8)."""
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            samples = np.abs(frame.to_ndarray()).max(axis=0)
            loud = np.flatnonzero(samples > 0.05)
            if loud.size:
                return frame.time + loud[0] / frame.sample_rate
    raise AssertionError("no beep")


def test_a_trim_keeps_exactly_the_asked_range_with_sound_in_sync(counter_clip, plain_brand, tmp_path) -> None:
    start, end = 1.2, 3.7
    [output] = render_source(counter_clip, plain_brand, tmp_path, trim=Trim(start, end), options=QUICK)
    frames = frame_numbers(output.path)
    numbers = [number for _, number in frames if number < 100]  # the flash reads as a large number
    assert abs(numbers[0] - start * FPS) <= 1  # the first frame kept is the asked one, within a frame
    assert abs(len(frames) - (end - start) * FPS) <= 1
    assert abs(output.duration - (end - start)) <= 1 / FPS
    flash = next(t for t, number in frames if number > 100)
    assert abs(flash - (FLASH_FRAME / FPS - start)) <= 1 / FPS
    assert abs(first_loud(output.path) - flash) <= 1 / FPS  # the beep still sounds on the flash
    assert output.edits["trim"] == {"start": start, "end": end, "end_card": None}


def test_a_trim_outside_the_clip_is_refused_naming_it(counter_clip, plain_brand, tmp_path) -> None:
    with pytest.raises(TrimError, match="past the end of the clip"):
        render_source(counter_clip, plain_brand, tmp_path, trim=Trim(1.0, 9.0), options=QUICK)
    assert not list(tmp_path.iterdir())


def test_loudness_is_measured_on_what_is_kept(plain_brand, tmp_path) -> None:
    """A loud first half cut away: measured on the whole clip, the kept quiet half would stay quiet."""
    source = tmp_path / "loud-then-quiet.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=160x90:r=30:d=4",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=4,"
        "volume=volume=-32dB:enable='gte(t,2)'",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(source),
    )  # fmt: skip
    options = EngineOptions(x264_preset="ultrafast", max_short_side=360, loudness_lufs=-14.0)
    [output] = render_source(source, plain_brand, tmp_path / "out", trim=Trim(2.0), options=options)
    assert abs(output.loudness.after.integrated_lufs - -14.0) <= 1.0
    assert output.loudness.before.integrated_lufs < -30  # the quiet half alone


def test_a_trailing_card_after_a_hard_cut_is_found_and_cut(plain_brand, tmp_path) -> None:
    clip = tmp_path / "with-card.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=160x90:r=30:d=3",
        "-f", "lavfi", "-i", "color=c=0x2040a0:s=160x90:r=30:d=2,drawbox=x=40:y=30:w=80:h=30:c=white:t=fill",
        "-filter_complex", "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip),
    )  # fmt: skip
    [output] = render_source(clip, plain_brand, tmp_path / "out", trim=Trim(end_card=True), options=QUICK)
    card = output.edits["trim"]["end_card"]
    assert abs(card["start"] - 3.0) <= 1 / 30
    assert "end card" in card["reason"]
    assert abs(output.duration - 3.0) <= 1 / 30
    with av.open(str(output.path)) as container:
        last = list(container.decode(video=0))[-1].to_ndarray(format="rgb24")
    assert last[..., 2].mean() < 150  # the test pattern's last frame, not the blue card


def test_a_clip_without_a_card_is_kept_whole(counter_clip, plain_brand, tmp_path) -> None:
    [output] = render_source(counter_clip, plain_brand, tmp_path, trim=Trim(end_card=True), options=QUICK)
    assert output.edits["trim"]["end_card"] is None
    assert abs(output.duration - 4.0) <= 1 / FPS
