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

# Whole engine runs (render_source, 1 and 3 brands, vertical preset) on the sources that cost the most
# beyond bare encodes: the blurred fill, a 4K decode, a 10-bit HEVC decode with the tone-mapping chain.
H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
ENGINE_SOURCES = {
    "1080x1920 H.264": ("1080x1920", H264),
    "1920x1080 H.264 (fill)": ("1920x1080", H264),
    "3840x2160 H.264 (fill)": ("3840x2160", H264),
    "3840x2160 HEVC 10-bit PQ (fill)": ("3840x2160", (
        "-vf", "format=yuv420p10le", "-c:v", "libx265", "-preset", "ultrafast",
        "-x265-params", "colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:log-level=error",
        "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc",
    )),
}  # fmt: skip

ENGINE_MEASURE = """
import resource, sys
from pathlib import Path
from portal.brand_loader import parse_brand_config
from portal.video_processor import EngineOptions, render_source
logo, source, out, count = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
spec = {"logo": {"path": str(logo)}, "watermark": {"text": "@handle"}, "safe_zone": "tiktok"}
brands = {f"b{i}": {"name": f"B{i}", **spec} for i in range(count)}
config = parse_brand_config({"brands": brands}, logo.parent)
unbatched = EngineOptions(memory_mb=10**6)
render_source(source, list(config.brands.values()), out, preset="vertical", options=unbatched)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""

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


def engine_rows(binary: Path, work: Path, rounds: int) -> list[str]:
    """Measured peak of real renders against the plan's estimate for the same work."""
    logo = work / "logo.png"
    run_ffmpeg(binary, ["-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-f", "lavfi",
                        "-i", "color=c=green:size=200x100", "-frames:v", "1", str(logo)],
               duration=1)  # fmt: skip
    rows = []
    for index, (label, (size, codec_args)) in enumerate(ENGINE_SOURCES.items()):
        source = work / f"engine-{index}.mp4"
        run_ffmpeg(binary, ["-hide_banner", "-nostdin", "-y", "-loglevel", "error",
                            "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration=2",
                            "-f", "lavfi", "-i", "sine=duration=2", *codec_args, "-c:a", "aac", str(source)],
                   duration=2)  # fmt: skip
        info = probe_media(source)
        cells = []
        for count in (1, 3):
            peak = max(
                float(subprocess.run(
                    [sys.executable, "-c", ENGINE_MEASURE, str(logo), str(source), str(work / f"out{index}"),
                     str(count)], capture_output=True, text=True, check=True,
                ).stdout)
                for _ in range(rounds)
            )  # fmt: skip
            cells += [f"{peak:.0f}", f"{estimate_peak_mb(info, (1080, 1920), count):.0f}"]
        rows.append(f"| {label} | {' | '.join(cells)} |")
        print(rows[-1], flush=True)
    return rows


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
        engine = engine_rows(binary, Path(work), rounds)
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
        "",
        "Whole engine runs (`render_source`, vertical 1080x1920 output, logo and text per brand), peak MB",
        "measured against the plan's estimate; the estimate must not be below the measurement.",
        "",
        "| source | 1 brand | estimate | 3 brands | estimate |",
        "| --- | --- | --- | --- | --- |",
        *engine,
    ]))  # fmt: skip
