"""Engine benchmark (issue 2): the one-pass engine against FFmpeg's floor and the seed's pipeline.

Same machine, same run, runs alternated (engine, floor, seed, engine, ...), medians and ratios:
- floor: decode once, three bare libx264 encodes (+ AAC) in one process, same preset and CRF;
- seed: normalize to an intermediate file, then one overlay encode per brand (what the predecessor did);
- peak RSS of the largest process of `wtf-portal render` at WTF_RENDER_MEMORY_MB 450 and 4096;
- VMAF of each output against the source, outside the overlay areas, engine vs seed;
- `position: "auto"`: the scene analysis (decode 6 small frames once, faces, text, motion) against the
  render it serves, and a render with every brand's logo on auto against the same render with fixed logos
  (`auto_placement_cost`, also runnable alone: `python -c "import bench.engine as b; b.run_placement(3)"`).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import av

from bench.report import median, write_section
from portal.brand_loader import Brand, load_brand_config
from portal.media.ffmpeg import capabilities, run_ffmpeg, usable_ffmpeg
from portal.media.overlays import measure_art
from portal.media.placement import SAMPLE_FRAMES, analyse_scene
from portal.media.plan import brand_arts, canvas_size, normalize_chain, plan_render
from portal.media.probe import MediaInfo, probe_media
from portal.video_processor import EngineOptions, render_source

REPO = Path(__file__).resolve().parent.parent
SIZE, SECONDS = (1080, 1920), 10
OPTIONS = EngineOptions(memory_mb=4096)
QUIET = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error"]


def make_source(path: Path, size: tuple[int, int] = SIZE, seconds: float = SECONDS) -> Path:
    """A clip (10 s 1080x1920 unless told) with grain, so the encoders do realistic work (flat test
    patterns are free)."""
    width, height = size
    run_ffmpeg(usable_ffmpeg(), [
        *QUIET, "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "14",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path),
    ], duration=seconds)  # fmt: skip
    return path


def engine(source: Path, brands: list[Brand], out: Path) -> None:
    render_source(source, brands, out, preset="source", options=OPTIONS)


def floor(source: Path, brands: list[Brand], out: Path) -> None:
    count = len(brands)
    graph = (f"[0:v]split={count}" + "".join(f"[v{i}]" for i in range(count))
             + f";[0:a]asplit={count}" + "".join(f"[a{i}]" for i in range(count)))  # fmt: skip
    args = [*QUIET, "-i", str(source), "-filter_complex", graph]
    for index in range(count):
        args += ["-map", f"[v{index}]", "-map", f"[a{index}]", "-c:v", "libx264",
                 "-preset", OPTIONS.x264_preset, "-crf", str(OPTIONS.crf), "-c:a", "aac",
                 str(out / f"floor{index}.mp4")]  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(usable_ffmpeg(), args, duration=SECONDS)


def seed(source: Path, brands: list[Brand], out: Path) -> None:
    """Normalize to a file, then one overlay encode per brand, each its own FFmpeg process."""
    out.mkdir(parents=True, exist_ok=True)
    info = probe_media(source)
    normalized = out / "normalized.mp4"
    chain = ",".join(normalize_chain(info, canvas_size(info, "source")))
    run_ffmpeg(usable_ffmpeg(), [
        *QUIET, "-i", str(source), "-vf", chain, "-c:v", "libx264", "-preset", OPTIONS.x264_preset,
        "-crf", str(OPTIONS.crf), "-c:a", "aac", str(normalized),
    ], duration=SECONDS)  # fmt: skip
    for brand in brands:
        render_source(normalized, [brand], out, preset="source", options=OPTIONS, stem="seed")


# A fresh parent for one command: getrusage(RUSAGE_CHILDREN).ru_maxrss is then the peak RSS of the
# largest process of that command's tree (the CLI's Python or any FFmpeg it ran), counted by the kernel,
# so no sampling can miss a short peak.
PEAK_OF_TREE = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, done.returncode)\n"
    "sys.stdout.write(done.stdout)\n"
)


def render_at_memory(source: Path, memory_mb: int, out: Path, config: Path) -> tuple[float, float, bool]:
    """`wtf-portal render --all-brands` with WTF_RENDER_MEMORY_MB set: (peak MB, seconds, outputs ok)."""
    command = [sys.executable, "-m", "portal", "render", str(source), "--all-brands",
               "--config", str(config), "--out", str(out), "--json"]  # fmt: skip
    env = {**os.environ, "WTF_RENDER_MEMORY_MB": str(memory_mb), "WTF_DATA_DIR": str(out / "data")}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PEAK_OF_TREE, *command], capture_output=True, text=True, cwd=REPO, env=env
    )
    seconds = time.perf_counter() - started
    first, _, payload = result.stdout.partition("\n")
    peak, returncode = first.split()
    outputs = json.loads(payload)["outputs"] if returncode == "0" else []
    ok = len(outputs) == 3 and all(output_is_correct(Path(o["path"])) for o in outputs)
    return float(peak), seconds, ok


def output_is_correct(path: Path) -> bool:
    """Read back: H.264 yuv420p at the source's size, AAC audio, the source's duration."""
    with av.open(str(path)) as container:
        video = container.streams.video[0].codec_context
        audio = container.streams.audio[0].codec_context if container.streams.audio else None
        duration = container.duration / av.time_base
    return (
        (video.name, video.pix_fmt, video.width, video.height) == ("h264", "yuv420p", *SIZE)
        and audio is not None and audio.name == "aac"
        and abs(duration - SECONDS) <= 0.1
    )  # fmt: skip


def ffmpeg_passes(info: MediaInfo, brands: list[Brand], memory_mb: int) -> int:
    """How many FFmpeg runs the plan batches the three encoders into at this memory budget."""
    options = replace(OPTIONS, memory_mb=memory_mb)
    sizes = measure_art(brand_arts(brands))
    return len(plan_render(info, brands, "source", Path("."), "x", Path("."), sizes, options).batches)


def clean_band(brand: Brand, info: MediaInfo) -> tuple[int, int]:
    """Rows (top, bottom) of the canvas that no overlay of this brand touches."""
    plan = plan_render(info, [brand], "source", Path("."), "x", Path("."), measure_art(brand_arts([brand])))
    height = SIZE[1]
    top = max([o.y + o.height for o in plan.overlays if o.y < height / 2] or [0])
    bottom = min([o.y for o in plan.overlays if o.y >= height / 2] or [height])
    return top + 8, bottom - 8


def vmaf(distorted: Path, reference: Path, band: tuple[int, int], log: Path) -> float:
    top, bottom = band
    crop = f"crop={SIZE[0]}:{(bottom - top) // 2 * 2}:0:{top}"
    graph = (
        f"[0:v]{crop}[d];[1:v]{crop}[r];[d][r]libvmaf=n_subsample=3:n_threads=2:log_fmt=json:log_path={log}"
    )
    run_ffmpeg(usable_ffmpeg(), [*QUIET, "-i", str(distorted), "-i", str(reference), "-lavfi", graph,
                                 "-f", "null", "-"], duration=SECONDS)  # fmt: skip
    return json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"]


def run(rounds: int = 3, config: Path = REPO / "brand_config.json", section: str = "engine") -> None:
    """Compare the pipelines with the brands of `config` (bench.layers runs it with version-2 brands)."""
    brands = load_brand_config(config).select("all")
    work = Path(tempfile.mkdtemp(prefix="wtf-bench-engine-"))
    try:
        source = make_source(work / "source.mp4")
        load_before = os.getloadavg()[0]
        timings: dict[str, list[float]] = {"engine": [], "floor": [], "seed": []}
        cpu: dict[str, list[float]] = {"engine": [], "floor": [], "seed": []}
        for round_index in range(rounds):
            for name, pipeline in (("engine", engine), ("floor", floor), ("seed", seed)):
                out = work / f"{name}-{round_index}"
                started, cpu_started = time.perf_counter(), cpu_seconds()
                pipeline(source, brands, out)
                timings[name].append(time.perf_counter() - started)
                cpu[name].append(cpu_seconds() - cpu_started)
                print(f"round {round_index + 1}: {name} {timings[name][-1]:.2f} s, "
                      f"CPU {cpu[name][-1]:.1f} s", flush=True)  # fmt: skip
        load = (load_before, os.getloadavg()[0])
        info = probe_media(source)
        memory = {
            mb: (*render_at_memory(source, mb, work / f"mem-{mb}", config), ffmpeg_passes(info, brands, mb))
            for mb in (450, 4096)
        }
        quality = {}
        for brand in brands:
            band = clean_band(brand, info)
            if band[1] - band[0] < 16:  # a full-frame layer leaves no untouched rows to compare
                continue
            quality[brand.id] = (
                vmaf(work / "engine-0" / f"source_{brand.id}.mp4", source, band, work / "e.json"),
                vmaf(work / "seed-0" / f"seed_{brand.id}.mp4", source, band, work / "s.json"),
            )
        write_section(section, _report(rounds, timings, cpu, load, memory, quality, config))
        if section == "engine":  # auto placement is measured with the shipped brands only
            write_section("placement", auto_placement_cost(source, brands, work, rounds))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_placement(rounds: int = 3) -> None:
    """The auto-placement section alone (the whole engine benchmark takes far longer)."""
    work = Path(tempfile.mkdtemp(prefix="wtf-bench-placement-"))
    try:
        brands = load_brand_config(REPO / "brand_config.json").select("all")
        write_section(
            "placement", auto_placement_cost(make_source(work / "source.mp4"), brands, work, rounds)
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def auto_placement_cost(source: Path, brands: list[Brand], work: Path, rounds: int) -> str:
    """The analysis behind `position: "auto"` against the render, alternated, medians (section text)."""
    auto = [
        brand.model_copy(
            update={"logo": brand.logo.model_copy(update={"position": "auto", "fallback": "top-right"})}
        )
        for brand in brands
    ]
    info = probe_media(source)
    load_before = os.getloadavg()[0]
    runs: dict[str, list[tuple[float, float]]] = {"analysis": [], "fixed": [], "auto": []}
    chosen: dict[str, str] = {}
    samples = 0
    for round_index in range(rounds):
        for name in runs:
            started, cpu_started = time.perf_counter(), cpu_seconds()
            if name == "analysis":
                samples = analyse_scene(info).frames
            else:
                outputs = render_source(
                    source, auto if name == "auto" else brands, work / f"{name}-{round_index}",
                    preset="source", options=OPTIONS,
                )  # fmt: skip
                chosen |= {o.brand: o.placements[0]["position"] for o in outputs if o.placements}
            runs[name].append((time.perf_counter() - started, cpu_seconds() - cpu_started))
            print(f"round {round_index + 1}: {name} {runs[name][-1][0]:.2f} s", flush=True)
    return placement_report(runs, chosen, samples, len(brands), (load_before, os.getloadavg()[0]))


def placement_report(
    runs: dict[str, list[tuple[float, float]]], chosen: dict[str, str], samples: int, brands: int, load: tuple
) -> str:
    """The section text from the runs: (wall s, CPU s) of each analysis, fixed and auto render."""
    rounds = len(runs["analysis"])
    wall = {name: median([w for w, _ in values]) for name, values in runs.items()}
    work = {name: median([c for _, c in values]) for name, values in runs.items()}
    return "\n".join([
        f"## Auto placement: analysis vs the render ({brands} brands, {SECONDS} s {SIZE[0]}x{SIZE[1]} clip)",
        "",
        "Command: `make bench BENCH_ARGS=engine` (this section alone: "
        f"`python -c \"import bench.engine as b; b.run_placement({rounds})\"`), {platform.machine()}, "
        f"{_cpus()} cores; medians of {rounds} alternated rounds; 1-minute load average {load[0]:.1f} "
        f"before, {load[1]:.1f} after. The analysis runs once per source for all brands: up to "
        f"{SAMPLE_FRAMES} keyframes (here {samples}: the clip is x264's default 250-frame GOP), 640 px long "
        "side, grey; faces (OpenCV Haar), text (edge density), motion.",
        "",
        "| measured | median wall s | median CPU s | share of the fixed render: wall | CPU | goal |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| scene analysis | {wall['analysis']:.3f} | {work['analysis']:.3f} "
        f"| **{wall['analysis'] / wall['fixed']:.1%}** | {work['analysis'] / work['fixed']:.1%} | < 5 % |",
        f"| render, logos at fixed positions | {wall['fixed']:.2f} | {work['fixed']:.1f} | 100 % | 100 % | |",
        f"| render, logos on auto (analysis included) | {wall['auto']:.2f} | {work['auto']:.1f} "
        f"| {wall['auto'] / wall['fixed']:.1%} | {work['auto'] / work['fixed']:.1%} | |",
        "",
        "The last row differs from the first by the machine's noise as much as by the analysis (other "
        "load moves whole renders by many seconds); the analysis row is the cost. Positions chosen on "
        "this clip (a moving test pattern with a burned-in clock and digits): "
        + ", ".join(f"{brand} {position}" for brand, position in sorted(chosen.items())) + ".",
        "",
        "All runs (wall s / CPU s): " + "; ".join(
            f"{name} " + ", ".join(f"{w:.2f}/{c:.2f}" for w, c in values) for name, values in runs.items()
        ) + ".",
    ])  # fmt: skip


def cpu_seconds() -> float:
    """User + system CPU of this process (probe, verify) and of every FFmpeg it has waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _report(
    rounds: int, timings: dict, cpu: dict, load: tuple, memory: dict, quality: dict, config: Path
) -> str:
    ffmpeg = capabilities(usable_ffmpeg())["version"]
    wall = {name: median(values) for name, values in timings.items()}
    work = {name: median(values) for name, values in cpu.items()}

    def row(label: str, other: str, goal: str) -> str:
        return (
            f"| engine vs {label} | {wall['engine']:.2f} vs {wall[other]:.2f} "
            f"| **{wall['engine'] / wall[other]:.2f}** | {work['engine']:.1f} vs {work[other]:.1f} "
            f"| {work['engine'] / work[other]:.2f} | {goal} |"
        )

    shipped = config == REPO / "brand_config.json"
    title = "Engine: 3 brands" if shipped else "Engine with version-2 brands (v3's look): 3 brands"
    name = "engine" if shipped else "layers"
    lines = [
        f"## {title}, 10 s 1080x1920 clip",
        "",
        f'Command: `make bench BENCH_ARGS="{name} --rounds {rounds}"` on {platform.machine()}, '
        f"{_cpus()} cores; {ffmpeg.split(' Copyright')[0]}; x264 `{OPTIONS.x264_preset}`, CRF {OPTIONS.crf}.",
        f"Runs alternated engine, floor, seed; medians of {rounds} rounds. Wall time is the goal's measure;",
        "CPU time (user + system of the pipeline's processes) is the work done, which other load on the",
        f"machine moves much less (1-minute load average {load[0]:.1f} before, {load[1]:.1f} after).",
        "",
        "| comparison | median wall s | wall ratio | median CPU s | CPU ratio | goal (wall) |",
        "| --- | --- | --- | --- | --- | --- |",
        row("FFmpeg floor (decode once, 3 bare encodes)", "floor", "<= 1.10"),
        row("seed pipeline (normalize to a file, then 1 encode per brand)", "seed", "<= 0.70"),
        "",
        "All runs (wall s / CPU s): "
        + "; ".join(
            f"{name} " + ", ".join(f"{w:.1f}/{c:.1f}" for w, c in zip(timings[name], cpu[name], strict=True))
            for name in timings
        )
        + ".",
        "",
        "Peak memory: `WTF_RENDER_MEMORY_MB=N wtf-portal render source.mp4 --all-brands --json` run from a",
        "fresh parent whose `getrusage(RUSAGE_CHILDREN).ru_maxrss` is the peak RSS of the largest process of",
        "the tree (the CLI's Python or an FFmpeg it ran), counted by the kernel rather than sampled. Outputs",
        "are read back: H.264 yuv420p 1080x1920, AAC, 10 s within 0.1 s. One run per setting.",
        "",
        "| WTF_RENDER_MEMORY_MB | FFmpeg passes | peak RSS, largest process | wall time | outputs correct |",
        "| --- | --- | --- | --- | --- |",
        *[
            f"| {mb} | {passes} | {peak:.0f} MB | {seconds:.1f} s | {'yes' if ok else 'NO'} |"
            for mb, (peak, seconds, ok, passes) in memory.items()
        ],
        "",
        *(
            [
                "VMAF (mean, every 3rd frame) against the source, on the rows no overlay touches:",
                "",
                "| brand | engine | seed pipeline |",
                "| --- | --- | --- |",
                *[f"| {brand} | {e:.2f} | {s:.2f} |" for brand, (e, s) in quality.items()],
            ]
            if quality
            else ["No VMAF: the brands' full-frame layers touch every row of the picture."]
        ),
    ]
    return "\n".join(lines)


def _cpus() -> int:
    return os.cpu_count() or 1
