"""brand_config.json validation: errors name the file, the brand and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from portal.brand_loader import BrandConfigError, check_brand_assets, load_brand_config
from tests.cli.runner import write_config as write
from tests.conftest import REPO


def test_shipped_config_is_valid_with_readable_assets() -> None:
    config = load_brand_config(REPO / "brand_config.json")
    assert set(config.brands) == {"watchthefall", "fallclips", "dailyfails"}
    assert check_brand_assets(config) == []


@pytest.mark.parametrize(("brand", "expected"), [
    ({"name": "A", "logo": {"path": "l.png", "position": "middle"}}, "brand 'a': logo.position"),
    ({"name": "A", "logo": {"path": "l.png", "opacity": 2}}, "brand 'a': logo.opacity"),
    ({"name": "A", "watermark": {"text": "@a", "image": "w.png"}}, "brand 'a': watermark"),
    ({"name": "A", "safe_zone": "snapchat"}, "brand 'a': safe_zone"),
    ({"name": "A", "watermark": {"text": "@a", "color": "white"}}, "brand 'a': watermark.color"),
    ({"logo": {"path": "l.png"}}, "brand 'a': name"),
    ({"name": "A", "logo": {"path": "l.png", "width": 0}}, "brand 'a': logo.width"),
    ({"name": "A", "watermark": {"text": "@a", "size": -1}}, "brand 'a': watermark.size"),
    ({"name": "A", "watermark": {"position": "top"}}, "brand 'a': watermark"),
    ({"name": "A", "logo": {"path": "l.png", "shadow": True}}, "brand 'a': logo.shadow"),
])  # fmt: skip
def test_errors_name_file_brand_and_field(brand: dict, expected: str, tmp_path: Path) -> None:
    path = write(tmp_path, {"a": brand})
    with pytest.raises(BrandConfigError) as raised:
        load_brand_config(path)
    assert str(path) in str(raised.value) and expected in str(raised.value)


def test_bad_brand_id_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(BrandConfigError, match="brand id must match"):
        load_brand_config(write(tmp_path, {"Bad Id": {"name": "X"}}))
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(BrandConfigError, match="not valid JSON"):
        load_brand_config(broken)


def test_asset_checks(tmp_path: Path) -> None:
    (tmp_path / "text.png").write_text("not an image")
    Image.new("RGB", (5000, 4000)).save(tmp_path / "huge.png")
    path = write(tmp_path, {
        "missing": {"name": "M", "logo": {"path": "gone.png"}},
        "garbage": {"name": "G", "logo": {"path": "text.png"}},
        "huge": {"name": "H", "logo": {"path": "huge.png"}},
        "stamp": {"name": "S", "watermark": {"image": "stamp.png"}},
    })  # fmt: skip
    problems = {p.brand: p.problem for p in check_brand_assets(load_brand_config(path))}
    assert len(problems) == 4
    assert problems["missing"] == "file not found" and problems["stamp"] == "file not found"
    assert problems["garbage"].startswith("not a readable image")
    assert "too large" in problems["huge"]


def test_custom_safe_zone_applies_to_every_shape(tmp_path: Path) -> None:
    config = load_brand_config(
        write(tmp_path, {"a": {"name": "A", "safe_zone": {"top": 0.1, "bottom": 0.2}}})
    )
    assert config.brands["a"].safe_zone_for(1920, 1080).top == 0.1
    preset = load_brand_config(write(tmp_path, {"b": {"name": "B", "safe_zone": "tiktok"}}))
    assert preset.brands["b"].safe_zone_for(1920, 1080).top == 0
    assert preset.brands["b"].safe_zone_for(1080, 1920).top == 0.08
