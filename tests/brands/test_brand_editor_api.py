"""The brand editor's endpoints (real app, test client): bad input is a readable JSON error, nothing saved;
a preview can be drawn on an upload's frame; a save keeps fields the editor does not show."""

from __future__ import annotations

import io
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from flask.testing import FlaskClient
from PIL import Image

from portal.app import create_app
from portal.brand_loader import load_brand_config
from portal.config import load_settings
from tests.apptools import signed_in_client
from tests.conftest import REPO
from tests.mediagen import make_clip
from tests.web.server import KEY


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    shutil.copy(REPO / "brand_config.json", tmp_path / "brand_config.json")
    shutil.copytree(REPO / "brands", tmp_path / "brands")
    settings = load_settings(
        portal_key=KEY,
        secret_key="s" * 32,
        data_dir=tmp_path / "data",
        brand_config=tmp_path / "brand_config.json",
    )
    return signed_in_client(create_app(settings))


def post(client: FlaskClient, path: str, brand: object, **extra) -> object:
    data = {"brand": brand if isinstance(brand, str) else json.dumps(brand), **extra}
    return client.post(path, data=data, content_type="multipart/form-data")


@pytest.mark.parametrize(("brand", "extra", "status", "message"), [
    ("{", {}, 400, "field 'brand': not valid JSON"),
    ([1], {}, 422, "expected an object"),
    ({"name": "A", "layers": [{"image": "asset:asset-gone.png"}]}, {}, 404, "no brand image 'asset-gone"),
    ({"name": "A", "layers": [{"image": "gone.png"}]}, {}, 422, "gone.png: file not found"),
    ({"name": "A", "layers": [{"text": "@a", "opacity": 2}]}, {}, 422, "layers.0.opacity"),
    ({"name": "A", "layers": []}, {}, 422, "brand 'newbrand' has no layers: add an image or a text layer"),
    ({"name": "A"}, {}, 422, "brand 'newbrand' has no layers"),
])  # fmt: skip
def test_bad_edits_are_json_errors_and_save_nothing(
    client: FlaskClient, tmp_path: Path, brand: object, extra: dict, status: int, message: str
) -> None:
    before = (tmp_path / "brand_config.json").read_text()
    answer = post(client, "/brands/newbrand", brand, **extra)
    assert answer.status_code == status and message in answer.get_json()["error"]["message"]
    assert (tmp_path / "brand_config.json").read_text() == before
    assert not list((tmp_path / "data" / "temp").rglob("*.png"))  # nothing staged is left


def test_a_bad_brand_id_is_refused_saying_what_is_allowed(client: FlaskClient, tmp_path: Path) -> None:
    before = (tmp_path / "brand_config.json").read_text()
    answer = post(client, "/brands/-fall daily!", {"name": "A", "layers": [{"text": "@a"}]})
    assert answer.status_code == 422
    assert answer.get_json()["error"] == {
        "code": "invalid_brand",
        "message": "brand id: letters, digits, - and _, starting with a letter or digit, up to 64 characters",
    }
    assert (tmp_path / "brand_config.json").read_text() == before


def test_preview_on_an_upload_and_unknown_clip(client: FlaskClient, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "mine.mp4", width=320, height=180, duration=1.0)
    with clip.open("rb") as handle:
        upload = client.post(
            "/api/uploads", data={"file": (handle, "mine.mp4")}, content_type="multipart/form-data"
        )
    upload_id = upload.get_json()["upload"]["id"]
    brand = {"name": "WatchTheFall", "layers": [{"text": "@w", "box": {}}]}
    answer = post(
        client, "/brands/WATCHTHEFALL/preview", brand, preset="landscape", frame=f"upload:{upload_id}"
    )
    assert answer.status_code == 200 and Image.open(io.BytesIO(answer.data)).size == (1920, 1080)
    missing = post(client, "/brands/watchthefall/preview", brand, frame="upload:nope")
    assert missing.status_code == 404 and "no clip 'upload:nope'" in missing.get_json()["error"]["message"]
    assert "upload:" + upload_id in client.get("/brands").get_data(as_text=True)  # offered on the page


