"""Version-2 brands (issue 11): the engine benchmark with v3's look, and what a full-frame layer costs.

Brands are generated (Pillow): a 1080x1920 RGBA watermark drawn full-frame at 1.15 and 40 % (512x512 ones
for square and landscape), a 1080x1080 opaque circle logo with black keyed out, a boxed text line.
- `bench.engine`'s comparison (engine vs FFmpeg floor vs the seed's pipeline) run with these brands;
- the memory a full-frame layer adds: peak RSS of one unbatched engine run of 3 brands with and without
  their cover layer, from a 1080x1920 source, per output megapixel (plan.FULL_FRAME_MB_PER_MP).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

from bench import engine as engine_bench
from bench.report import median, write_section
from portal.media.plan import FULL_FRAME_MB_PER_MP

BRANDS = ("ScotlandWTF", "EnglandWTF", "WalesWTF")
OUTPUT_MP = 1080 * 1920 / 1e6

PEAK = """
import resource, sys
from pathlib import Path
from portal.brand_loader import load_brand_config
from portal.video_processor import EngineOptions, render_source
config, source, out, cover = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "1"
brands = load_brand_config(config).select("all")
if not cover:
    brands = [b.model_copy(update={"layers": b.layers[1:]}) for b in brands]
render_source(source, brands, out, preset="vertical", options=EngineOptions(memory_mb=10**6))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def write_config(folder: Path) -> Path:
    """Three brands with v3's look, their assets beside the config."""
    brands = {}
    for index, brand in enumerate(BRANDS):
        images = {}
        for shape, size in (("vertical", (1080, 1920)), ("square", (512, 512)), ("landscape", (512, 512))):
            picture = Image.new("RGBA", size, (0, 0, 0, 0))
            width, height = size
            ImageDraw.Draw(picture).text(
                (width * 0.1, height * 0.45), brand, fill=(255, 255, 255, 230), font_size=width // 8
            )
            images[shape] = f"{brand}-wm-{shape}.png"
            picture.save(folder / images[shape])
        logo = Image.new("RGB", (1080, 1080), (0, 0, 0))
        ImageDraw.Draw(logo).ellipse((0, 0, 1079, 1079), (200, 40 * index, 40))
        logo.save(folder / f"{brand}-logo.png")
        brands[brand] = {"name": brand, "layers": [
            {"image": images, "fit": "cover", "scale": 1.15, "opacity": 0.4},
            {"image": f"{brand}-logo.png", "key_color": "#000000", "position": "bottom-right", "width": 0.15,
             "margin": 0.0556},
            {"text": f"@{brand.lower()}", "position": "bottom", "size": 0.0375, "box": {"opacity": 0.6}},
        ]}  # fmt: skip
    path = folder / "brand_config.json"
    path.write_text(json.dumps({"version": 2, "brands": brands}, indent=2))
    return path


def peak_mb(config: Path, source: Path, out: Path, cover: bool) -> float:
    result = subprocess.run(
        [sys.executable, "-c", PEAK, str(config), str(source), str(out), "1" if cover else "0"],
        capture_output=True, text=True, check=True, cwd=engine_bench.REPO,
    )  # fmt: skip
    return float(result.stdout.split()[-1])


def run(rounds: int = 3) -> None:
    with tempfile.TemporaryDirectory(prefix="wtf-bench-layers-") as work:
        folder = Path(work)
        config = write_config(folder)
        engine_bench.run(rounds, config=config, section="layers")
        source = engine_bench.make_source(folder / "source.mp4")
        runs = {cover: [peak_mb(config, source, folder / f"out-{cover}", cover) for _ in range(rounds)]
                for cover in (False, True)}  # fmt: skip
    without, with_cover = median(runs[False]), median(runs[True])
    per_mp = (with_cover - without) / (len(BRANDS) * OUTPUT_MP)
    write_section("layers-memory", "\n".join([
        "## Memory of full-frame layers",
        "",
        f'Command: `make bench BENCH_ARGS="layers --rounds {rounds}"`: peak RSS of the FFmpeg process of one',
        "unbatched engine run (3 brands, vertical 1080x1920 from a 10 s 1080x1920 source), with and without",
        f"each brand's full-frame layer; medians of {rounds} runs each.",
        "",
        "| brands draw | peak RSS (runs) |",
        "| --- | --- |",
        f"| logo + boxed text | {without:.0f} MB ({', '.join(f'{v:.0f}' for v in runs[False])}) |",
        f"| full-frame watermark + logo + boxed text | {with_cover:.0f} MB "
        f"({', '.join(f'{v:.0f}' for v in runs[True])}) |",
        "",
        f"Per full-frame layer: {per_mp:.1f} MB per output megapixel (the plan's model uses "
        f"FULL_FRAME_MB_PER_MP = {FULL_FRAME_MB_PER_MP:g}).",
    ]))  # fmt: skip
