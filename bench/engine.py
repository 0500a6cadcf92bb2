"""Engine benchmark (issue 2): the one-pass engine against FFmpeg's floor and the seed's pipeline.

Same machine, same run, runs alternated (engine, floor, seed, engine, ...), medians and ratios:
- floor: decode once, three bare libx264 encodes (+ AAC) in one process, same preset and CRF;
- seed: normalize to an intermediate file, then one overlay encode per brand (what the predecessor did);
- peak RSS of the largest FFmpeg process at WTF_RENDER_MEMORY_MB 450 and 4096;
- VMAF of each output against the source, outside the overlay areas, engine vs seed.
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
from pathlib import Path

from bench.report import median, write_section
from portal.brand_loader import Brand, load_brand_config
from portal.media.ffmpeg import capabilities, run_ffmpeg, usable_ffmpeg
from portal.media.plan import EncodeSettings, canvas_size, normalize_chain, plan_render
from portal.media.probe import MediaInfo, probe_media
from portal.video_processor import EngineOptions, render_source

REPO = Path(__file__).resolve().parent.parent
SIZE, SECONDS = (1080, 1920), 10
OPTIONS = EngineOptions(memory_mb=4096)
QUIET = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error"]


def make_source(path: Path) -> Path:
    """A 10 s 1080x1920 clip with grain, so the encoders do realistic work (flat test patterns are free)."""
    width, height = SIZE
    run_ffmpeg(usable_ffmpeg(), [
        *QUIET, "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30:duration={SECONDS}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}",
        "-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "14",
        "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path),
    ], duration=SECONDS)  # fmt: skip
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


def peak_memory_mb(source: Path, memory_mb: int, out: Path) -> tuple[float, bool]:
    """Peak RSS of the largest FFmpeg child (getrusage in a fresh process); whether all outputs are right."""
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from portal.brand_loader import load_brand_config\n"
        "from portal.video_processor import EngineOptions, render_source\n"
        "brands = load_brand_config(sys.argv[1]).select('all')\n"
        "outs = render_source(Path(sys.argv[2]), brands, Path(sys.argv[3]),"
        " options=EngineOptions(memory_mb=int(sys.argv[4])))\n"
        "ok = len(outs) == 3 and all((o.width, o.height) == (1080, 1920) for o in outs)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, ok)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "brand_config.json"), str(source), str(out), str(memory_mb)],
        capture_output=True, text=True, check=True, cwd=REPO,
    )  # fmt: skip
    peak, ok = result.stdout.split()
    return float(peak), ok == "True"


def clean_band(brand: Brand, info: MediaInfo) -> tuple[int, int]:
    """Rows (top, bottom) of the canvas that no overlay of this brand touches."""
    plan = plan_render(info, [brand], "source", Path("."), "x", Path("."), EncodeSettings())
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


def run(rounds: int = 3) -> None:
    brands = load_brand_config(REPO / "brand_config.json").select("all")
    work = Path(tempfile.mkdtemp(prefix="wtf-bench-engine-"))
    try:
        source = make_source(work / "source.mp4")
        timings: dict[str, list[float]] = {"engine": [], "floor": [], "seed": []}
        for round_index in range(rounds):
            for name, pipeline in (("engine", engine), ("floor", floor), ("seed", seed)):
                out = work / f"{name}-{round_index}"
                started = time.perf_counter()
                pipeline(source, brands, out)
                timings[name].append(time.perf_counter() - started)
                print(f"round {round_index + 1}: {name} {timings[name][-1]:.2f} s", flush=True)
        medians = {name: median(values) for name, values in timings.items()}
        memory = {mb: peak_memory_mb(source, mb, work / f"mem-{mb}") for mb in (450, 4096)}
        quality = {}
        info = probe_media(source)
        for brand in brands:
            band = clean_band(brand, info)
            quality[brand.id] = (
                vmaf(work / "engine-0" / f"source_{brand.id}.mp4", source, band, work / "e.json"),
                vmaf(work / "seed-0" / f"seed_{brand.id}.mp4", source, band, work / "s.json"),
            )
        write_section("engine", _report(rounds, timings, medians, memory, quality))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _report(rounds: int, timings: dict, medians: dict, memory: dict, quality: dict) -> str:
    ffmpeg = capabilities(usable_ffmpeg())["version"]
    lines = [
        "## Engine: 3 brands, 10 s 1080x1920 clip",
        "",
        f'Command: `make bench BENCH_ARGS="engine --rounds {rounds}"` on {platform.machine()}, '
        f"{_cpus()} cores; {ffmpeg.split(' Copyright')[0]}; x264 `{OPTIONS.x264_preset}`, CRF {OPTIONS.crf}.",
        "Runs alternated engine, floor, seed; medians of "
        f"{rounds} rounds (all runs: "
        + "; ".join(f"{k} " + ", ".join(f"{v:.2f}" for v in vs) for k, vs in timings.items())
        + " s).",
        "",
        "| comparison | median seconds | ratio | goal |",
        "| --- | --- | --- | --- |",
        f"| engine vs FFmpeg floor (decode once, 3 bare encodes) "
        f"| {medians['engine']:.2f} vs {medians['floor']:.2f} "
        f"| **{medians['engine'] / medians['floor']:.2f}** | <= 1.10 |",
        f"| engine vs seed pipeline (normalize file, then 1 encode per brand) | {medians['engine']:.2f} vs "
        f"{medians['seed']:.2f} | **{medians['engine'] / medians['seed']:.2f}** | <= 0.70 |",
        "",
        "| WTF_RENDER_MEMORY_MB | peak RSS of the largest FFmpeg process | all 3 outputs correct |",
        "| --- | --- | --- |",
        *[f"| {mb} | {peak:.0f} MB | {'yes' if ok else 'NO'} |" for mb, (peak, ok) in memory.items()],
        "",
        "VMAF (mean, every 3rd frame) against the source, on the rows no overlay touches:",
        "",
        "| brand | engine | seed pipeline |",
        "| --- | --- | --- |",
        *[f"| {brand} | {e:.2f} | {s:.2f} |" for brand, (e, s) in quality.items()],
    ]
    return "\n".join(lines)


def _cpus() -> int:
    return os.cpu_count() or 1
