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


# What a repost does to a clip (DESIGN 4.14): FFmpeg arguments per change, applied to a 320x568 clip.
QUICK_ENCODE = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-an")
REPOST_CHANGES: dict[str, tuple[str, ...]] = {
    "smaller": ("-vf", "scale=180:320", "-crf", "30"),
    "logo": ("-vf", "drawbox=x=iw*0.72:y=ih*0.04:w=iw*0.24:h=iw*0.12:color=white@0.8:t=fill"
             ",drawtext=text=WTF:x=w*0.75:y=h*0.05:fontsize=24:fontcolor=black"),
    "trimmed": ("-ss", "0.5"),
    "mirrored": ("-vf", "hflip"),
    "letterboxed": ("-vf", "scale=640:-2,pad=720:1280:(ow-iw)/2:(oh-ih)/2"),
    "pillarboxed": ("-vf", "scale=-2:360,pad=640:360:(ow-iw)/2:0"),
    "blur_filled": ("-vf", "split[a][b];[a]scale=640:360,boxblur=20[bg];[b]scale=-2:360[fg];"
                    "[bg][fg]overlay=(W-w)/2:0"),
}  # fmt: skip
# Pattern families with a seed: two seeds are two different clips that look alike.
PATTERN_FAMILIES: dict[str, str] = {
    "life": "life=size=320x568:rate=30:seed={seed}:mold=10:ratio=0.3",
    "cellauto": "cellauto=size=320x568:rate=30:seed={seed}",
    "gradients": "gradients=size=320x568:rate=30:seed={seed}:speed=0.05",
    "mandelbrot": "mandelbrot=size=320x568:rate=30:start_x=-0.{seed}:start_scale=2",
    "testsrc2": "testsrc2=size=320x568:rate=30,trim=start={seed}0",
}


def make_pattern(path: Path, family: str, seed: int, duration: float = 3) -> Path:
    """A silent clip of a pattern family (see PATTERN_FAMILIES)."""
    lavfi = PATTERN_FAMILIES[family].format(seed=seed)
    ffmpeg("-f", "lavfi", "-i", lavfi, *QUICK_ENCODE, "-t", str(duration), str(path))
    return path


def make_repost(original: Path, change: str, path: Path) -> Path:
    """`original` as a repost changes it (REPOST_CHANGES); returns `path`."""
    args = REPOST_CHANGES[change]
    seek, filters = (args, ()) if args[0] == "-ss" else ((), args)
    ffmpeg(*seek, "-i", str(original), *filters, *QUICK_ENCODE, str(path))
    return path
