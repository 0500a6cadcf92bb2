"""The matrix job (issue 22): every brand in every format from one decode, against its floor and against one
FFmpeg process per output.

Same machine, same run, runs alternated, medians and ratios (one run of this benchmark gives them all):
- 3 brands x 1 format (vertical, 10 s 1080x1920 source), loudness on: the engine against the floor
  (decode once, 3 bare libx264 + AAC encodes in one process);
- 3 brands x 3 formats (vertical, portrait, square; 10 s 1920x1080 source): the engine against the floor
  for the same 9 outputs (decode once, each format's fit chain, 9 bare encodes in one process) and
  against one FFmpeg process per output (`render_source` for one brand in one format, 9 times);
- the peak RSS of `wtf-portal render` making those 9 outputs at WTF_RENDER_MEMORY_MB=450.

`run(rounds, seconds=S)` takes shorter clips on a machine too loaded for 10 s ones (the report says so);
fixed costs (probe, the source's loudness run, overlays, read-back) then weigh more, against the engine.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.engine import OPTIONS, PEAK_OF_TREE, QUIET, REPO, SECONDS, cpu_seconds, make_source
from bench.report import median, write_section
from portal.brand_loader import Brand, load_brand_config
from portal.media.ffmpeg import capabilities, run_ffmpeg, usable_ffmpeg
from portal.media.options import OutputFormat, Reframe
from portal.media.overlays import measure_art
from portal.media.plan import brand_arts, canvas_size, fit_chain, plan_render, source_chain
from portal.media.probe import probe_media
from portal.video_processor import render_source

FORMATS = [OutputFormat("vertical"), OutputFormat("portrait"), OutputFormat("square")]
WIDE = (1920, 1080)
BUDGET_MB = 450


def engine(source: Path, brands: list[Brand], formats: list[OutputFormat], out: Path) -> None:
    render_source(source, brands, out, formats=formats, options=OPTIONS)


def per_output(source: Path, brands: list[Brand], formats: list[OutputFormat], out: Path) -> None:
    """The other way: one FFmpeg process (one `render_source`) per brand and format."""
    for item in formats:
        for brand in brands:
            render_source(
                source, [brand], out, formats=[item], options=OPTIONS, stem=f"{brand.id}-{item.preset}"
            )


def floor(source: Path, brands: list[Brand], formats: list[OutputFormat], out: Path) -> None:
    """Decode once, each format's fit chain, then bare libx264 + AAC encodes, in one process."""
    info = probe_media(source)
    count, total = len(brands), len(brands) * len(formats)
    chains = [f"[0:v]{','.join(source_chain(info)) or 'null'},split={len(formats)}"
              + "".join(f"[f{i}]" for i in range(len(formats)))]  # fmt: skip
    for index, item in enumerate(formats):
        steps = fit_chain(info, canvas_size(info, item.preset), Reframe(item.fit), str(index))
        labels = "".join(f"[v{index * count + b}]" for b in range(count))
        chains.append(f"[f{index}]{','.join(steps)},split={count}{labels}")
    chains.append(f"[0:a]asplit={total}" + "".join(f"[a{i}]" for i in range(total)))
    args = [*QUIET, "-i", str(source), "-filter_complex", ";".join(chains)]
    for index in range(total):
        args += ["-map", f"[v{index}]", "-map", f"[a{index}]", "-c:v", "libx264",
                 "-preset", OPTIONS.x264_preset, "-crf", str(OPTIONS.crf), "-c:a", "aac",
                 str(out / f"floor{index}.mp4")]  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(usable_ffmpeg(), args, duration=info.duration)


