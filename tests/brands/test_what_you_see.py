"""What the editor shows is what renders: for every shape, the rectangles the brand editor outlines (the
preview's layout, POST /brands/<id>/preview) are where a render puts the overlays, read off the output's
first frame (PyAV), within 2 px at 1080 wide."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from portal.brand_loader import SHAPES, load_brand_config
from portal.video_processor import render_source
from tests.apptools import make_app, signed_in_client
from tests.conftest import REPO
from tests.engine.inspect_output import colour_bbox, first_frame
from tests.mediagen import ffmpeg

RED, BLUE = (230, 40, 40), (40, 60, 230)


def test_the_editors_outlines_are_where_each_shape_renders_its_layers(tmp_path: Path) -> None:
    shutil.copy(REPO / "brand_config.json", tmp_path / "brand_config.json")
    Image.new("RGB", (300, 300), RED).save(tmp_path / "red.png")
    Image.new("RGB", (400, 100), BLUE).save(tmp_path / "blue.png")
    brand = {"name": "Seen", "safe_zone": "tiktok", "layers": [
        {"image": "red.png", "width": {"vertical": 0.2, "landscape": 0.1},
         "position": {"vertical": {"x": 0.3, "y": 0.4}, "portrait": "bottom-right",
                      "square": {"x": 0.7, "y": 0.6}, "landscape": {"x": 0.95, "y": 0.05}}},
        {"image": "blue.png", "width": 0.25, "position": {"vertical": "top", "square": {"x": 0.25, "y": 0.3}},
         "margin": {"portrait": 0.08, "landscape": 0.0}},
    ]}  # fmt: skip
    client = signed_in_client(make_app(tmp_path / "data", brand_config=tmp_path / "brand_config.json"))
    answer = client.post(
        "/brands/seen", data={"brand": json.dumps(brand)}, content_type="multipart/form-data"
    )
    assert answer.status_code == 200, answer.get_json()
    clip = tmp_path / "grey.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=0x808080:s=360x640:d=0.5", "-pix_fmt", "yuv420p", str(clip))
    saved = load_brand_config(tmp_path / "brand_config.json").brands["seen"]
    for shape in SHAPES:
        answer = client.post(
            "/brands/seen/preview", data={"brand": json.dumps(brand), "preset": shape},
            content_type="multipart/form-data",
        )  # fmt: skip
        layout = json.loads(answer.headers["X-Brand-Layout"])
        output = render_source(clip, [saved], tmp_path / shape, preset=shape)[0]
        assert (output.width, output.height) == (layout["width"], layout["height"])
        frame = first_frame(output.path).to_image()
        for placed, colour in zip(layout["layers"], (RED, BLUE), strict=True):
            left, top, right, bottom = colour_bbox(frame, colour)
            shown = (placed["x"], placed["y"], placed["width"], placed["height"])
            assert (left, top, right - left, bottom - top) == pytest.approx(shown, abs=2), (shape, colour)
