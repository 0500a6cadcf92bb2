"""Brand images cleaned on the way in (POST /api/brands/<id>/assets, real app): a logo on a flat background
comes back a transparent PNG trimmed to the logo; hostile files are refused in one line and nothing is
stored; a brand whose images were uploaded so saves them into its folder."""

from __future__ import annotations

import io
import json
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image, ImageDraw

from portal.brands.assets import clean_image
from tests.apptools import make_app, signed_in_client
from tests.conftest import REPO
from tests.web.server import KEY

RED = (230, 40, 40)


def round_logo(background=(0, 0, 0), size=(400, 300), ring=True) -> Image.Image:
    """A red disc on a flat background, with a hole of the background's colour inside it."""
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    draw.ellipse((100, 50, 300, 250), fill=RED)
    if ring:
        draw.ellipse((180, 130, 220, 170), fill=background)
    return image


def encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height and holds almost nothing (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4096)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


HOSTILE = {
    "bomb.png": (png_header(50_000, 50_000), 413, "bomb.png: too large"),
    "cut.png": (encoded(round_logo(), "PNG")[:900], 422, "cut.png: a broken image that does not decode"),
    "linked.svg": (
        b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" '
        b'xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="http://127.0.0.1:9/x.png"/></svg>',
        422,
        "linked.svg: SVG drawings are not accepted",
    ),
    "notes.png": (b"these are notes, not a picture", 422, "notes.png: not a PNG, JPEG or WebP image"),
}


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    shutil.copy(REPO / "brand_config.json", tmp_path / "brand_config.json")
    shutil.copytree(REPO / "brands", tmp_path / "brands")
    return signed_in_client(make_app(tmp_path / "data", brand_config=tmp_path / "brand_config.json"))


def upload(client: FlaskClient, data: bytes, name: str, brand: str = "newbrand", **fields: str):
    body = {"file": (io.BytesIO(data), name), **fields}
    return client.post(f"/api/brands/{brand}/assets", data=body, content_type="multipart/form-data")


def alpha_at(image: Image.Image, xy: tuple[int, int]) -> int:
    return image.getpixel(xy)[3]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_a_logo_on_black_comes_back_transparent_trimmed_and_keeps_its_own_black(
    client: FlaskClient, fmt: str
) -> None:
    answer = upload(client, encoded(round_logo(), fmt), f"logo.{fmt.lower()}")
    assert answer.status_code == 201, answer.get_json()
    asset = answer.get_json()["asset"]
    assert asset["name"].endswith(".png") and asset["background"] == "#000000"
    assert asset["original"] == {
        "format": fmt,
        "width": 400,
        "height": 300,
        "bytes": asset["original"]["bytes"],
    }
    stored = client.get(asset["url"])
    assert stored.status_code == 200 and stored.mimetype == "image/png"
    image = Image.open(io.BytesIO(stored.data))
    assert image.mode == "RGBA" and abs(image.width - 201) <= 2 and abs(image.height - 201) <= 2
    assert (asset["width"], asset["height"], asset["size"]) == (*image.size, len(stored.data))
    centre = image.width // 2
    assert alpha_at(image, (0, 0)) == 0 and alpha_at(image, (image.width - 1, image.height - 1)) == 0
    assert alpha_at(image, (centre, 20)) == 255  # the disc
    assert image.getpixel((centre, centre))[3] == 255 and max(image.getpixel((centre, centre))[:3]) < 40
    # the black hole inside the disc is the logo's, not the background: it stays opaque black


def test_shapes_and_clean_false_keep_what_was_sent(client: FlaskClient) -> None:
    square = Image.new("RGB", (120, 120), (20, 90, 200))  # no flat border: nothing to remove
    circle = upload(client, encoded(square, "PNG"), "sq.png", shape="circle").get_json()["asset"]
    image = Image.open(io.BytesIO(client.get(circle["url"]).data))
    assert (
        alpha_at(image, (0, 0)) == 0
        and alpha_at(image, (60, 60)) == 255
        and circle["changes"] == ["circle shape"]
    )
    rounded = upload(client, encoded(square, "PNG"), "sq.png", shape="rounded").get_json()["asset"]
    image = Image.open(io.BytesIO(client.get(rounded["url"]).data))
    assert alpha_at(image, (0, 0)) == 0 and alpha_at(image, (60, 2)) == 255
    kept = upload(client, encoded(round_logo(), "JPEG"), "raw.jpg", clean="false").get_json()["asset"]
    image = Image.open(io.BytesIO(client.get(kept["url"]).data))
    assert image.size == (400, 300) and alpha_at(image, (0, 0)) == 255 and kept["changes"] == []