def alternate(
    pipelines: dict, source: Path, brands: list[Brand], formats: list, work: Path, rounds: int
) -> dict:
    """{name: [(wall s, CPU s) per round]}, the pipelines alternated round by round."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in pipelines}
    for round_index in range(rounds):
        for name, pipeline in pipelines.items():
            out = work / f"{name}-{len(formats)}-{round_index}"
            started, cpu_started = time.perf_counter(), cpu_seconds()
            pipeline(source, brands, formats, out)
            runs[name].append((time.perf_counter() - started, cpu_seconds() - cpu_started))
            print(f"{len(brands)}x{len(formats)} round {round_index + 1}: {name} {runs[name][-1][0]:.1f} s",
                  flush=True)  # fmt: skip
            shutil.rmtree(out, ignore_errors=True)
    return runs


def peak_at_budget(source: Path, config: Path, out: Path, seconds: float) -> tuple[float, float, int, bool]:
    """`wtf-portal render` of every brand in the 3 formats at WTF_RENDER_MEMORY_MB=450: (peak MB of the
    largest process, wall s, FFmpeg passes planned, the 9 outputs at their sizes)."""
    presets = [arg for item in FORMATS for arg in ("--preset", item.preset)]
    command = [sys.executable, "-m", "portal", "render", str(source), "--all-brands", *presets,
               "--config", str(config), "--out", str(out), "--json"]  # fmt: skip
    env = {**os.environ, "WTF_RENDER_MEMORY_MB": str(BUDGET_MB), "WTF_DATA_DIR": str(out / "data")}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PEAK_OF_TREE, *command], capture_output=True, text=True, cwd=REPO, env=env
    )
    wall_s = time.perf_counter() - started
    first, _, payload = result.stdout.partition("\n")
    peak, returncode = first.split()
    outputs = json.loads(payload)["outputs"] if returncode == "0" else []
    info = probe_media(source)
    ok = len(outputs) == 9 and all(
        (o["width"], o["height"]) == canvas_size(info, o["format"]) and abs(o["duration"] - seconds) <= 0.1
        for o in outputs
    )
    brands = load_brand_config(config).select("all")
    plan = plan_render(info, brands, FORMATS, out, "x", out, measure_art(brand_arts(brands)),
                       replace(OPTIONS, memory_mb=BUDGET_MB))  # fmt: skip
    return float(peak), wall_s, len(plan.batches), ok


def run(rounds: int = 3, config: Path = REPO / "brand_config.json", seconds: float = SECONDS) -> None:
    brands = load_brand_config(config).select("all")
    work = Path(tempfile.mkdtemp(prefix="wtf-bench-matrix-"))
    try:
        tall = make_source(work / "tall.mp4", seconds=seconds)
        wide = make_source(work / "wide.mp4", WIDE, seconds)
        load_before = os.getloadavg()
        one = alternate({"engine": engine, "floor": floor}, tall, brands, FORMATS[:1], work, rounds)
        three = alternate(
            {"engine": engine, "floor": floor, "per_output": per_output}, wide, brands, FORMATS, work, rounds
        )
        load_after = os.getloadavg()
        memory = peak_at_budget(wide, config, work / "memory", seconds)
        load = (load_before, load_after)
        write_section("matrix", report(rounds, one, three, memory, load, len(brands), seconds))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(
    rounds: int, one: dict, three: dict, memory: tuple, load: tuple, brands: int, seconds: float
) -> str:
    ffmpeg = capabilities(usable_ffmpeg())["version"].split(" Copyright")[0]

    def medians(runs: dict) -> tuple[dict, dict]:
        return ({n: median([w for w, _ in v]) for n, v in runs.items()},
                {n: median([c for _, c in v]) for n, v in runs.items()})  # fmt: skip

    def row(runs: dict, label: str, other: str, goal: str) -> str:
        wall, cpu = medians(runs)
        ratio, cpu_ratio = wall["engine"] / wall[other], cpu["engine"] / cpu[other]
        return (f"| {label} | {wall['engine']:.1f} vs {wall[other]:.1f} | **{ratio:.2f}** "
                f"| {cpu['engine']:.1f} vs {cpu[other]:.1f} | {cpu_ratio:.2f} | {goal} |")  # fmt: skip

    peak, wall_s, passes, ok = memory
    runs = [("1 format", one), ("3 formats", three)]
    command = f'make bench BENCH_ARGS="matrix --rounds {rounds}"'
    shorter = ""
    if seconds != SECONDS:
        command = f'python -c "import bench.matrix as m; m.run({rounds}, seconds={seconds:g})"'
        shorter = (
            f" Clips of {seconds:g} s instead of {SECONDS} s: the machine was too loaded for 10 s ones in "
            "the time given; fixed costs (probe, the source's loudness run, overlays, read-back) weigh "
            "more on a short clip, against the engine."
        )
    return "\n".join([
        f"## Matrix: {brands} brands x formats from one decode",
        "",
        f"Command: `{command}` on {platform.machine()}, "
        f"{os.cpu_count()} cores; {ffmpeg}; x264 `{OPTIONS.x264_preset}`, CRF {OPTIONS.crf}; loudness "
        "normalization on (the engine's default -14 LUFS). Runs alternated; medians of "
        f"{rounds} round(s), all from this one run. The machine is shared: 1/5/15-minute load average "
        f"{'/'.join(f'{v:.1f}' for v in load[0])} before, {'/'.join(f'{v:.1f}' for v in load[1])} after "
        "(2 cores), so wall times carry other engineers' load; CPU time (user + system of the "
        "pipeline's processes) moves much less." + shorter,
        "",
        "| comparison | median wall s | wall ratio | median CPU s | CPU ratio | goal (wall) |",
        "| --- | --- | --- | --- | --- | --- |",
        row(one, f"{brands} brands x vertical ({seconds:g} s 1080x1920) vs floor (decode once, "
            f"{brands} bare encodes)", "floor", "<= 1.05"),
        row(three, f"{brands} brands x vertical, portrait, square ({seconds:g} s 1920x1080) vs floor "
            f"(decode once, each format's fit, {brands * 3} bare encodes)", "floor", "<= 1.05"),
        row(three, f"the same {brands * 3} outputs vs one FFmpeg process per output", "per_output",
            "<= 0.55"),
        "",
        "All runs (wall s / CPU s): " + "; ".join(
            f"{label} {name} " + ", ".join(f"{w:.1f}/{c:.1f}" for w, c in values)
            for label, table in runs for name, values in table.items()
        ) + ".",
        "",
        f"Peak memory, {brands * 3} outputs (vertical, portrait, square) from the 1920x1080 source at "
        f"`WTF_RENDER_MEMORY_MB={BUDGET_MB}`: `wtf-portal render wide.mp4 --all-brands --preset vertical "
        "--preset portrait --preset square --json` from a fresh parent whose "
        "`getrusage(RUSAGE_CHILDREN).ru_maxrss` is the peak RSS of the largest process of the tree.",
        "",
        "| WTF_RENDER_MEMORY_MB | FFmpeg passes (one decode each) | peak RSS, largest process | wall time "
        "| outputs correct |",
        "| --- | --- | --- | --- | --- |",
        f"| {BUDGET_MB} | {passes} | {peak:.0f} MB | {wall_s:.1f} s | {'yes' if ok else 'NO'} |",
    ])  # fmt: skip
