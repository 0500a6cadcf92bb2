"""The logo lands where the plan put it: inside the platform's safe area, at the brand's width."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from portal.media.overlays import measure_art
from portal.media.plan import brand_arts, plan_preview
from portal.media.safezone import SAFE_ZONE_PRESETS, project_zone
from portal.video_processor import render_preview, render_source
from tests.engine.conftest import LOGO_RGB, make_brands
from tests.engine.inspect_output import colour_bbox, first_frame
from tests.mediagen import make_clip


@pytest.mark.parametrize(("zone", "preset", "canvas"), [
    ("tiktok", "vertical", (1080, 1920)),
    ("reels", "source", (540, 960)),
    ("all", "vertical", (1080, 1920)),
    ("none", "landscape", (1920, 1080)),
])  # fmt: skip
def test_logo_inside_safe_area_top_right(zone: str, preset: str, canvas, logo: Path, tmp_path: Path) -> None:
    grey = make_clip(
        tmp_path / "grey.mp4", width=540, height=960, duration=0.5, audio=False,
        video_args=("-vf", "lutrgb=r=128:g=128:b=128", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p"),
    )  # fmt: skip
    brand = make_brands(logo, placed=zone)[0]
    output = render_source(grey, [brand], tmp_path / "out", preset=preset)[0]

    width, height = canvas
    left, top, right, bottom = colour_bbox(first_frame(output.path).to_image(), LOGO_RGB)
    safe = project_zone(zone, width, height)
    margin = brand.logo.margin * width
    # top-right corner of the safe rectangle, less the margin (2 px for chroma rounding and blur)
    assert right == pytest.approx(width * (1 - safe.right) - margin, abs=3)
    assert top == pytest.approx(height * safe.top + margin, abs=3)
    # the brand's width (20% of the canvas) and the logo's 2:1 shape
    assert right - left == pytest.approx(0.2 * width, abs=3)
    assert bottom - top == pytest.approx(0.1 * width, abs=3)


def test_logo_too_big_for_the_safe_area_is_scaled_down_not_pushed(logo: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", width=540, height=960, duration=0.5, audio=False)
    brand = make_brands(logo, wide="all")[0]
    brand = brand.model_copy(update={"logo": brand.logo.model_copy(update={"width": 1.0})})
    output = render_source(clip, [brand], tmp_path / "out", preset="vertical")[0]
    left, _top, right, _bottom = colour_bbox(first_frame(output.path).to_image(), LOGO_RGB)
    zone = SAFE_ZONE_PRESETS["all"]
    margin = brand.logo.margin * 1080
    assert left >= 1080 * zone.left + margin - 2
    assert right <= 1080 * (1 - zone.right) - margin + 2


@pytest.mark.parametrize(("preset", "canvas"), [("source", (1080, 1920)), ("landscape", (1920, 1080))])
def test_preview_is_a_jpeg_at_the_preset_size_with_the_logo_where_a_render_puts_it(
    preset: str, canvas, logo: Path
) -> None:
    brand = make_brands(logo, shown="tiktok")[0]
    image = Image.open(io.BytesIO(render_preview(brand, preset).jpeg))
    assert image.format == "JPEG" and image.size == canvas
    plan, _args = plan_preview(brand, preset, Path("w"), measure_art(brand_arts([brand])), Path("p.jpg"))
    expected = plan.overlays[0]
    assert (plan.width, plan.height) == canvas
    left, top, right, bottom = colour_bbox(image, LOGO_RGB)
    assert (left, top) == pytest.approx((expected.x, expected.y), abs=3)
    assert (right - left, bottom - top) == pytest.approx((expected.width, expected.height), abs=3)