def test_save_converts_to_layers_and_keeps_unshown_fields(client: FlaskClient, tmp_path: Path) -> None:
    page = client.get("/brands").get_data(as_text=True)
    assert '"layers": [{"image": "brands/fallclips/logo.png"' in page  # the editor starts from layers
    Image.new("RGBA", (40, 40), (255, 0, 0, 255)).save(buffer := io.BytesIO(), "PNG")
    buffer.seek(0)
    asset = client.post(
        "/api/brands/fallclips/assets", data={"file": (buffer, "wm.png"), "clean": "false"},
        content_type="multipart/form-data",
    ).get_json()["asset"]  # fmt: skip
    shaped = {"vertical": f"asset:{asset['name']}", "square": "brands/fallclips/logo.png"}
    brand = {"name": "FallClips", "safe_zone": "reels", "layers": [
        {"image": "brands/fallclips/logo.png", "size": 0.1, "enabled": False},
        {"image": shaped, "fit": "cover"},
    ]}  # fmt: skip
    answer = post(client, "/brands/FallClips", brand)
    assert answer.status_code == 200, answer.get_json()
    saved = json.loads((tmp_path / "brand_config.json").read_text())
    assert saved["version"] == 2 and "logo" not in saved["brands"]["fallclips"]
    first, cover = saved["brands"]["fallclips"]["layers"]
    assert first["size"] == 0.1 and first["enabled"] is False
    assert cover["image"]["vertical"].startswith("brands/fallclips/wm-")
    assert (tmp_path / cover["image"]["vertical"]).is_file()
    assert (
        saved["brands"]["watchthefall"]["logo"]["path"] == "brands/watchthefall/logo.png"
    )  # others as they were


def test_previews_of_one_image_at_once_all_draw_it(client: FlaskClient, tmp_path: Path) -> None:
    """The editor fires a preview per change, so several can draw the same uploaded image at the same time;
    one finishing must not take the image from under another (it did: a 500 mid-drag)."""
    Image.new("RGBA", (60, 60), (255, 0, 0, 255)).save(buffer := io.BytesIO(), "PNG")
    buffer.seek(0)
    asset = client.post(
        "/api/brands/kit/assets", data={"file": (buffer, "logo.png"), "clean": "false"},
        content_type="multipart/form-data",
    ).get_json()["asset"]  # fmt: skip
    brand = json.dumps({"name": "Kit", "layers": [{"image": f"asset:{asset['name']}", "width": 0.2}]})
    editors = [client, *(signed_in_client(client.application) for _ in range(3))]  # four open tabs

    def previews(editor: FlaskClient) -> list[int]:
        form = {"brand": brand}
        return [editor.post("/brands/kit/preview", data=form).status_code for _ in range(3)]

    with ThreadPoolExecutor(len(editors)) as pool:
        assert list(pool.map(previews, editors)) == [[200] * 3] * len(editors)
    assert not list((tmp_path / "data" / "temp").rglob("*.png"))  # every request cleaned up after itself


GLOSSARY = ["WatchTheFall", "@captioned"]
CAPTIONED = {"name": "Captioned", "safe_zone": "tiktok", "glossary": GLOSSARY, "layers": [
    {"text": "@captioned", "position": "top"},
    {"captions": {"size": 0.06, "highlight": None, "box": {"color": "#101010", "opacity": 0.7},
                  "max_lines": 1, "max_chars": 24, "position": {"vertical": "top", "landscape": "center"}}},
    {"captions": {"outline": None, "color": "#FFEE00"}, "enabled": False},
]}  # fmt: skip


def editor_brand(client: FlaskClient, brand_id: str) -> dict:
    """The brand as the editor starts from it (the JSON in its form), which it posts back with its changes."""
    page = client.get("/brands").get_data(as_text=True)
    section = page[page.index(f'data-brand="{brand_id}"') :]
    start = section.index('class="brand-json">') + len('class="brand-json">')
    return json.loads(section[start : section.index("</script>", start)])


