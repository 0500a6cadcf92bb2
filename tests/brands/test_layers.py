"""brand_config.json version 2: layers, per-shape images, case-insensitive ids; version 1 unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from portal.brand_loader import (
    BrandConfigError,
    ImageLayer,
    TextLayer,
    UnknownBrandError,
    config_to_json,
    load_brand_config,
    parse_brand_config,
    save_brand_config,
)
from tests.conftest import REPO

SCOTLAND = {
    "name": "ScotlandWTF",
    "safe_zone": "all",
    "layers": [
        {
            "image": {"vertical": "wm-v.png", "landscape": "wm-l.png"},
            "fit": "cover",
            "scale": 1.15,
            "opacity": 0.4,
        },
        {
            "image": "logo.png",
            "key_color": "#000000",
            "position": "bottom-right",
            "width": 0.15,
            "margin": 0.037,
        },
        {
            "text": "@scotlandwtf",
            "position": "auto",
            "size": 0.025,
            "box": {"color": "#000000", "opacity": 0.6},
        },
    ],
}


def write_v2(folder: Path, brands: dict) -> Path:
    path = folder / "brand_config.json"
    path.write_text(json.dumps({"version": 2, "brands": brands}))
    return path


def test_design_example_loads_and_round_trips(tmp_path: Path) -> None:
    path = write_v2(tmp_path, {"ScotlandWTF": SCOTLAND})
    config = load_brand_config(path)
    cover, logo, text = config.find("ScotlandWTF").drawn_layers()
    assert isinstance(cover, ImageLayer) and cover.fit == "cover" and cover.scale == 1.15
    assert logo.key_color == "#000000" and logo.width == 0.15
    assert isinstance(text, TextLayer) and text.box is not None and text.position == "auto"
    # a missing shape uses the nearest one: square falls back to vertical, then landscape
    assert cover.image_for("square") == tmp_path / "wm-v.png"
    assert cover.image_for("landscape") == tmp_path / "wm-l.png"
    save_brand_config(config, path)
    assert load_brand_config(path) == config.model_copy(update={"source": path})
    written = json.loads(path.read_text())
    assert written["version"] == 2
    assert written["brands"]["ScotlandWTF"]["layers"][0]["image"] == {
        "vertical": "wm-v.png",
        "landscape": "wm-l.png",
    }


def test_ids_any_case_lookup_and_unique_ignoring_case(tmp_path: Path) -> None:
    config = load_brand_config(write_v2(tmp_path, {"ScotlandWTF": SCOTLAND, "wales-wtf_2": {"name": "W"}}))
    assert config.find("scotlandwtf").id == "ScotlandWTF"
    assert [b.id for b in config.select(["SCOTLANDWTF", "Wales-WTF_2", "scotlandwtf"])] == [
        "ScotlandWTF",
        "wales-wtf_2",
    ]
    with pytest.raises(UnknownBrandError, match="'nope'"):
        config.select(["scotlandwtf", "nope"])
    with pytest.raises(BrandConfigError, match="differ only in case"):
        load_brand_config(write_v2(tmp_path, {"ScotlandWTF": {"name": "A"}, "scotlandwtf": {"name": "B"}}))
    for bad in ("-lead", "has space", "x" * 65):
        with pytest.raises(BrandConfigError, match="brand id must match"):
            load_brand_config(write_v2(tmp_path, {bad: {"name": "A"}}))


@pytest.mark.parametrize(("layer", "expected"), [
    ({"image": "a.png", "fit": "cover", "width": 0.2}, "a cover layer fills the frame: remove width"),
    ({"image": "a.png", "scale": 2}, "'scale' is for fit: cover layers"),
    ({"image": "a.png", "width": 0.2, "size": 0.1}, "give 'width' or 'size', not both"),
    ({"image": "a.png", "key_color": "black"}, "layers.0.key_color"),
    ({"image": {"round": "a.png"}}, "layers.0.image.round"),
    ({"image": "a.png", "opacity": 1.5}, "layers.0.opacity"),
    ({"text": "@a", "box": {"opacity": -1}}, "layers.0.box.opacity"),
    ({"text": "@a", "position": "middle"}, "layers.0.position"),
    ({"text": ""}, "layers.0.text"),
    ({"text": "@a", "font": "Arial"}, "layers.0.font"),
])  # fmt: skip
def test_layer_errors_name_brand_layer_and_field(layer: dict, expected: str, tmp_path: Path) -> None:
    path = write_v2(tmp_path, {"a": {"name": "A", "layers": [layer]}})
    with pytest.raises(BrandConfigError) as raised:
        load_brand_config(path)
    assert (
        str(path) in str(raised.value) and "brand 'a'" in str(raised.value) and expected in str(raised.value)
    )


def test_layers_need_version_2(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"version": 1, "brands": {"a": {"name": "A", "layers": []}}}))
    with pytest.raises(BrandConfigError, match='layers need "version": 2'):
        load_brand_config(path)


def test_version_1_means_what_it_meant() -> None:
    """The shipped version-1 config: its logo and watermark are the layers the engine draws, in order."""
    config = load_brand_config(REPO / "brand_config.json")
    assert config.version == 1
    for brand in config.brands.values():
        layers = brand.drawn_layers()
        expected = [spec for spec in (brand.logo, brand.watermark) if spec is not None]
        assert len(layers) == len(expected)
        if brand.logo:
            assert layers[0] == ImageLayer(
                image=brand.logo.path, position=brand.logo.position, width=brand.logo.width,
                opacity=brand.logo.opacity, margin=brand.logo.margin,
            )  # fmt: skip
        if brand.watermark and brand.watermark.text:
            assert layers[-1] == TextLayer(**brand.watermark.model_dump(exclude={"image"}))
    # written back, a version-1 config stays version 1, with no layers key
    data = config_to_json(config, REPO)
    assert data["version"] == 1 and not any("layers" in b for b in data["brands"].values())
    assert parse_brand_config(data, REPO) == config.model_copy(update={"source": None})


def test_as_layers_and_with_brand_keep_place_and_bump_version() -> None:
    config = load_brand_config(REPO / "brand_config.json")
    first = next(iter(config.brands.values()))
    layered = first.as_layers()
    assert (
        layered.logo is None and layered.watermark is None and layered.drawn_layers() == first.drawn_layers()
    )
    updated = config.with_brand(layered.model_copy(update={"id": first.id.upper()}))
    assert next(iter(updated.brands)) == first.id.upper() and updated.version == 2
    assert len(updated.brands) == len(config.brands)


def test_disabled_layer_is_kept_not_drawn(tmp_path: Path) -> None:
    path = write_v2(
        tmp_path, {"a": {"name": "A", "layers": [{"text": "@a", "enabled": False}, {"text": "@b"}]}}
    )
    brand = load_brand_config(path).find("A")
    assert [layer.text for layer in brand.drawn_layers()] == ["@b"] and len(brand.layers) == 2
