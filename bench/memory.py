"""Memory model (issue 2): what one FFmpeg process peaks at per libx264 encoder, by output size.

The numbers behind `portal.media.plan`'s batch estimate. Baseline in the same run: the same source
decoded with no encoder, so the per-encoder cost is the difference.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from bench.report import write_section
from portal.media.ffmpeg import run_ffmpeg, usable_ffmpeg
from portal.media.plan import estimate_peak_mb
from portal.media.probe import probe_media

SIZES = ((720, 1280), (1080, 1920), (2160, 3840))
ENCODERS = (0, 1, 3)

MEASURE = """
import resource, subprocess, sys
binary, source, count, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
args = [binary, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", source]
if count == 0:
    args += ["-f", "null", "-"]
else:
    args += ["-filter_complex", f"[0:v]split={count}" + "".join(f"[v{i}]" for i in range(count))]
    for i in range(count):
        args += ["-map", f"[v{i}]", "-c:v", "libx264", "-preset", "veryfast", "-crf", "21", f"{out}{i}.mp4"]
subprocess.run(args, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def peak_mb(binary: Path, source: Path, encoders: int, out: Path) -> float:
    """Peak RSS of one FFmpeg process, read with getrusage from a fresh parent."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(binary), str(source), str(encoders), str(out)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(result.stdout)


def run(rounds: int = 1) -> None:
    binary = usable_ffmpeg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="wtf-bench-memory-") as work:
        for width, height in SIZES:
            source = Path(work) / f"{width}x{height}.mp4"
            run_ffmpeg(binary, ["-hide_banner", "-nostdin", "-y", "-loglevel", "error",
                                "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30:duration=2",
                                "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", str(source)],
                       duration=2)  # fmt: skip
            info = probe_media(source)
            peaks = {
                n: max(peak_mb(binary, source, n, Path(work) / "o") for _ in range(rounds)) for n in ENCODERS
            }
            per_encoder = (peaks[3] - peaks[0]) / 3
            estimate = estimate_peak_mb(info, (width, height), 3)
            rows.append(f"| {width}x{height} | {peaks[0]:.0f} | {peaks[1]:.0f} | {peaks[3]:.0f} "
                        f"| {per_encoder:.0f} | {estimate:.0f} |")  # fmt: skip
            print(rows[-1], flush=True)
    write_section("memory", "\n".join([
        "## Memory model: peak RSS of one FFmpeg process",
        "",
        "Command: `make bench BENCH_ARGS=memory`. A 2 s source decoded and split to N libx264 encoders",
        "(veryfast, CRF 21) at the source's size; getrusage of a fresh parent gives the process's peak.",
        "The plan's estimate (`portal/media/plan.py`, used to batch encoders under WTF_RENDER_MEMORY_MB)",
        "must stay at or above the measured 3-encoder peak.",
        "",
        "| size | decode only (MB) | 1 encoder | 3 encoders | per encoder | plan's estimate, 3 encoders |",
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
    ]))  # fmt: skip
