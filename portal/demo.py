"""The demo: a generated sample clip branded with every brand in the config (the seed's demo_orchestrator)."""

from __future__ import annotations

from pathlib import Path

from portal.brand_loader import Brand
from portal.config import Settings
from portal.media.ffmpeg import run_ffmpeg, usable_ffmpeg
from portal.video_processor import EngineOptions, RenderedOutput, render_source


def make_sample_clip(path: Path, seconds: float, size: tuple[int, int], options: EngineOptions) -> Path:
    """A moving test pattern with a tone, made by FFmpeg's lavfi sources."""
    width, height = size
    args = [
        "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
        str(path),
    ]  # fmt: skip
    run_ffmpeg(usable_ffmpeg(options.ffmpeg_path), args, duration=seconds, timeout=300)
    return path


def run_demo(
    settings: Settings, brands: list[Brand], out_dir: Path, seconds: float, size: tuple[int, int]
) -> list[RenderedOutput]:
    """Make the sample clip in the temp folder and brand it for `brands` (vertical); returns the outputs."""
    options = EngineOptions.from_settings(settings)
    settings.temp_dir.mkdir(parents=True, exist_ok=True)
    clip = make_sample_clip(settings.temp_dir / "demo-sample.mp4", seconds, size, options)
    try:
        return render_source(clip, brands, out_dir, preset="vertical", options=options, stem="demo")
    finally:
        clip.unlink(missing_ok=True)