def test_a_logo_whose_own_colour_touches_the_edge_keeps_it() -> None:
    image = Image.new("RGB", (200, 100), (0, 0, 0))
    ImageDraw.Draw(image).rectangle((0, 30, 199, 70), fill=RED)  # a red band from edge to edge
    cleaned = Image.open(io.BytesIO(clean_image(encoded(image, "PNG"), "band.png").png))
    assert cleaned.size == (200, 41)  # the black above and below removed and trimmed; the band whole
    assert cleaned.getpixel((0, 20)) == (*RED, 255) and cleaned.getpixel((199, 20)) == (*RED, 255)


def test_a_large_image_is_scaled_down_to_the_longest_output_side() -> None:
    big = Image.new("RGB", (3000, 1000), (20, 90, 200))
    cleaned = clean_image(encoded(big, "PNG"), "big.png")
    assert (cleaned.width, cleaned.height) == (1920, 640)
    assert cleaned.changes == ("scaled down from 3000x1000 to 1920x640",)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_images_are_refused_in_one_line_and_nothing_is_stored(
    client: FlaskClient, tmp_path: Path, name: str
) -> None:
    data, status, message = HOSTILE[name]
    answer = upload(client, data, name)
    assert answer.status_code == status
    error = answer.get_json()["error"]["message"]
    assert error.startswith(message) and "\n" not in error
    assert not [p for p in (tmp_path / "data").rglob("*") if p.is_file() and "asset-" in p.name]


@pytest.mark.parametrize(("brand", "fields", "status", "code"), [
    ("has space", {}, 422, "invalid_brand"),
    ("ok", {"shape": "star"}, 422, "bad_shape"),
    ("ok", {"clean": "maybe"}, 422, "bad_clean"),
])  # fmt: skip
def test_bad_requests_name_the_problem(
    client: FlaskClient, brand: str, fields: dict, status: int, code: str
) -> None:
    answer = upload(client, encoded(round_logo(), "PNG"), "logo.png", brand=brand, **fields)
    assert answer.status_code == status and answer.get_json()["error"]["code"] == code
    assert client.get("/api/brands/ok/assets/asset-nothing.png").status_code == 404
    assert client.get("/api/brands/ok/assets/..%2Fbrand_config.json").status_code == 404


def test_scripts_upload_with_the_key(tmp_path: Path) -> None:
    shutil.copy(REPO / "brand_config.json", tmp_path / "brand_config.json")
    app = make_app(tmp_path / "data", brand_config=tmp_path / "brand_config.json")
    plain = app.test_client()
    body = {"file": (io.BytesIO(encoded(round_logo(), "PNG")), "logo.png")}
    assert (
        plain.post("/api/brands/x/assets", data=body, content_type="multipart/form-data").status_code == 401
    )
    body = {"file": (io.BytesIO(encoded(round_logo(), "PNG")), "logo.png")}
    answer = plain.post(
        "/api/brands/x/assets", data=body, content_type="multipart/form-data", headers={"X-Portal-Key": KEY}
    )
    assert answer.status_code == 201


def test_a_saved_brand_keeps_its_uploaded_image_and_one_that_draws_nothing_is_refused(
    client: FlaskClient, tmp_path: Path
) -> None:
    asset = upload(client, encoded(round_logo(), "PNG"), "Round Logo.png").get_json()["asset"]
    brand = {"name": "New", "safe_zone": "all", "layers": [{"image": f"asset:{asset['name']}", "width": 0.2}]}
    answer = client.post(
        "/brands/newbrand", data={"brand": json.dumps(brand)}, content_type="multipart/form-data"
    )
    assert answer.status_code == 200, answer.get_json()
    saved = json.loads((tmp_path / "brand_config.json").read_text())["brands"]["newbrand"]["layers"][0]
    assert saved["image"].startswith("brands/newbrand/Round_Logo-") and saved["image"].endswith(".png")
    assert Image.open(tmp_path / saved["image"]).getpixel((0, 0))[3] == 0  # the cleaned image, as stored
    before = (tmp_path / "brand_config.json").read_text()
    hidden = {"name": "Off", "layers": [{"text": "@off", "enabled": False}]}
    answer = client.post(
        "/brands/offbrand", data={"brand": json.dumps(hidden)}, content_type="multipart/form-data"
    )
    assert (
        answer.status_code == 422
        and "brand 'offbrand' draws nothing: every layer is turned off"
        in answer.get_json()["error"]["message"]
    )
    assert (tmp_path / "brand_config.json").read_text() == before
