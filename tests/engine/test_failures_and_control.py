"""Broken sources, progress, cancel and timeout: typed errors and nothing partial left behind."""

from __future__ import annotations

import threading
from pathlib import Path

import psutil
import pytest
from PIL import Image

from portal.media.errors import (
    EmptySourceError,
    EngineError,
    FFmpegUnavailableError,
    MissingSourceError,
    NotMediaError,
    NoVideoStreamError,
    RenderCancelledError,
    RenderError,
    RenderTimeoutError,
    StillImageError,
    UnreadableSourceError,
)
from portal.media.ffmpeg import STDERR_TAIL_LINES, run_ffmpeg, usable_ffmpeg
from portal.media.plan import MemoryBudgetError
from portal.video_processor import EngineOptions, ffmpeg_report, render_source
from tests.engine.conftest import make_brands
from tests.engine.inspect_output import assert_ready_to_post, describe
from tests.mediagen import ffmpeg, make_clip


def _truncated(tmp: Path) -> Path:
    whole = make_clip(tmp / "whole.mp4")
    path = tmp / "truncated.mp4"
    path.write_bytes(whole.read_bytes()[:4000])
    return path


def _image_renamed(tmp: Path) -> Path:
    path = tmp / "photo.mp4"
    Image.new("RGB", (64, 64), "red").save(path, format="PNG")
    return path


def _audio_only(tmp: Path) -> Path:
    path = tmp / "voice.mp4"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(path))
    return path


