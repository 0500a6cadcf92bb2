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


def _boxes(data: bytes, start: int, end: int):
    """(type, offset of the box's payload, end of the box) of each MP4 box between start and end."""
    while start + 8 <= end:
        size = int.from_bytes(data[start : start + 4], "big")
        kind = data[start + 4 : start + 8].decode("latin-1")
        if size < 8:
            break
        yield kind, start + 8, start + size
        start += size


def _find_boxes(data: bytes, kind: str, start: int = 0, end: int | None = None) -> list[int]:
    """Payload offsets of every box of `kind`, searching inside the containers a sample table lives in."""
    found = []
    for name, payload, box_end in _boxes(data, start, len(data) if end is None else end):
        if name == kind:
            found.append(payload)
        if name in ("moov", "trak", "mdia", "minf", "stbl"):
            found += _find_boxes(data, kind, payload, box_end)
    return found


def make_sample_bomb(path: Path, samples: int = 40_000_000) -> Path:
    """A one-frame MP4 of a few KB whose sample tables claim `samples` frames: a demuxer that believes
    it builds an index of `samples` entries (about 24 bytes each) before reading a frame."""
    make_clip(path, width=64, height=64, duration=0.04, fps=25, audio=False)
    data = bytearray(path.read_bytes())
    (stts,) = _find_boxes(data, "stts")  # version+flags, entry count, (count, delta)...
    data[stts + 8 : stts + 12] = samples.to_bytes(4, "big")
    (stsc,) = _find_boxes(data, "stsc")  # version+flags, entry count, (first chunk, samples per chunk, id)
    data[stsc + 12 : stsc + 16] = samples.to_bytes(4, "big")
    (stsz,) = _find_boxes(data, "stsz")  # version+flags, constant size, sample count
    data[stsz + 4 : stsz + 8] = (1).to_bytes(4, "big")
    data[stsz + 8 : stsz + 12] = samples.to_bytes(4, "big")
    path.write_bytes(bytes(data))
    return path


def make_long_clip(path: Path, hours: float = 10) -> Path:
    """A tiny MKV of two frames `hours` apart: a real, playable file whose data lasts that long."""
    frames = path.with_suffix(".frames.mkv")
    make_clip(frames, width=64, height=64, duration=0.08, fps=25, audio=False)
    stretch = hours * 3600 / 0.04  # the second frame, 0.04 s in, moves to `hours`
    ffmpeg("-i", str(frames), "-c", "copy", "-bsf:v", f"setts=ts=TS*{stretch:g}", str(path))
    frames.unlink()
    return path


def logged_ffmpeg(tmp_path: Path) -> tuple[Path, Path]:
    """A wrapper that runs the real FFmpeg and writes each invocation's arguments to a log, one a line."""
    calls = tmp_path / "calls.log"
    wrapper = tmp_path / "ffmpeg"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {locate_ffmpeg()} "$@"\n')
    wrapper.chmod(0o755)
    return wrapper, calls
