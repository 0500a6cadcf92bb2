"""The safe-zone presets and their projection onto every output shape (DESIGN 4.2), checked by arithmetic.

The expected margins below are worked out by hand from the 1080x1920 screen, not by the code under test:
a 1920x1080 output is shown 1080x607.5 with 656.25 px bars above and below it; a 1080x1080 output is
shown 1080x1080 with 420 px bars; a 1080x1350 (4:5) output 1080x1350 with 285 px bars; a 1080x2400 output
864x1920 with 108 px bars left and right. A UI strip covers the picture only past the bar.
"""

from __future__ import annotations

import pytest

from portal.brand_loader import parse_brand_config
from portal.media.safezone import SAFE_ZONE_PRESETS, SafeZone, project_zone

# top, bottom, left, right
PRESETS = {
    "tiktok": (0.08, 0.23, 0.06, 0.14),
    "reels": (0.14, 0.35, 0.06, 0.06),
    "shorts": (288 / 1920, 672 / 1920, 48 / 1080, 192 / 1080),
    "all": (0.15, 0.35, 0.06, 192 / 1080),
}

PROJECTED = {
    # 16:9: the bars swallow TikTok's strips; Reels' and Shorts' 672 px bottom reaches 15.75 px into it
    ("tiktok", 1920, 1080): (0, 0, 0.06, 0.14),
    ("reels", 1920, 1080): (0, 15.75 / 607.5, 0.06, 0.06),
    ("shorts", 1920, 1080): (0, 15.75 / 607.5, 48 / 1080, 192 / 1080),
    ("all", 1920, 1080): (0, 15.75 / 607.5, 0.06, 192 / 1080),
    # 1:1: the top strips stay in the bars; the bottom ones reach 441.6 - 420 and 672 - 420 px in
    ("tiktok", 1080, 1080): (0, 21.6 / 1080, 0.06, 0.14),
    ("reels", 1080, 1080): (0, 252 / 1080, 0.06, 0.06),
    ("shorts", 1080, 1080): (0, 252 / 1080, 48 / 1080, 192 / 1080),
    ("all", 1080, 1080): (0, 252 / 1080, 0.06, 192 / 1080),
    # 4:5: Shorts' 288 px top reaches 3 px past the 285 px bar
    ("tiktok", 1080, 1350): (0, 156.6 / 1350, 0.06, 0.14),
    ("reels", 1080, 1350): (0, 387 / 1350, 0.06, 0.06),
    ("shorts", 1080, 1350): (3 / 1350, 387 / 1350, 48 / 1080, 192 / 1080),
    ("all", 1080, 1350): (3 / 1350, 387 / 1350, 0.06, 192 / 1080),
    # taller than 9:16: pillarboxed, so the side strips shrink (TikTok's 151.2 px right strip by 108 px)
    ("tiktok", 1080, 2400): (0.08, 0.23, 0, 43.2 / 864),
    ("reels", 1080, 2400): (0.14, 0.35, 0, 0),
    ("shorts", 1080, 2400): (0.15, 0.35, 0, 84 / 864),
    ("all", 1080, 2400): (0.15, 0.35, 0, 84 / 864),
}


def sides(zone: SafeZone) -> tuple[float, float, float, float]:
    return zone.top, zone.bottom, zone.left, zone.right


@pytest.mark.parametrize("name", PRESETS)
def test_preset_table_is_design_4_2(name: str) -> None:
    assert sides(SAFE_ZONE_PRESETS[name]) == pytest.approx(PRESETS[name], abs=1e-9)


def test_all_is_the_union_of_the_platforms() -> None:
    platforms = [SAFE_ZONE_PRESETS[name] for name in ("tiktok", "reels", "shorts")]
    for side in ("top", "bottom", "left", "right"):
        assert getattr(SAFE_ZONE_PRESETS["all"], side) == max(getattr(zone, side) for zone in platforms)


@pytest.mark.parametrize("name", PRESETS)
@pytest.mark.parametrize("size", [(1080, 1920), (540, 960), (720, 1280)])
def test_a_9_16_output_gets_the_screen_zone_unchanged(name: str, size: tuple[int, int]) -> None:
    assert sides(project_zone(name, *size)) == pytest.approx(PRESETS[name], abs=1e-9)


@pytest.mark.parametrize(("name", "width", "height"), list(PROJECTED))
def test_other_shapes_get_the_zone_as_the_phone_shows_them(name: str, width: int, height: int) -> None:
    assert sides(project_zone(name, width, height)) == pytest.approx(PROJECTED[name, width, height], abs=1e-9)


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1080), (3840, 2160), (1080, 1920)])
def test_projection_depends_on_the_shape_not_the_size_and_none_stays_empty(size: tuple[int, int]) -> None:
    assert sides(project_zone("none", *size)) == (0, 0, 0, 0)
    if size[0] > size[1]:
        assert sides(project_zone("all", *size)) == pytest.approx(PROJECTED["all", 1920, 1080], abs=1e-9)


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1080), (1080, 1920)])
def test_explicit_fractions_apply_to_the_canvas_as_given(size: tuple[int, int]) -> None:
    config = parse_brand_config(
        {"brands": {"a": {"name": "A", "safe_zone": {"top": 0.1, "bottom": 0.2, "right": 0.3}}}}, "."
    )
    assert sides(config.brands["a"].safe_zone_for(*size)) == (0.1, 0.2, 0, 0.3)


def test_a_brand_with_a_named_zone_projects_it() -> None:
    config = parse_brand_config({"brands": {"a": {"name": "A", "safe_zone": "reels"}}}, ".")
    assert sides(config.brands["a"].safe_zone_for(1080, 1080)) == pytest.approx(
        PROJECTED["reels", 1080, 1080], abs=1e-9
    )
