"""What a new brand starts with, and placement per shape (DESIGN 4.10) and at a free spot, as the plan
places them. Pure: no FFmpeg."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from portal.brand_loader import (
    SHAPES,
    STARTER_SAFE_ZONE,
    Brand,
    BrandConfigError,
    output_shape,
    parse_brand_config,
    starter_layers,
)
from portal.media.options import PRESET_CANVAS
from portal.media.overlays import measure_art
from portal.media.plan import brand_arts, plan_render
from portal.media.safezone import SAFE_ZONE_PRESETS
from tests.engine.test_plan import PLAIN


def overlays(brand: Brand, preset: str, tmp_path: Path) -> list[tuple[int, int, int, int]]:
    plan = plan_render(PLAIN, [brand], preset, tmp_path, "c", tmp_path, measure_art(brand_arts([brand])))
    return [(o.x, o.y, o.width, o.height) for o in plan.overlays]


def overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.mark.parametrize("logo_size", [(400, 400), (900, 300), (300, 600)])
def test_a_new_brands_logo_and_handle_never_overlap_and_stay_in_the_zone(logo_size, tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    Image.new("RGBA", logo_size, (255, 0, 0, 255)).save(logo)
    assert STARTER_SAFE_ZONE == "all"
    for zone in SAFE_ZONE_PRESETS:
        for handle in ("@mine", "@" + "x" * 64):
            layers = starter_layers(str(logo), handle)
            brand = Brand.model_validate({"id": "new", "name": "New", "safe_zone": zone, "layers": layers})
            for preset, (width, height) in PRESET_CANVAS.items():
                logo_rect, handle_rect = overlays(brand, preset, tmp_path)
                assert not overlap(logo_rect, handle_rect), (zone, preset, handle, logo_size)
                safe = brand.safe_zone_for(width, height)
                for x, y, w, h in (logo_rect, handle_rect):
                    assert x >= safe.left * width - 1 and x + w <= width * (1 - safe.right) + 1
                    assert y >= safe.top * height - 1 and y + h <= height * (1 - safe.bottom) + 1


def test_each_preset_has_its_own_shape() -> None:
    assert [output_shape(*PRESET_CANVAS[shape]) for shape in SHAPES] == list(SHAPES)
    assert output_shape(1080, 1440) == "portrait" and output_shape(720, 1080) == "vertical"


def test_placement_per_shape_and_the_nearest_shape_for_the_rest(tmp_path: Path) -> None:
    Image.new("RGBA", (200, 200), (255, 0, 0, 255)).save(tmp_path / "logo.png")
    config = {"version": 2, "brands": {"b": {"name": "B", "layers": [{
        "image": "logo.png",
        "position": {"vertical": "top-left", "square": {"x": 0.5, "y": 0.5}},
        "width": {"vertical": 0.2, "landscape": 0.1},
        "margin": {"vertical": 0.05, "square": 0.0},
    }]}}}  # fmt: skip
    brand = parse_brand_config(config, tmp_path).brands["b"]
    vertical, portrait, square, landscape = (overlays(brand, s, tmp_path)[0] for s in SHAPES)
    assert vertical == (54, 54, 216, 216)  # a margin of 5 % of the width from each edge, 20 % wide
    assert portrait == (54, 54, 216, 216)  # nothing for portrait: vertical's, the nearest shape
    assert square == (432, 432, 216, 216)  # centred; no width for square or portrait: vertical's
    x, y, w, h = landscape  # square's centre spot and margin, landscape's own width
    assert (w, x + w / 2, y + h / 2) == (192, 960, 540)


def test_a_free_spot_is_the_centre_and_is_moved_inside_the_safe_zone(tmp_path: Path) -> None:
    Image.new("RGBA", (200, 100), (255, 0, 0, 255)).save(tmp_path / "logo.png")
    layer = {"image": "logo.png", "width": 0.2, "margin": 0.1}
    spots = {"free": {"x": 0.71, "y": 0.3}, "edge": {"x": 1.0, "y": 0.0}}
    brands = {
        key: {"name": key, "safe_zone": "tiktok", "layers": [{**layer, "position": spot}]}
        for key, spot in spots.items()
    }
    config = {"version": 2, "brands": brands}
    brands = parse_brand_config(config, tmp_path).brands
    x, y, w, h = overlays(brands["free"], "vertical", tmp_path)[0]
    assert (w, h) == (216, 108)
    assert abs(x + w / 2 - 0.71 * 1080) <= 1 and abs(y + h / 2 - 0.3 * 1920) <= 1  # the margin does not apply
    x, y, w, h = overlays(brands["edge"], "vertical", tmp_path)[0]
    zone = SAFE_ZONE_PRESETS["tiktok"]
    assert x + w == pytest.approx(1080 * (1 - zone.right), abs=2) and y == pytest.approx(
        1920 * zone.top, abs=2
    )


@pytest.mark.parametrize(("position", "message"), [
    ({"x": 1.5, "y": 0.2}, "layers.0.position.x: Input should be less than or equal to 1"),
    ({"x": 0.5}, "layers.0.position.y: Field required"),
    ({"round": "top"}, "layers.0.position.round: Extra inputs are not permitted"),
    ({"square": "middle"}, "layers.0.position.square: Input should be 'top-left'"),
])  # fmt: skip
def test_bad_positions_name_the_field(position: dict, message: str, tmp_path: Path) -> None:
    config = {"version": 2, "brands": {"b": {"name": "B", "layers": [{"text": "@b", "position": position}]}}}
    with pytest.raises(BrandConfigError, match="brand 'b': " + message.replace("(", r"\(")):
        parse_brand_config(config, tmp_path)
