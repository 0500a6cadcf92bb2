"""v3's 720-wide outputs (issue 13): the 3-brand vertical job at 1080x1920 and with WTF_MAX_SHORT_SIDE=720.

CPU time is what a CPU quota divides (Render's free plan: 0.1 CPU, so about ten times the CPU time in
wall time); quality is VMAF of each brand's 720x1280 output, upscaled, against its 1080x1920 output.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
import time
from pathlib import Path

from bench.budget import vmaf
from bench.engine import REPO, SECONDS, cpu_seconds, make_source
from bench.report import write_section
from portal.brand_loader import load_brand_config
from portal.media.ffmpeg import capabilities, usable_ffmpeg
from portal.video_processor import EngineOptions, render_source

SIZES = {"1080x1920": EngineOptions(), "720x1280": EngineOptions(max_short_side=720)}


def run(rounds: int = 1) -> None:
    binary = usable_ffmpeg()
    brands = load_brand_config(REPO / "brand_config.json").select("all")
    work = Path(tempfile.mkdtemp(prefix="wtf-bench-size720-"))
    try:
        source = make_source(work / "source.mp4")
        results = {}
        for label, options in SIZES.items():
            started, cpu_started = time.perf_counter(), cpu_seconds()
            outputs = render_source(source, brands, work / label, preset="vertical", options=options)
            results[label] = (time.perf_counter() - started, cpu_seconds() - cpu_started, outputs)
            print(label, results[label][:2], flush=True)
        small, full = results["720x1280"][2], results["1080x1920"][2]
        scores = [vmaf(binary, s.path, f.path, work / "v.json") for s, f in zip(small, full, strict=True)]
        write_section("size720", _report(results, scores, [b.id for b in brands]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _report(results: dict, scores: list[float], brand_ids: list[str]) -> str:
    ffmpeg = capabilities(usable_ffmpeg())["version"].split(" Copyright")[0]
    full_cpu = results["1080x1920"][1]
    return "\n".join([
        "## 720 against 1080 (WTF_MAX_SHORT_SIDE)",
        "",
        f"Command: `make bench BENCH_ARGS=size720` on {platform.machine()}, 2 cores shared with other work;",
        f"{ffmpeg}. The 3-brand vertical job on the engine benchmark's {SECONDS} s 1080x1920 clip (with",
        "grain, so the files are large), once at full size and once with WTF_MAX_SHORT_SIDE=720. CPU time",
        "is what a CPU quota divides: under Render's 0.1 CPU, expect about ten times the CPU time in wall",
        "time. VMAF (every 3rd frame) of each 720x1280 output, upscaled bicubic, against the same brand's",
        "1080x1920 output.",
        "",
        "| outputs | wall s | CPU s | CPU vs 1080 | 3 files MB | est. wall at 0.1 CPU |",
        "| --- | --- | --- | --- | --- | --- |",
        *[f"| {label} | {wall:.1f} | {cpu:.1f} | {cpu / full_cpu:.2f} "
          f"| {sum(o.size_bytes for o in outputs) / 1e6:.1f} | {cpu * 10 / 60:.1f} min |"
          for label, (wall, cpu, outputs) in results.items()],
        "",
        "VMAF of 720 against 1080: "
        + ", ".join(f"{brand} {score:.2f}" for brand, score in zip(brand_ids, scores, strict=True)) + ".",
    ])  # fmt: skip
