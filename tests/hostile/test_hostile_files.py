"""Hostile images and brand files: a picture that decodes or scales to gigabytes, a bundle that inflates,
asset paths that lead out of their folder. Each is refused, naming the limit, before it costs anything;
a path outside its folder gets one message whether or not the file exists."""

from __future__ import annotations

import gzip
import io
import json
import re
import shutil
import sqlite3
import tarfile
import zlib
from contextlib import closing
from pathlib import Path

import pytest
from PIL import Image

from portal.app import create_app
from portal.brand_loader import Brand, BrandConfigError, load_brand_config
from portal.brands.store import MAX_BUNDLE_MEMBERS, extract_bundle
from portal.brands.v3_import import import_v3
from portal.config import load_settings
from portal.media.images import MAX_IMAGE_BYTES, ImageLimitError, open_image
from portal.media.layers import OverlayArt
from portal.media.overlays import art_size, render_art
from portal.video_processor import render_preview
from tests.apptools import signed_in_client
from tests.brands.v3_checkout import make_v3_checkout
from tests.conftest import REPO
from tests.web.server import KEY


def _png(path: Path, size: tuple[int, int]) -> Path:
    Image.new("RGBA", size, (255, 0, 0, 255)).save(path)
    return path


def _png_claiming(path: Path, width: int, height: int) -> Path:
    """A 1x1 PNG whose header (IHDR) claims width x height: a few bytes that would decode to gigabytes."""
    data = bytearray(io.BytesIO(_png(path, (1, 1)).read_bytes()).getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = crc.to_bytes(4, "big")
    path.write_bytes(bytes(data))
    return path


def test_a_picture_declaring_gigapixels_is_refused_before_decoding(tmp_path: Path) -> None:
    claim = _png_claiming(tmp_path / "claim.png", 100_000, 100_000)
    assert claim.stat().st_size < 200
    with pytest.raises(ImageLimitError, match=r"claim\.png: is too large"):
        open_image(claim)
    with pytest.raises(ImageLimitError, match=r"claim\.png: 5000x5000 is too large"):
        open_image(_png_claiming(claim, 5000, 5000))  # beyond ours, within Pillow's own guard


def test_a_one_pixel_wide_full_frame_layer_is_refused_naming_the_limit(tmp_path: Path) -> None:
    thin = OverlayArt(image=_png(tmp_path / "thin.png", (1, 4000)), cover=1.0)
    with pytest.raises(ImageLimitError, match=r"1x4000 is too thin for a cover \(at most 8:1\)"):
        art_size(thin)
    brand = Brand.model_validate(
        {"id": "thin", "name": "Thin", "layers": [{"image": str(thin.image), "fit": "cover"}]}
    )
    with pytest.raises(ImageLimitError, match="too thin for a cover"):
        render_preview(brand, "vertical")


def test_a_thin_cover_is_scaled_no_larger_than_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thinnest cover allowed (1x8) covering a 1080x1920 frame: scaled as a whole it would be 1080x8640;
    only its visible part is scaled, so no picture larger than the output is ever made."""
    art = OverlayArt(image=_png(tmp_path / "strip.png", (1, 8)), cover=1.0)
    made: list[tuple[int, int]] = []
    resize = Image.Image.resize

    def recorded(self: Image.Image, size, *args, **kwargs):  # records what Pillow is asked to make
        made.append(tuple(size))
        return resize(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", recorded)  # a spy: Pillow still does the work
    out = render_art(art, 1080, 1920, tmp_path / "out.png")
    with Image.open(out) as picture:
        assert picture.size == (1080, 1920)
    assert made and all(w <= 1080 and h <= 1920 for w, h in made), made


def test_a_text_layer_too_long_to_draw_is_refused() -> None:
    with pytest.raises(ImageLimitError, match="too thin for a text"):
        art_size(OverlayArt(text="@" + "w" * 200))


# --- the brand bundle ----------------------------------------------------------------------------------


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def test_a_compressed_bundle_is_refused_not_inflated(tmp_path: Path) -> None:
    # 64 MB of zeros in 64 KB: inflated, it would land on every machine's disk
    bomb = gzip.compress(_tar({"brand_config.json": b"{}", "brands/a/logo.png": bytes(64 * 1024 * 1024)}))
    assert len(bomb) < 200_000
    with pytest.raises(BrandConfigError, match="not an uncompressed tar"):
        extract_bundle(bomb, tmp_path / "v1", "s3://b/brands.tar")
    assert not (tmp_path / "v1").exists()


def test_bundle_members_are_capped_in_size_and_number(tmp_path: Path) -> None:
    big = _tar({"brand_config.json": b"{}", "brands/a/logo.png": bytes(MAX_IMAGE_BYTES + 1)})
    with pytest.raises(BrandConfigError, match=r"'brands/a/logo\.png' is over the limit of 10 MB"):
        extract_bundle(big, tmp_path / "v1", "bundle")
    many = _tar({f"f{i}": b"" for i in range(MAX_BUNDLE_MEMBERS + 1)})
    with pytest.raises(BrandConfigError, match=f"over the limit of {MAX_BUNDLE_MEMBERS} files"):
        extract_bundle(many, tmp_path / "v2", "bundle")
    assert not list(tmp_path.iterdir())


# --- asset paths ---------------------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> dict[str, str]:
    """Two asset paths leading out of a brands folder (tmp/brands/): one names a real image, one nothing."""
    _png(tmp_path / "secret.png", (64, 64))
    return {"exists": "../secret.png", "missing": "../no-such-file.png"}


def _without_path(message: str) -> str:
    """The message with the (first) quoted path it names taken out."""
    return re.sub(r"'[^']*'", "PATH", message, count=1)


def test_a_bundle_config_naming_files_outside_is_refused_alike(tmp_path: Path, outside: dict) -> None:
    messages = []
    for which, path in outside.items():
        config = {"version": 2, "brands": {"a": {"name": "A", "layers": [{"image": path}]}}}
        body = _tar({"brand_config.json": json.dumps(config).encode()})
        folder = tmp_path / "brands" / which
        extract_bundle(body, folder, "bundle")
        with pytest.raises(BrandConfigError) as refused:
            load_brand_config(folder / "brand_config.json", confined=True)
        messages.append(_without_path(str(refused.value)))
    assert messages[0] == messages[1]
    assert "must stay inside its brands folder" in messages[0]


def test_the_editor_refuses_paths_outside_alike(tmp_path: Path, outside: dict) -> None:
    shutil.copy(REPO / "brand_config.json", tmp_path / "brand_config.json")
    shutil.copytree(REPO / "brands", tmp_path / "brands")
    settings = load_settings(
        portal_key=KEY, secret_key="s" * 32, data_dir=tmp_path / "data",
        brand_config=tmp_path / "brand_config.json",
    )  # fmt: skip
    client = signed_in_client(create_app(settings))
    messages = []
    for path in (outside["exists"], outside["missing"], "/etc/hostname", "/etc/no-such-file"):
        brand = {"name": "A", "layers": [{"image": path}]}
        for route in ("/brands/newbrand", "/brands/newbrand/preview"):
            answer = client.post(route, data={"brand": json.dumps(brand)}, content_type="multipart/form-data")
            assert answer.status_code == 422, answer.get_data(as_text=True)
            messages.append(_without_path(answer.get_json()["error"]["message"]))
    assert len(set(messages)) == 1, messages
    assert "must stay inside its brands folder" in messages[0]


def test_v3_rows_naming_files_outside_skip_their_brand_alike(tmp_path: Path, outside: dict) -> None:
    lines = []
    for which, path in outside.items():
        v3 = make_v3_checkout(tmp_path / which / "v3")
        _png(tmp_path / which / "secret.png", (64, 64))
        stored = "..\\" + path.removeprefix("../")  # v3's Windows spelling, relative to its root
        with closing(sqlite3.connect(v3 / "portal" / "db" / "portal.db")) as db:
            db.execute("UPDATE brands SET logo_path = ? WHERE name = 'ScotlandWTF'", (stored,))
            db.commit()
        result = import_v3(v3, tmp_path / which / "brand_config.json")
        (line,) = [str(outcome) for outcome in result.outcomes if outcome.brand == "ScotlandWTF"]
        lines.append(_without_path(line).replace(str(tmp_path / which), "ROOT"))
    assert lines[0] == lines[1]
    assert lines[0].startswith("skipped  ScotlandWTF: ") and "must stay inside its brands folder" in lines[0]
