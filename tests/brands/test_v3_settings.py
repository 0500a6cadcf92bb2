"""v3's per-brand settings <-> layers: what v3's GET/POST /api/brands/<name>/config read and write."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from portal.brand_loader import Brand, ImageLayer, TextLayer, load_brand_config
from portal.brands.v3_import import V3Settings, apply_v3_settings, v3_layers, v3_settings
from tests.conftest import REPO

V3_DEFAULTS = {
    "watermark_scale": 1.15, "watermark_opacity": 0.4, "logo_scale": 0.15, "logo_padding": 40,
    "text_enabled": False, "text_content": "", "text_position": "bottom", "text_size": 48,
    "text_color": "#FFFFFF", "text_bg_enabled": True, "text_bg_color": "#000000", "text_bg_opacity": 0.6,
    "text_margin": 40,
}  # fmt: skip


def imported(settings: V3Settings | None = None) -> Brand:
    layers = v3_layers(
        settings or V3Settings(),
        {"vertical": Path("/v3/v.png"), "square": Path("/v3/s.png")},
        Path("/v3/l.png"),
    )
    return Brand(id="ScotlandWTF", name="ScotlandWTF", safe_zone="all", layers=layers)


def test_imported_brand_reads_back_v3_defaults() -> None:
    brand = imported()
    assert v3_settings(brand) == V3_DEFAULTS
    cover, logo = brand.drawn_layers()
    assert cover.fit == "cover" and cover.scale == 1.15 and cover.opacity == 0.4
    assert logo.key_color == "#000000" and logo.position == "bottom-right" and logo.width == 0.15
    assert logo.margin == pytest.approx(40 / 720, abs=1e-4)


def test_post_changes_only_what_it_names_and_round_trips() -> None:
    changes = {
        "watermark_opacity": 0.25, "logo_padding": 20, "text_enabled": True, "text_content": "@scotland",
        "text_position": "top", "text_size": 64, "text_bg_opacity": 0.8, "text_color": "#ffcc00",
    }  # fmt: skip
    brand = apply_v3_settings(imported(), changes)
    assert v3_settings(brand) == {**V3_DEFAULTS, **changes, "text_color": "#FFCC00"}
    text = brand.drawn_layers()[-1]
    assert isinstance(text, TextLayer) and text.box is not None and text.box.opacity == 0.8
    assert text.size == pytest.approx(64 / 1280) and text.margin == pytest.approx(40 / 720, abs=1e-4)
    # turning the text off keeps its content (v3 kept it too) but stops drawing it
    off = apply_v3_settings(brand, {"text_enabled": False})
    assert v3_settings(off)["text_content"] == "@scotland" and len(off.drawn_layers()) == 2


def test_version_1_brand_keeps_unasked_values_exactly() -> None:
    brand = load_brand_config(REPO / "brand_config.json").find("watchthefall")
    changed = apply_v3_settings(brand, {"logo_scale": 0.2})
    logo = changed.layers[0]
    assert isinstance(logo, ImageLayer) and logo.width == 0.2 and logo.margin == brand.logo.margin
    assert changed.layers[1:] == brand.drawn_layers()[1:] and changed.logo is None


def test_settings_for_missing_parts_change_nothing() -> None:
    bare = Brand(id="Bare", name="Bare")
    assert apply_v3_settings(bare, {"watermark_scale": 2, "logo_scale": 0.3}).layers == ()


@pytest.mark.parametrize("bad", [
    {"text_position": "left"}, {"watermark_opacity": 2}, {"text_color": "red"}, {"logo_scale": 0},
])  # fmt: skip
def test_bad_values_raise(bad: dict) -> None:
    with pytest.raises(ValidationError):
        apply_v3_settings(imported(), bad)
