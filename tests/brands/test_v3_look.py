"""v3's look, drawn by the engine: an imported checkout rendered through the real CLI, outputs read back.

Per orientation: the full-frame watermark's pixels where the plan put them at 40 % opacity, the circle
logo's keyed corners showing the picture (not black), the text on its box; every output per DESIGN 4.4,
both brands in one FFmpeg pass.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from portal.brand_loader import load_brand_config
from portal.brands.v3_import import import_v3
from portal.media.overlays import measure_art
from portal.media.plan import PlacedOverlay, brand_arts, plan_render
from portal.media.probe import probe_media
from tests.brands.v3_checkout import LOGO_RGB, SIZES, WATERMARK_PADDING, WATERMARK_RGB, make_v3_checkout
from tests.cli.runner import wtf_portal
from tests.engine.inspect_output import BT709, describe, first_frame
from tests.mediagen import ffmpeg

GREY = (128, 128, 128)
TOLERANCE = 14  # 4:2:0 chroma and x264 at CRF 21 move flat colours by a few levels


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("v3look")
    import_v3(make_v3_checkout(root / "v3"), root / "new" / "brand_config.json")
    return root / "new" / "brand_config.json"


def flat_clip(path: Path, canvas: tuple[int, int]) -> Path:
    """A flat grey clip of the output's shape (so no blurred fill), with 44.1 kHz audio to resample."""
    size = f"{canvas[0] // 3}x{canvas[1] // 3}"
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=0x808080:s={size}:r=30:d=1",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-t", "1", str(path),
    )  # fmt: skip
    return path


def pixel(image: Image.Image, x: float, y: float) -> tuple[int, int, int]:
    return image.getpixel((round(x), round(y)))


def near(actual: tuple[int, ...], expected: tuple[float, ...]) -> bool:
    return all(abs(a - e) <= TOLERANCE for a, e in zip(actual, expected, strict=True))


def blend(under: tuple[float, ...], over: tuple[float, ...], alpha: float) -> tuple[float, ...]:
    return tuple(u * (1 - alpha) + o * alpha for u, o in zip(under, over, strict=True))


@pytest.mark.parametrize(("preset", "canvas", "shape"), [
    ("vertical", (1080, 1920), "vertical"),
    ("square", (1080, 1080), "square"),
    ("landscape", (1920, 1080), "landscape"),
])  # fmt: skip
def test_v3_look_in_every_orientation(
    preset: str, canvas: tuple[int, int], shape: str, imported: Path, tmp_path: Path
) -> None:
    config_path, clip = imported, flat_clip(tmp_path / "clip.mp4", canvas)
    result = wtf_portal(
        "render", str(clip), "--brand", "scotlandwtf", "--brand", "EnglandWTF", "--preset", preset,
        "--config", str(config_path), "--out", str(tmp_path / "out"), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    outputs = {o["brand"]: Path(o["path"]) for o in json.loads(result.stdout)["outputs"]}
    assert set(outputs) == {"ScotlandWTF", "EnglandWTF"}

    brands = load_brand_config(config_path).select(["ScotlandWTF", "EnglandWTF"])
    plan = plan_render(
        probe_media(clip), brands, preset, tmp_path, "clip", tmp_path, measure_art(brand_arts(brands))
    )
    assert len(plan.batches) == 1  # one decode, one FFmpeg process for both brands

    for path in outputs.values():
        facts = describe(path)
        assert (facts["codec"], facts["profile"], facts["pix_fmt"]) == ("h264", "High", "yuv420p")
        assert (facts["width"], facts["height"]) == canvas and facts["primaries"] == BT709
        assert (facts["audio_codec"], facts["audio_rate"], facts["audio_channels"]) == ("aac", 48000, 2)
        assert facts["boxes"].index("moov") < facts["boxes"].index("mdat")
        assert abs(facts["duration"] - 1.0) <= 0.1

    frame = first_frame(outputs["ScotlandWTF"]).to_image()
    cover, logo, text = plan.outputs[0].overlays
    cw, ch = canvas

    # the watermark panel, cover-scaled x1.15 and centred: 40 % of its colour at the centre, none outside
    assert (cover.x, cover.y, cover.width, cover.height) == (0, 0, cw, ch)
    w0, h0 = SIZES[shape]
    half_w = (0.5 - WATERMARK_PADDING) * w0 * max(cw / w0, ch / h0) * 1.15
    assert near(pixel(frame, cw / 2, ch / 2), blend(GREY, WATERMARK_RGB[shape], 0.4))
    assert near(pixel(frame, cw / 2 - half_w - 30, ch / 2), GREY)
    # EnglandWTF has no landscape watermark: the nearest (square) one is drawn
    england = first_frame(outputs["EnglandWTF"]).to_image()
    england_shape = "square" if shape == "landscape" else shape
    assert near(pixel(england, cw / 2, ch / 2), blend(GREY, WATERMARK_RGB[england_shape], 0.4))

    assert_keyed_logo(frame, logo, cw)
    assert_boxed_text(frame, text)


def assert_keyed_logo(frame: Image.Image, logo: PlacedOverlay, canvas_width: int) -> None:
    """15 % of the width, bottom-right; the disc drawn, its black corners keyed out to the picture."""
    assert logo.width == pytest.approx(0.15 * canvas_width, abs=2)
    assert near(pixel(frame, logo.x + logo.width / 2, logo.y + logo.height / 2), LOGO_RGB)
    for cx, outside_x in ((logo.x + 3, logo.x - 4), (logo.x + logo.width - 4, logo.x + logo.width + 3)):
        for cy in (logo.y + 3, logo.y + logo.height - 4):
            corner, beside = pixel(frame, cx, cy), pixel(frame, outside_x, cy)
            assert near(corner, beside) and sum(corner) > 150, (corner, beside)


def assert_boxed_text(frame: Image.Image, text: PlacedOverlay) -> None:
    """The box's border darkens what is under it to 40 % (black at 0.6); the text inside is white."""
    beside = pixel(frame, text.x - 4, text.y + 3)
    assert near(pixel(frame, text.x + 3, text.y + 3), blend(beside, (0, 0, 0), 0.6))
    row = [pixel(frame, x, text.y + text.height / 2) for x in range(text.x, text.x + text.width)]
    assert max(min(p) for p in row) > 220  # glyph pixels: white
