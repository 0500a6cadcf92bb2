"""`wtf-portal brands import-v3`: a v3 checkout (generated) becomes a version-2 config with its assets."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from PIL import Image

from portal.brand_loader import ImageLayer, TextLayer, load_brand_config
from tests.brands.v3_checkout import BRANDING, make_v3_checkout
from tests.cli.runner import error_lines, wtf_portal


def import_v3(v3: Path, out: Path):
    return wtf_portal("brands", "import-v3", str(v3), "--out", str(out))


def test_checkout_imports_with_v3s_look(tmp_path: Path) -> None:
    v3 = make_v3_checkout(tmp_path / "v3")
    out = tmp_path / "new" / "brand_config.json"
    result = import_v3(v3, out)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("imported ScotlandWTF: watermark vertical, square, landscape, logo, text")
    assert lines[1] == "imported EnglandWTF: watermark vertical, square (landscape uses square), logo"
    assert lines[2].startswith("skipped  WalesWTF: no watermark or logo found")
    assert wtf_portal("brands", "check", "--config", str(out)).returncode == 0

    config = load_brand_config(out)
    assert config.version == 2 and list(config.brands) == ["ScotlandWTF", "EnglandWTF"]
    cover, logo, text = config.find("scotlandwtf").drawn_layers()
    assert (
        isinstance(cover, ImageLayer) and cover.fit == "cover" and (cover.scale, cover.opacity) == (1.15, 0.4)
    )
    assets = out.parent / "brand_config-assets" / "ScotlandWTF"
    assert cover.image_for("landscape") == assets / "watermark-landscape.png"
    assert Image.open(cover.image_for("vertical")).size == (1080, 1920)
    assert logo.key_color == "#000000" and logo.width == 0.15 and logo.position == "bottom-right"
    assert logo.margin == pytest.approx(40 / 720, abs=1e-4)
    assert isinstance(text, TextLayer) and text.text == "@scotlandwtf" and text.box is not None
    assert text.box.opacity == 0.6 and text.size == pytest.approx(48 / 1280)
    # every path in the written file is relative: the folder can be moved as a whole
    assert (
        "brand_config-assets/ScotlandWTF/logo.png" in out.read_text() and str(tmp_path) not in out.read_text()
    )


def test_without_database_the_conventions_are_used(tmp_path: Path) -> None:
    v3 = make_v3_checkout(tmp_path / "v3", database=False)
    result = import_v3(v3, tmp_path / "out.json")
    assert result.returncode == 0, result.stderr
    scotland = load_brand_config(tmp_path / "out.json").find("ScotlandWTF")
    assert [type(layer).__name__ for layer in scotland.drawn_layers()] == [
        "ImageLayer",
        "ImageLayer",
    ]  # no text


def assert_nothing_written(tmp_path: Path, out: Path) -> None:
    assert not out.exists() and not (out.parent / f"{out.stem}-assets").exists()
    assert not list(out.parent.glob(".import-v3-*")) if out.parent.exists() else True


@pytest.mark.parametrize(("breakage", "expected"), [
    (lambda v3: (v3 / "portal/brand_config.json").unlink(), "brand_config.json: v3's brand config not found"),
    (lambda v3: (v3 / "portal" / "brand_config.json").write_text("{"), "brand_config.json: not valid JSON"),
    (lambda v3: (v3 / BRANDING).rename(v3 / "elsewhere"), "WTF_MASTER_ASSETS/Branding: not found"),
    (lambda v3: (v3 / "portal/db/portal.db").write_bytes(b"not a database" * 100), "portal.db: cannot read"),
])  # fmt: skip
def test_unusable_checkout_is_one_line_and_writes_nothing(breakage, expected: str, tmp_path: Path) -> None:
    v3 = make_v3_checkout(tmp_path / "v3")
    breakage(v3)
    out = tmp_path / "new" / "brand_config.json"
    result = import_v3(v3, out)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = error_lines(result.stderr)
    assert expected in line and "Traceback" not in result.stderr
    assert_nothing_written(tmp_path, out)


def test_bad_assets_skip_their_brand_naming_the_file(tmp_path: Path) -> None:
    v3 = make_v3_checkout(tmp_path / "v3")
    branding = v3 / BRANDING
    # ScotlandWTF: the database names a logo that is not there, and the convention's file is gone too
    (branding / "Logos" / "Circle" / "ScotlandWTF_logo.png").unlink()
    # EnglandWTF: its vertical watermark is a JPEG under a .png name
    Image.new("RGB", (1080, 1920), (0, 200, 0)).save(
        branding / "Watermarks/Vertical_HD/England_watermark.png", "JPEG"
    )
    # BritainWTF (database only): a 40-megapixel logo
    Image.new("L", (8000, 5000)).save(branding / "Logos" / "Circle" / "BritainWTF_logo.png")
    with closing(sqlite3.connect(v3 / "portal" / "db" / "portal.db")) as db:
        db.execute(
            "INSERT INTO brands (name, display_name, created_at, updated_at) VALUES ('BritainWTF', 'B', 0, 0)"
        )
        db.commit()
    out = tmp_path / "brand_config.json"
    result = import_v3(v3, out)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert len(lines) == 4  # one line per brand, then nothing written
    assert (
        lines[0].startswith("skipped  ScotlandWTF: ") and "ScotlandWTF_logo.png: file not found" in lines[0]
    )
    assert (
        lines[1].startswith("skipped  EnglandWTF: ")
        and "England_watermark.png: a JPEG image, not PNG" in lines[1]
    )
    assert (
        lines[3].startswith("skipped  BritainWTF: ")
        and "BritainWTF_logo.png: 8000x5000 is too large" in lines[3]
    )
    assert error_lines(result.stderr) == [f"wtf-portal: {v3}: no brand could be imported; nothing written"]
    assert_nothing_written(tmp_path, out)


def test_bad_database_setting_and_existing_destination(tmp_path: Path) -> None:
    v3 = make_v3_checkout(tmp_path / "v3")
    with closing(sqlite3.connect(v3 / "portal" / "db" / "portal.db")) as db:
        db.execute("UPDATE brands SET text_position = 'sideways' WHERE name = 'ScotlandWTF'")
        db.commit()
    out = tmp_path / "brand_config.json"
    result = import_v3(v3, out)
    assert result.returncode == 0
    assert "skipped  ScotlandWTF: " in result.stdout and "text_position = 'sideways'" in result.stdout
    before = out.read_bytes()
    again = import_v3(v3, out)
    assert again.returncode == 2 and f"{out}: already exists" in again.stderr and out.read_bytes() == before
