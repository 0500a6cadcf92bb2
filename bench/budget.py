"""x264 under a memory budget (issue 13): what each of the plan's tunings holds, costs and keeps.

One 1080x1920 libx264 encoder (veryfast, CRF 21) per run, with x264's defaults at several thread counts
   and with each of the plan's TUNINGS: peak RSS of the FFmpeg process (getrusage of a fresh parent), its
   CPU time, file size and VMAF against the source; the plan's estimate beside the measured peak.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.engine import make_source
from bench.report import write_section
from portal.media.ffmpeg import capabilities, run_ffmpeg, usable_ffmpeg
from portal.media.plan import TUNINGS, estimate_peak_mb
from portal.media.probe import probe_media

QUIET = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
CLIP_SECONDS = 3
# (label, x264-params, the plan's tuning it stands for (None: not one), cores: x264's threads are 1.5 x)
ENCODERS = [
    ("defaults, 2 cores (3 threads)", "", TUNINGS[0], 2),
    ("defaults as on 4 cores (threads=6)", "threads=6", TUNINGS[0], 4),
    ("defaults as on 8 cores (threads=12)", "threads=12", TUNINGS[0], 8),
    ("defaults as on 16 cores (threads=24)", "threads=24", TUNINGS[0], 16),
    *[(tuning.label, tuning.x264_params, tuning, 2) for tuning in TUNINGS[1:]],
    ("sliced threads, 2 (not used: above 1 thread's peak)", "sliced-threads=1:threads=2", None, 2),
]

MEASURE = """
import json, resource, subprocess, sys
binary, source, params, out = sys.argv[1:5]
args = [binary, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", source, "-an",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "21", "-pix_fmt", "yuv420p",
        *(["-x264-params", params] if params else []), out]
subprocess.run(args, check=True)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"peak_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime}))
"""


def encode(binary: Path, source: Path, params: str, out: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", MEASURE, str(binary), str(source), params, str(out)],
                            capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(result.stdout)


def vmaf(binary: Path, distorted: Path, reference: Path, log: Path) -> float:
    """VMAF of `distorted` scaled (bicubic) to the reference's size, every 3rd frame."""
    ref = probe_media(reference)
    graph = (f"[0:v]scale={ref.width}:{ref.height}:flags=bicubic[d];"
             f"[d][1:v]libvmaf=n_subsample=3:n_threads=2:log_fmt=json:log_path={log}")  # fmt: skip
    inputs = ["-i", str(distorted), "-i", str(reference)]
    run_ffmpeg(binary, [*QUIET, *inputs, "-lavfi", graph, "-f", "null", "-"], duration=ref.duration)
    return json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"]


def run(rounds: int = 1) -> None:
    binary = usable_ffmpeg()
    work = Path(tempfile.mkdtemp(prefix="wtf-bench-budget-"))
    try:
        source = make_source(work / "source.mp4")
        clip = work / "clip.mp4"  # the encoders' table: the first 3 s (memory peaks within a second)
        run_ffmpeg(binary, [*QUIET, "-i", str(source), "-t", str(CLIP_SECONDS), "-c", "copy", str(clip)],
                   duration=CLIP_SECONDS)  # fmt: skip
        info = probe_media(clip)
        encoder_rows = []
        for index, (label, params, tuning, cpus) in enumerate(ENCODERS):
            out = work / f"enc{index}.mp4"
            measured = encode(binary, clip, params, out)
            estimate = (
                f"{estimate_peak_mb(info, (1080, 1920), 1, tuning=tuning, cpus=cpus):.0f}" if tuning else "-"
            )
            score = vmaf(binary, out, clip, work / "v.json")
            encoder_rows.append(
                f"| {label} | `{params or '-'}` | {measured['peak_mb']:.0f} | {estimate} "
                f"| {measured['cpu_s']:.1f} | {out.stat().st_size / 1e6:.2f} | {score:.2f} |"
            )
            print(encoder_rows[-1], flush=True)
        write_section("budget", _report(encoder_rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _report(encoder_rows: list[str]) -> str:
    ffmpeg = capabilities(usable_ffmpeg())["version"].split(" Copyright")[0]
    return "\n".join([
        "## x264 under a budget",
        "",
        f"Command: `make bench BENCH_ARGS=budget` on {platform.machine()}, 2 cores shared with other work;",
        f"{ffmpeg}. Source: the first {CLIP_SECONDS} s of the engine benchmark's 1080x1920 clip with grain.",
        "One libx264 encoder (veryfast, CRF 21) per FFmpeg process; peak RSS of the whole process by",
        "getrusage of a fresh parent (decoding included); VMAF of the encode against the source (every",
        "3rd frame).",
        "The plan's estimate must stay at or above the measured peak.",
        "",
        "| x264 | params | peak MB | plan's estimate | CPU s | MB | VMAF |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *encoder_rows,
        "",
        "x264's default thread count is 1.5 x the cores it sees, and a CPU quota (Render's 0.1 CPU of a",
        "many-core host) does not lower it: that is why the plan counts the cores and why, under a tight",
        "budget, it sets the threads itself. Fewer threads change little but speed on several cores; a",
        "shorter lookahead and then none (mb-tree off) cost some quality (the VMAF and MB columns), so",
        "they come later in the plan's order.",

    ])  # fmt: skip
