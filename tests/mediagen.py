"""Test media made with FFmpeg's lavfi sources: no binaries in the repo.

`make_clip` covers the common case; the awkward sources (HDR, rotation, VFR, anamorphic, broken files)
are built on it in the engine tests' fixtures.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from portal.media.binary import locate_ffmpeg


def ffmpeg(*args: str) -> None:
    """Run the engine's FFmpeg for test fixtures; fail loudly with its stderr."""
    cmd = [str(locate_ffmpeg()), "-hide_banner", "-loglevel", "error", "-y", *args]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"fixture ffmpeg failed: {' '.join(cmd)}\n{result.stderr}")


def make_clip(
    path: Path,
    *,
    width: int = 320,
    height: int = 568,
    duration: float = 1.0,
    fps: float = 30,
    audio: bool = True,
    video_args: tuple[str, ...] = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
    audio_args: tuple[str, ...] = ("-c:a", "aac", "-ar", "48000", "-ac", "2"),
) -> Path:
    """A moving test pattern (and a tone) of the given shape; returns `path`."""
    args = ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={duration}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration}"]
    args += list(video_args)
    args += list(audio_args) if audio else ["-an"]
    args += ["-t", str(duration), str(path)]
    ffmpeg(*args)
    return path