def _cut_mid_data(tmp: Path) -> Path:
    """A fast-start download cut off part way: the index is there, the last 40% of the data is not."""
    x264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-movflags", "+faststart")
    whole = make_clip(tmp / "whole.mp4", duration=2, video_args=x264)
    data = whole.read_bytes()
    path = tmp / "cut.mp4"
    path.write_bytes(data[: len(data) * 6 // 10])
    return path


def _song_with_cover(tmp: Path) -> Path:
    """An MP3 with album art, renamed .mp4: its only picture is a cover, not a video."""
    cover = tmp / "cover.png"
    Image.new("RGB", (64, 64), "blue").save(cover)
    path = tmp / "song.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "sine=duration=1", "-i", str(cover), "-map", "0", "-map", "1",
        "-c:a", "libmp3lame", "-c:v", "png", "-disposition:v:0", "attached_pic", "-f", "mp3", str(path),
    )  # fmt: skip
    return path


BROKEN = {
    "empty": (lambda tmp: (tmp / "empty.mp4").write_bytes(b"") or tmp / "empty.mp4", EmptySourceError),
    "missing": (lambda tmp: tmp / "nowhere.mp4", MissingSourceError),
    "truncated": (_truncated, NotMediaError),
    "image_renamed_mp4": (_image_renamed, StillImageError),
    "audio_only": (_audio_only, NoVideoStreamError),
    "cut_mid_data": (_cut_mid_data, UnreadableSourceError),
    "song_with_cover_art": (_song_with_cover, NoVideoStreamError),
}


@pytest.mark.parametrize("name", BROKEN)
def test_broken_source_raises_typed_error_and_leaves_nothing(name: str, two_brands, tmp_path: Path) -> None:
    make, error = BROKEN[name]
    src = make(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(error) as raised:
        render_source(src, two_brands, out)
    assert str(src) in str(raised.value)
    assert not out.exists() or not any(out.iterdir())


def test_a_request_that_cannot_be_planned_is_an_engine_error(two_brands, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", duration=0.2, audio=False)
    with pytest.raises(EngineError, match="unknown preset 'cinema'"):
        render_source(clip, two_brands, tmp_path / "out", preset="cinema")
    with pytest.raises(EngineError, match="no brands"):
        render_source(clip, [], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_progress_is_monotonic_and_ends_at_100(two_brands, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", width=640, height=1136, duration=5)
    seen: list[tuple[str, float]] = []
    render_source(
        clip, two_brands, tmp_path / "out", on_progress=lambda stage, pct: seen.append((stage, pct))
    )
    percents = [pct for _stage, pct in seen]
    assert percents == sorted(percents) and len(set(percents)) == len(percents)
    assert percents[0] < 100.0 and percents[-1] == 100.0
    assert {stage for stage, _pct in seen} == {"rendering"}


def test_a_tight_memory_budget_renders_in_batches_with_one_progress_bar(logo: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", duration=1)
    brands = make_brands(logo, a="tiktok", b="reels", c="shorts")
    seen: list[float] = []
    outputs = render_source(
        clip, brands, tmp_path / "out", options=EngineOptions(memory_mb=120),  # one 320x568 encoder a run
        on_progress=lambda _stage, pct: seen.append(pct),
    )  # fmt: skip
    assert [o.brand for o in outputs] == ["a", "b", "c"]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.mp4")) == ["c_a.mp4", "c_b.mp4", "c_c.mp4"]
    for output in outputs:
        facts = describe(output.path)
        assert (facts["codec"], facts["width"], facts["height"], facts["audio_rate"]) == (
            "h264",
            320,
            568,
            48000,
        )
    assert seen == sorted(seen) and seen[-1] == 100.0
    assert any(33 < pct <= 66 for pct in seen)  # the second of three runs reports into the middle third


def _ffmpeg_children() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name", "cmdline"]) if "ffmpeg" in (p.info["name"] or "")
            and any(".mp4.part" in part for part in (p.info["cmdline"] or []))]  # fmt: skip


def _long_clip(tmp: Path) -> Path:
    return make_clip(tmp / "long.mp4", width=640, height=1136, duration=20)


def test_cancel_kills_ffmpeg_and_leaves_no_output(two_brands, tmp_path: Path) -> None:
    clip = _long_clip(tmp_path)
    cancel = threading.Event()

    def cancel_once_running(_stage: str, percent: float) -> None:
        if percent > 1:
            cancel.set()

    out = tmp_path / "out"
    slow = EngineOptions(x264_preset="slow")
    with pytest.raises(RenderCancelledError):
        render_source(clip, two_brands, out, options=slow, on_progress=cancel_once_running, cancel=cancel)
    assert list(out.iterdir()) == []
    assert [p for p in _ffmpeg_children() if str(out) in " ".join(p.info["cmdline"])] == []


class _CtrlCWhileWaiting(threading.Event):
    """Ctrl-C arriving while the engine waits on FFmpeg (Python raises it in the main thread)."""

    def wait(self, timeout: float | None = None) -> bool:
        if _ffmpeg_children():
            raise KeyboardInterrupt
        return super().wait(timeout)


def test_an_interrupt_kills_ffmpeg_and_leaves_no_output(two_brands, tmp_path: Path) -> None:
    clip = _long_clip(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        render_source(
            clip, two_brands, out, options=EngineOptions(x264_preset="slow"), cancel=_CtrlCWhileWaiting()
        )
    assert list(out.iterdir()) == []
    assert [p for p in _ffmpeg_children() if str(out) in " ".join(p.info["cmdline"])] == []


def test_timeout_bounds_the_run(two_brands, tmp_path: Path) -> None:
    clip = _long_clip(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(RenderTimeoutError):
        render_source(clip, two_brands, out, options=EngineOptions(x264_preset="slow", timeout_s=1))
    assert list(out.iterdir()) == []


def test_ffmpeg_report_names_the_binary_and_finds_nothing_missing() -> None:
    report = ffmpeg_report()
    assert report["ok"] and report["missing"] == []
    assert Path(report["path"]).is_file() and report["version"].startswith("ffmpeg version")


@pytest.mark.parametrize("binary", ["/nonexistent/ffmpeg", "/bin/true"])
def test_an_unusable_ffmpeg_is_reported_by_name(binary: str, two_brands, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", duration=0.2, audio=False)
    with pytest.raises(FFmpegUnavailableError, match=binary.split("/")[-1]):
        render_source(clip, two_brands, tmp_path / "out", options=EngineOptions(ffmpeg_path=binary))
    assert not (tmp_path / "out").exists()
    assert ffmpeg_report(EngineOptions(ffmpeg_path=binary))["ok"] is False


@pytest.mark.parametrize("level", ["error", "verbose"])
def test_a_failed_run_keeps_the_last_lines_of_ffmpeg_stderr(level: str, tmp_path: Path) -> None:
    """At the engine's log level the reason is kept; a chatty run keeps only its last lines."""
    args = ["-v", level, "-f", "lavfi", "-i", "testsrc2=size=64x64:duration=0.2",
            "-c:v", "libx264", "-preset", "no-such-preset", str(tmp_path / "x.mp4")]  # fmt: skip
    with pytest.raises(RenderError) as raised:
        run_ffmpeg(usable_ffmpeg(), args, duration=0.2)
    tail = raised.value.stderr_tail.splitlines()
    assert "exit code" in str(raised.value)
    if level == "error":
        assert any("no-such-preset" in line for line in tail)
    else:
        assert len(tail) == STDERR_TAIL_LINES and "Conversion failed" in "\n".join(tail[-3:])


def test_a_budget_no_brand_fits_fails_memory_budget_before_ffmpeg_starts(logo: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", duration=1)
    calls = tmp_path / "calls.log"
    wrapper = tmp_path / "ffmpeg"  # the real FFmpeg, each invocation logged
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {usable_ffmpeg()} "$@"\n')
    wrapper.chmod(0o755)
    options = EngineOptions(ffmpeg_path=str(wrapper), memory_mb=256, service_mb=120)
    with pytest.raises(MemoryBudgetError, match=r"256 MB.*120 MB.*1080x1920"):
        render_source(clip, make_brands(logo, a="none"), tmp_path / "out", preset="vertical", options=options)
    assert "-version" in calls.read_text()  # the capability check ran the wrapper
    assert not [line for line in calls.read_text().splitlines() if str(clip) in line]  # the clip: untouched
    assert not (tmp_path / "out").exists()


def test_under_a_tight_budget_x264_is_tuned_down_and_outputs_still_conform(
    logo: Path, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "c.mp4", duration=1)
    outputs = render_source(clip, make_brands(logo, a="none", b="none"), tmp_path / "out", preset="vertical",
                            options=EngineOptions(memory_mb=260))  # fmt: skip
    for output in outputs:
        assert_ready_to_post(output.path, (1080, 1920), 1.0, 30, audio=True)


@pytest.mark.parametrize(("preset", "size"), [("vertical", (720, 1280)), ("landscape", (1280, 720)),
                                              ("portrait", (720, 900)), ("source", (320, 568))])  # fmt: skip
def test_max_short_side_gives_v3s_720_wide_outputs(preset: str, size, logo: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", duration=1)
    options = EngineOptions(max_short_side=720)
    output = render_source(
        clip, make_brands(logo, a="tiktok"), tmp_path / "out", preset=preset, options=options
    )[0]
    assert_ready_to_post(output.path, size, 1.0, 30, audio=True)
