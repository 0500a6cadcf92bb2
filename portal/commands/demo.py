"""The demo: a generated sample clip branded with every brand in the config (the seed's demo_orchestrator)."""

from __future__ import annotations

from pathlib import Path

from portal.brand_loader import Brand
from portal.media.ffmpeg import run_ffmpeg, usable_ffmpeg
from portal.media.plan import sample_clip_args
from portal.video_processor import EngineOptions, RenderedOutput, render_source

SAMPLE_TIMEOUT_S = 300


def make_sample_clip(path: Path, seconds: float, size: tuple[int, int], options: EngineOptions) -> Path:
    """A moving test pattern with a tone (the plan's `sample_clip_args`), written to `path`."""
    binary = usable_ffmpeg(options.ffmpeg_path)
    run_ffmpeg(binary, sample_clip_args(path, seconds, size), duration=seconds, timeout=SAMPLE_TIMEOUT_S)
    return path


def run_demo(
    options: EngineOptions,
    brands: list[Brand],
    out_dir: Path,
    temp_dir: Path,
    seconds: float,
    size: tuple[int, int],
) -> list[RenderedOutput]:
    """Make the sample clip in `temp_dir` and brand it for `brands` (vertical); returns the outputs."""
    temp_dir.mkdir(parents=True, exist_ok=True)
    clip = make_sample_clip(temp_dir / "demo-sample.mp4", seconds, size, options)
    try:
        return render_source(clip, brands, out_dir, preset="vertical", options=options, stem="demo")
    finally:
        clip.unlink(missing_ok=True)
