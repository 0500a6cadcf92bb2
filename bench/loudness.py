"""Loudness benchmark (issue 17): what measuring and normalizing the sound costs against the render.

Same machine, same run, alternated: the engine with WTF_LOUDNESS_LUFS at its default (-14: the source's
sound measured before the render, each output measured after) and with it `off`; plus the measurement
runs alone (source + 3 outputs), timed on their own. Goal: the measurement under 5 % of the render.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
import time
from pathlib import Path

from bench.engine import REPO, SECONDS, SIZE, cpu_seconds, make_source
from bench.report import median, write_section
from portal.brand_loader import load_brand_config
from portal.media.ffmpeg import capabilities, run_ffmpeg, usable_ffmpeg
from portal.media.loudness import SUMMARY_LINES, parse_summary
from portal.media.plan import output_loudness_args, source_loudness_args
from portal.media.probe import probe_media
from portal.video_processor import EngineOptions, render_source

ON = EngineOptions(memory_mb=4096)
OFF = EngineOptions(memory_mb=4096, loudness_lufs=None)


def measure(args: tuple[str, ...]) -> float:
    tail = run_ffmpeg(usable_ffmpeg(), args, duration=0, tail_lines=SUMMARY_LINES)
    return parse_summary("\n".join(tail)).integrated_lufs


def run(rounds: int = 3) -> None:
    brands = load_brand_config(REPO / "brand_config.json").select("all")
    work = Path(tempfile.mkdtemp(prefix="wtf-bench-loudness-"))
    try:
        source = make_source(work / "source.mp4")
        info = probe_media(source)
        wall: dict[str, list[float]] = {"on": [], "off": [], "measure": []}
        cpu: dict[str, list[float]] = {"on": [], "off": [], "measure": []}
        landed: list[float] = []
        for round_index in range(rounds):
            outputs = []
            for name, options in (("on", ON), ("off", OFF)):
                started, cpu_started = time.perf_counter(), cpu_seconds()
                rendered = render_source(source, brands, work / f"{name}-{round_index}", options=options)
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(cpu_seconds() - cpu_started)
                outputs = outputs or rendered
            started, cpu_started = time.perf_counter(), cpu_seconds()
            measure(source_loudness_args(info))
            landed = [measure(output_loudness_args(output.path)) for output in outputs]
            wall["measure"].append(time.perf_counter() - started)
            cpu["measure"].append(cpu_seconds() - cpu_started)
            print(f"round {round_index + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in wall.items()))
        write_section("loudness", _report(rounds, wall, cpu, landed))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _report(rounds: int, wall: dict, cpu: dict, landed: list[float]) -> str:
    ffmpeg = capabilities(usable_ffmpeg())["version"].split(" Copyright")[0]
    w = {name: median(values) for name, values in wall.items()}
    c = {name: median(values) for name, values in cpu.items()}
    return "\n".join([
        f"## Loudness: its cost against a 3-brand render of a {SECONDS} s {SIZE[0]}x{SIZE[1]} clip",
        "",
        f'Command: `make bench BENCH_ARGS="loudness --rounds {rounds}"` on {platform.machine()}; {ffmpeg}.',
        f"Renders alternated with WTF_LOUDNESS_LUFS -14 and off; medians of {rounds} rounds. The measurement",
        "runs alone (the source's sound before the render, the three outputs' after it) are timed on their",
        "own; CPU is user + system of this process and the FFmpeg runs it waited for. On a machine shared",
        "with other work the wall figures move with its load; CPU time is the measure of the cost.",
        "",
        "| | median wall s | median CPU s | share of the render (wall / CPU) | goal |",
        "| --- | --- | --- | --- | --- |",
        f"| render, loudness off | {w['off']:.2f} | {c['off']:.1f} | | |",
        f"| render, loudness -14 | {w['on']:.2f} | {c['on']:.1f} "
        f"| +{(w['on'] / w['off'] - 1) * 100:.1f} % / +{(c['on'] / c['off'] - 1) * 100:.1f} % | |",
        f"| measurements alone (1 source + 3 outputs) | {w['measure']:.2f} | {c['measure']:.2f} "
        f"| **{w['measure'] / w['off'] * 100:.1f} %** / {c['measure'] / c['off'] * 100:.1f} % | < 5 % |",
        "",
        "Outputs measured after the render: " + ", ".join(f"{value:.1f}" for value in landed) + " LUFS "
        "(target -14). A source that needs the limiter adds up to 4 more audio-only runs over its sound.",
    ])  # fmt: skip
