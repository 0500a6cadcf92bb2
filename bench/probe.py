"""Reading a source in a bounded child (issue 21): what it costs per source, and what it saves on a bomb.

- time of one probe of a 2 s 1080x1920 clip: `probe_media` (a child Python with its limits) against
  `read_media` (the same reading in this process, as before), alternated rounds, medians;
- peak memory of the process tree reading the sample-table bomb (a 3.5 KB MP4 claiming 40 million
  samples): PyAV in-process, unbounded (the old way), against `probe_media` (the high-water mark of the
  Python and of its largest child, each in a fresh interpreter).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.report import median, write_section
from portal.media.probe import probe_media, read_media
from tests.mediagen import make_clip, make_sample_bomb

PEAK = """
import json, resource, sys
import av
from portal.media.errors import SourceError
from portal.media.probe import probe_media
path, bounded = sys.argv[1], sys.argv[2] == "1"
try:
    probe_media(path) if bounded else av.open(path).close()
except (SourceError, av.error.FFmpegError):
    pass
# this process's own high-water mark (ru_maxrss would count the process it was forked from before exec),
# and the largest child's (forked from this small one)
own = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(own + child))
"""


def _peak_mb(path: Path, bounded: bool) -> float:
    done = subprocess.run(
        [sys.executable, "-c", PEAK, str(path), "1" if bounded else "0"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


def _seconds(probe, path: Path) -> float:
    started = time.perf_counter()
    probe(path)
    return time.perf_counter() - started


def run(rounds: int = 3) -> None:
    with tempfile.TemporaryDirectory() as work:
        clip = make_clip(Path(work) / "clip.mp4", width=1080, height=1920, duration=2)
        bomb = make_sample_bomb(Path(work) / "bomb.mp4")
        child, inline = [], []
        for _ in range(rounds * 3):
            child.append(_seconds(probe_media, clip))
            inline.append(_seconds(read_media, clip))
        unbounded = [_peak_mb(bomb, bounded=False) for _ in range(rounds)]
        bounded = [_peak_mb(bomb, bounded=True) for _ in range(rounds)]
    load = os.getloadavg()[0]
    inline_ms, child_ms = median(inline) * 1000, median(child) * 1000
    before_mb, after_mb = median(unbounded), median(bounded)
    write_section(
        "probe",
        f"""
## Reading a source in a bounded child (issue 21)

`python -m bench probe --rounds {rounds}` (load average {load:.1f} while it ran; medians of alternated runs).

| | in-process PyAV (before) | `probe_media`: child with its limits | ratio |
| --- | --- | --- | --- |
| one probe of a 2 s 1080x1920 clip | {inline_ms:.0f} ms | {child_ms:.0f} ms | {child_ms / inline_ms:.1f}x |
| peak memory (process tree), 3.5 KB MP4 claiming 40 M samples | {before_mb:.0f} MB | {after_mb:.0f} MB \
| {after_mb / before_mb:.2f}x |

The child costs an interpreter start and PyAV's import per source (once per upload, link or render, next to
renders of seconds to minutes); in exchange a hostile file's index is refused by its declared counts, or
hits the child's `WTF_PROBE_MEMORY_MB` instead of the web's or the worker's memory.
""",
    )
