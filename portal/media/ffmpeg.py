"""The one place that spawns FFmpeg: progress, cancel, timeout, stderr kept for errors, capability check."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

from portal.media.binary import locate_ffmpeg
from portal.media.errors import (
    DiskFullError,
    FFmpegUnavailableError,
    RenderCancelledError,
    RenderError,
    RenderTimeoutError,
)

REQUIRED_FILTERS = (
    "zscale", "tonemap", "overlay", "split", "asplit", "scale", "setparams",
    "boxblur", "lutyuv", "fps", "bwdif", "aresample", "aformat", "crop", "setpts", "asetpts",
    "ebur128", "volume", "alimiter",
)  # fmt: skip
REQUIRED_ENCODERS = ("libx264", "aac")
STDERR_TAIL_LINES = 20
POLL_SECONDS = 0.1
PR_SET_PDEATHSIG = 1
# FFmpeg exits with a negative errno, seen as 256 - errno: ENOSPC is 228 ("No space left on device").
DISK_FULL_EXIT = 256 - errno.ENOSPC

# (fraction of the run done 0..1); called from the reading thread, at most a few times a second.
FractionCallback = Callable[[float], None]


@lru_cache(maxsize=8)
def capabilities(binary: Path) -> dict:
    """Version and the needed filters/encoders the binary lacks (cached per binary)."""

    def listing(flag: str) -> str:
        return subprocess.run(
            [str(binary), "-hide_banner", flag], capture_output=True, text=True, timeout=30
        ).stdout

    try:
        version = subprocess.run(
            [str(binary), "-hide_banner", "-version"], capture_output=True, text=True, timeout=30
        ).stdout.splitlines()[0]
        filters = set(re.findall(r"^\s*[TSC.]{2,3}\s+(\w+)", listing("-filters"), re.M))
        encoders = set(re.findall(r"^\s*[VAS][F.][S.][X.][B.][D.]\s+(\w+)", listing("-encoders"), re.M))
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        raise FFmpegUnavailableError(f"{binary}: cannot run FFmpeg ({exc})") from None
    missing = [name for name in REQUIRED_FILTERS if name not in filters]
    missing += [name for name in REQUIRED_ENCODERS if name not in encoders]
    return {"path": str(binary), "version": version, "missing": missing, "ok": not missing}


def usable_ffmpeg(configured: str | None = None) -> Path:
    """The FFmpeg binary, checked once for everything the engine needs."""
    binary = locate_ffmpeg(configured)
    report = capabilities(binary)
    if not report["ok"]:
        raise FFmpegUnavailableError(
            f"{binary} ({report['version']}) lacks: {', '.join(report['missing'])}; "
            "set FFMPEG_PATH to a full build or remove the PATH one so the imageio-ffmpeg wheel's is used"
        )
    return binary


def run_ffmpeg(
    binary: Path,
    args: Sequence[str],
    *,
    duration: float,
    on_fraction: FractionCallback | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
    tail_lines: int = STDERR_TAIL_LINES,
) -> list[str]:
    """Run FFmpeg to completion in its own process group; returns the last `tail_lines` lines of stderr.

    With `-progress pipe:1` in `args`, `out_time_us` over `duration` feeds `on_fraction`.
    Cancel and timeout kill the whole group (FFmpeg and anything it spawned) and raise.
    """
    process = subprocess.Popen(
        [str(binary), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # cancel and timeout kill FFmpeg's group, not the caller's
        preexec_fn=_render_child,
    )
    tail: deque[str] = deque(maxlen=tail_lines)
    stderr_reader = threading.Thread(target=_collect, args=(process.stderr, tail), daemon=True)
    stderr_reader.start()
    progress_reader = threading.Thread(
        target=_read_progress, args=(process.stdout, duration, on_fraction), daemon=True
    )
    progress_reader.start()

    deadline = time.monotonic() + timeout if timeout else None
    reason = None
    try:
        while process.poll() is None:
            if cancel is not None and cancel.wait(POLL_SECONDS):
                reason = "cancelled"
            elif deadline is not None and time.monotonic() > deadline:
                reason = "timeout"
            elif cancel is None:
                time.sleep(POLL_SECONDS)
            if reason:
                _kill_group(process)
                break
    except BaseException:
        # Ctrl-C or a worker shutting down: FFmpeg is in its own session and would not see the signal
        _kill_group(process)
        process.wait()
        raise
    process.wait()
    progress_reader.join(timeout=5)
    stderr_reader.join(timeout=5)
    if reason == "cancelled":
        raise RenderCancelledError("render cancelled")
    if reason == "timeout":
        raise RenderTimeoutError(f"FFmpeg did not finish within {timeout:g} s", "\n".join(tail))
    if process.returncode != 0:
        if process.returncode == DISK_FULL_EXIT or any(os.strerror(errno.ENOSPC) in line for line in tail):
            raise DiskFullError(
                f"the disk is full: FFmpeg could not write (exit code {process.returncode})", "\n".join(tail)
            )
        raise RenderError(f"FFmpeg failed with exit code {process.returncode}", "\n".join(tail))
    return list(tail)


def die_with_parent() -> None:
    """preexec_fn for children: on Linux, if the parent dies (kill -9, OOM) the child is killed too.

    FFmpeg must not render on as an orphan after its worker died, nor the embedded consumer after gunicorn.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


RENDER_NICENESS = 10


def _render_child() -> None:
    """preexec_fn of FFmpeg: dies with its parent, and yields the CPU to the web process it may share a
    (fractional) CPU with, so requests do not wait behind a render (docs/PERFORMANCE.md "Hostile clients")."""
    die_with_parent()
    os.nice(RENDER_NICENESS)


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _collect(stream, tail: deque[str]) -> None:
    for raw in stream:
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            tail.append(line)


def _read_progress(stream, duration: float, on_fraction: FractionCallback | None) -> None:
    last = 0.0
    for raw in stream:
        key, _, value = raw.decode("ascii", "replace").strip().partition("=")
        if on_fraction is None or key != "out_time_us" or not value.lstrip("-").isdigit():
            continue
        fraction = min(1.0, max(0.0, int(value) / 1e6 / duration)) if duration > 0 else 0.0
        if fraction > last:
            last = fraction
            on_fraction(fraction)
