"""Reframe benchmark (issue 25): what following the subject costs against the render it serves.

Same machine, same run, alternated: the follow analysis alone (`plan_edits`: one decode of the clip, a few
frames a second through faces, people and motion, then the path), a 3-brand vertical render with the
centre crop, and the same render with `fit: follow` (analysis included). Goal: the analysis <= 5 % of
the render's CPU. The clip is the tests' astronaut crossing a 1920x1080 frame and stopping, with film
grain added (as the engine benchmark's source has: a flat drawn picture costs x264 almost nothing, which
camera footage never does).
"""

from __future__ import annotations

import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from bench.engine import QUIET, REPO, cpu_seconds
from bench.report import median, write_section
from portal.brand_loader import load_brand_config
from portal.media.ffmpeg import capabilities, run_ffmpeg, usable_ffmpeg
from portal.media.frames import decode_span
from portal.media.options import Reframe
from portal.media.probe import probe_media
from portal.media.reframe import SAMPLE_FPS
from portal.video_processor import EngineOptions, plan_edits, render_source
from tests.reframe.clips import face_clip

SIZE, SECONDS = (1920, 1080), 10.0
OPTIONS = EngineOptions(memory_mb=4096)
FOLLOW, CROP = Reframe("follow"), Reframe("crop")
PHONE_BITRATE = "12M"  # what a phone records 1080p at; platform clips are leaner still (2-8 Mbit/s)


def run(rounds: int = 3) -> None:
    brands = load_brand_config(REPO / "brand_config.json").select("all")
    work = Path(tempfile.mkdtemp(prefix="wtf-bench-reframe-"))
    try:
        source = grainy(
            face_clip(work / "drawn.mp4", size=SIZE, seconds=SECONDS).path, work / "astronaut.mp4"
        )
        load_before = os.getloadavg()
        wall: dict[str, list[float]] = {"analysis": [], "decode": [], "crop": [], "follow": []}
        cpu: dict[str, list[float]] = {name: [] for name in wall}
        keys = 0
        for round_index in range(rounds):
            for name in wall:
                started, cpu_started = time.perf_counter(), cpu_seconds()
                if name == "analysis":
                    keys = len(plan_edits(source, "vertical", FOLLOW).follow.keys)
                elif name == "decode":
                    decode_span(probe_media(source), 0.0, SECONDS, None)  # the analysis's decode alone
                else:
                    render_source(source, brands, work / f"{name}-{round_index}", preset="vertical",
                                  reframe=FOLLOW if name == "follow" else CROP, options=OPTIONS)  # fmt: skip
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(cpu_seconds() - cpu_started)
                print(f"round {round_index + 1}: {name} {wall[name][-1]:.2f} s / {cpu[name][-1]:.2f} CPU s")
        write_section(
            "reframe", _report(rounds, wall, cpu, keys, len(brands), (load_before, os.getloadavg()))
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def grainy(drawn: Path, path: Path) -> Path:
    """The drawn clip with film grain, encoded as a phone would (x264 at a phone's bitrate): both the
    render and the analysis decode it, and what decoding costs depends on the bitrate."""
    run_ffmpeg(usable_ffmpeg(), [
        *QUIET, "-i", str(drawn), "-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", "veryfast",
        "-b:v", PHONE_BITRATE, "-maxrate", PHONE_BITRATE, "-bufsize", "24M", "-pix_fmt", "yuv420p",
        "-c:a", "copy", str(path),
    ], duration=SECONDS)  # fmt: skip
    return path


def _report(rounds: int, wall: dict, cpu: dict, keys: int, brands: int, load: tuple) -> str:
    ffmpeg = capabilities(usable_ffmpeg())["version"].split(" Copyright")[0]
    w = {name: median(values) for name, values in wall.items()}
    c = {name: median(values) for name, values in cpu.items()}
    return "\n".join([
        f"## Reframe: following the subject against a {brands}-brand vertical render "
        f"({SECONDS:g} s {SIZE[0]}x{SIZE[1]} clip)",
        "",
        f'Command: `make bench BENCH_ARGS="reframe --rounds {rounds}"` on {platform.machine()}, '
        f"{os.cpu_count()} cores; {ffmpeg}; x264 `{OPTIONS.x264_preset}`. Alternated, medians of {rounds} "
        "rounds; CPU is user + system of this process (its threads: the analysis decodes in-process with "
        f"PyAV) and of the FFmpeg runs it waited for. Load average (1, 5, 15 min) {_load(load[0])} before, "
        f"{_load(load[1])} after: the machine was shared, so wall times move with it; CPU is the measure.",
        f"The analysis decodes every frame once (each frame's 64x36 thumbnail for the cuts), keeps "
        f"{SAMPLE_FPS:g} frames a second at 640 px, and looks for faces, then people (HOG, only where no "
        f"face), then motion; here the path has {keys} keyframes. The source is the tests' astronaut "
        "crossing the frame and stopping, with film grain (`noise=alls=12:allf=t`), as the engine "
        "benchmark's source has, so x264 does the work camera footage asks of it, encoded at a phone's "
        f"{PHONE_BITRATE}bit/s.",
        "",
        "| measured | median wall s | median CPU s | share of the crop render's CPU | goal |",
        "| --- | --- | --- | --- | --- |",
        f"| follow analysis alone | {w['analysis']:.2f} | {c['analysis']:.2f} "
        f"| **{c['analysis'] / c['crop']:.1%}** | <= 5 % |",
        f"| of which: decoding every frame (PyAV) | {w['decode']:.2f} | {c['decode']:.2f} "
        f"| {c['decode'] / c['crop']:.1%} | |",
        f"| render, centre crop | {w['crop']:.2f} | {c['crop']:.1f} | 100 % | |",
        f"| render, follow (analysis included) | {w['follow']:.2f} | {c['follow']:.1f} "
        f"| {c['follow'] / c['crop']:.1%} | |",
        "",
        "Most of the analysis is decoding the clip (the second row): the render decodes it again in "
        "FFmpeg, since the path must be known before the crop is planned. The share falls as the render "
        "grows (more brands, several formats from one decode): the analysis is once per source.",
        "",
        "All runs (wall s / CPU s): " + "; ".join(
            f"{name} " + ", ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(wall[name], cpu[name], strict=True))
            for name in wall
        ) + ".",
    ])  # fmt: skip


def _load(values: tuple[float, float, float]) -> str:
    return "/".join(f"{value:.1f}" for value in values)