@pytest.fixture
def captioned(tmp_path: Path) -> FlaskClient:
    """A client of a service whose config has the brand CAPTIONED (written before the app first reads it)."""
    path = tmp_path / "brand_config.json"
    config = json.loads((REPO / "brand_config.json").read_text())
    path.write_text(json.dumps({"version": 2, "brands": {**config["brands"], "captioned": CAPTIONED}}))
    shutil.copytree(REPO / "brands", tmp_path / "brands")
    settings = load_settings(
        portal_key=KEY, secret_key="s" * 32, data_dir=tmp_path / "data", brand_config=path
    )
    return signed_in_client(create_app(settings))


def test_a_brand_with_captions_round_trips_through_the_editor_unchanged(
    captioned: FlaskClient, tmp_path: Path
) -> None:
    client, path = captioned, tmp_path / "brand_config.json"
    before = load_brand_config(path).brands["captioned"]

    shown = editor_brand(client, "captioned")
    assert [sorted(layer) for layer in shown["layers"]] == [
        ["color", "margin", "opacity", "position", "size", "text"], ["captions"], ["captions", "enabled"],
    ]  # fmt: skip
    answer = post(client, "/brands/captioned", shown)
    assert answer.status_code == 200, answer.get_json()
    assert load_brand_config(path).brands["captioned"] == before  # every setting, shown or not, as it was
    saved = json.loads(path.read_text())["brands"]["captioned"]
    style = saved["layers"][1]["captions"]
    assert style["highlight"] is None and style["position"] == {"vertical": "top", "landscape": "center"}
    assert (style["max_lines"], style["max_chars"]) == (1, 24)
    assert style["box"] == {"color": "#101010", "opacity": 0.7}
    off = saved["layers"][2]
    assert off["enabled"] is False and off["captions"]["outline"] is None
    assert saved["glossary"] == GLOSSARY
    assert editor_brand(client, "captioned") == shown  # and the editor shows it as before


@pytest.mark.parametrize(("glossary", "message"), [
    (["x" * 61], "glossary.0: String should have at most 60 characters"),
    (["ok", ""], "glossary.1: String should have at least 1 character"),
    ("WatchTheFall", "glossary: Input should be a valid tuple"),
])  # fmt: skip
def test_a_bad_glossary_is_refused_like_the_loader_refuses_it(
    client: FlaskClient, tmp_path: Path, glossary: object, message: str
) -> None:
    before = (tmp_path / "brand_config.json").read_text()
    answer = post(client, "/brands/newbrand", {"name": "A", "layers": [{"text": "@a"}], "glossary": glossary})
    assert answer.status_code == 422 and message in answer.get_json()["error"]["message"]
    assert (tmp_path / "brand_config.json").read_text() == before


def test_the_preview_outlines_where_captions_go_with_a_sample_drawn_there(client: FlaskClient) -> None:
    captions = {"captions": {"highlight": "#00FF00", "position": "center"}}
    brand = {"name": "C", "safe_zone": "tiktok", "layers": [{"text": "@c"}, captions]}
    answer = post(client, "/brands/newbrand/preview", brand, preset="vertical")
    assert answer.status_code == 200, answer.get_json()
    layout = json.loads(answer.headers["X-Brand-Layout"])
    text, captions = layout["layers"]
    assert text["index"] == 0 and "captions" not in text
    assert captions["index"] == 1 and captions["captions"] is True
    zone = layout["zone"]
    assert captions["x"] >= zone["left"] * 1080
    assert captions["x"] + captions["width"] <= (1 - zone["right"]) * 1080
    # the sample caption, its first word in the highlight colour, is drawn inside that outline only
    pixels = np.asarray(Image.open(io.BytesIO(answer.data)).convert("RGB")).astype(int)
    red, green, blue = pixels[..., 0], pixels[..., 1], pixels[..., 2]
    ys, xs = np.nonzero((green > 180) & (red < 90) & (blue < 90))
    assert len(xs) > 50, "no highlighted sample word drawn"
    assert captions["x"] <= xs.min() and xs.max() <= captions["x"] + captions["width"]
    assert captions["y"] <= ys.min() and ys.max() <= captions["y"] + captions["height"]
