"""Rendering on a small instance (issue 13): x264 tuned down under a memory budget, and 720 against 1080.

1. One 1080x1920 libx264 encoder (veryfast, CRF 21) per run, with x264's defaults at several thread counts
   and with each of the plan's TUNINGS: peak RSS of the FFmpeg process (getrusage of a fresh parent), its
   CPU time, file size and VMAF against the source; the plan's estimate beside the measured peak.
2. The 3-brand job at full size and with WTF_MAX_SHORT_SIDE=720 (v3's output size): CPU time (what a CPU
   quota divides: 0.1 CPU takes ten times as long) and VMAF of each output, upscaled, against the source.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.engine import REPO, SECONDS, cpu_seconds, make_source
from bench.report import write_section
from portal.brand_loader import load_brand_config
from portal.media.ffmpeg import capabilities, run_ffmpeg, usable_ffmpeg
from portal.media.plan import TUNINGS, estimate_peak_mb
from portal.media.probe import probe_media
from portal.video_processor import EngineOptions, render_source

QUIET = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error"]
CLIP_SECONDS = 3
# (label, x264-params, cpus for the estimate: the thread count x264 picks for that many cores is 1.5 x)
ENCODERS = [
    ("defaults, 2 cores (3 threads)", "", 2),
    ("defaults as on 4 cores (threads=6)", "threads=6", 4),
    ("defaults as on 8 cores (threads=12)", "threads=12", 8),
    ("defaults as on 16 cores (threads=24)", "threads=24", 16),
    *[(tuning.label, tuning.x264_params, 2) for tuning in TUNINGS[1:]],
    ("sliced threads, 2 (not used: above 1 thread's peak)", "sliced-threads=1:threads=2", 2),
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
        for index, (label, params, cpus) in enumerate(ENCODERS):
            tuning = next((t for t in TUNINGS if t.x264_params == params), TUNINGS[0])
            out = work / f"enc{index}.mp4"
            measured = encode(binary, clip, params, out)
            estimate = estimate_peak_mb(info, (1080, 1920), 1, tuning=tuning, cpus=cpus)
            score = vmaf(binary, out, clip, work / "v.json")
            encoder_rows.append(
                f"| {label} | `{params or '-'}` | {measured['peak_mb']:.0f} | {estimate:.0f} "
                f"| {measured['cpu_s']:.1f} | {out.stat().st_size / 1e6:.2f} | {score:.2f} |"
            )
            print(encoder_rows[-1], flush=True)
        brands = load_brand_config(REPO / "brand_config.json").select("all")
        sizes = []
        for label, options in (
            ("1080x1920", EngineOptions()),
            ("720x1280", EngineOptions(max_short_side=720)),
        ):
            started, cpu_started = time.perf_counter(), cpu_seconds()
            outputs = render_source(source, brands, work / label, preset="vertical", options=options)
            wall, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
            score = vmaf(binary, outputs[0].path, source, work / "s.json")
            sizes.append((label, wall, cpu, score, sum(o.size_bytes for o in outputs) / 1e6))
            print(sizes[-1], flush=True)
        write_section("budget", _report(encoder_rows, sizes))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _report(encoder_rows: list[str], sizes: list[tuple]) -> str:
    ffmpeg = capabilities(usable_ffmpeg())["version"].split(" Copyright")[0]
    full = sizes[0]
    return "\n".join([
        "## x264 under a budget, and 720 against 1080",
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
        "budget, it sets the threads itself. Fewer threads cost no quality (the same bits at the same",
        "CRF); a shorter lookahead costs little; no lookahead (mb-tree off) costs most, so it comes last.",
        "",
        f"The 3-brand vertical job on the whole {SECONDS} s clip (`render_source`, full size vs",
        "`WTF_MAX_SHORT_SIDE=720`); CPU",
        "time is what a CPU quota divides (under 0.1 CPU, wall time is about ten times the CPU time):",
        "",
        "| outputs | wall s | CPU s | CPU vs 1080 | 3 files MB | VMAF (one output, upscaled) vs source |",
        "| --- | --- | --- | --- | --- | --- |",
        *[f"| {label} | {wall:.1f} | {cpu:.1f} | {cpu / full[2]:.2f} | {mb:.1f} | {score:.2f} |"
          for label, wall, cpu, score, mb in sizes],
    ])  # fmt: skip
