"""Captions in the brand editor, in real Chromium: a user adds a captions layer to a brand, styles it, gives
the brand a glossary and saves; a render of a clip with an SRT puts the captions where the editor's
outline showed them (read back off the frames)."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.browser.conftest import screenshot, wait_until
from tests.browser.test_brand_layers import config_path, slide
from tests.browser.test_dashboard import sign_in
from tests.captions.test_burn_in import _black_clip, _frame, _ocr
from tests.conftest import require_program
from tests.web.server import Server

pytestmark = pytest.mark.browser

SRT = "1\n00:00:00,200 --> 00:00:02,800\nHELLO WORLD\n"
GREEN = "#00FF00"
BOX = "section[data-brand=capkit] .captions-box"
# Pixels of the live preview in the highlight colour: [inside the captions outline, outside it].
GREEN_IN_PREVIEW = """(box) => {
  const img = document.querySelector('section[data-brand=capkit] .live-preview img');
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  const counts = [0, 0];
  for (let i = 0; i < data.length; i += 4) {
    if (!(data[i + 1] > 180 && data[i] < 90 && data[i + 2] < 90)) continue;
    const x = (i / 4) % canvas.width, y = Math.floor(i / 4 / canvas.width);
    const inside = x >= box.x && x <= box.x + box.w && y >= box.y && y <= box.y + box.h;
    counts[inside ? 0 : 1] += 1;
  }
  return counts;
}"""


def colour(control, value: str) -> None:
    """Pick a colour as the browser's picker would: set the value, fire `input`."""
    control.evaluate(
        "(e, v) => { e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }", value
    )


def green_pixels(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    red, green, blue = (frame[..., channel].astype(int) for channel in range(3))
    return np.nonzero((green > 150) & (red < 110) & (blue < 110))


def test_captions_added_in_the_editor_render_where_its_outline_showed(
    page, service: Server, tmp_path: Path
) -> None:
    require_program("tesseract", shutil.which("tesseract") is not None)
    path = config_path(service)
    config = json.loads(path.read_text())
    config["version"] = 2
    config["brands"]["capkit"] = {"name": "CapKit", "safe_zone": "tiktok",
                                  "layers": [{"text": "@capkit", "position": "top"}]}  # fmt: skip
    path.write_text(json.dumps(config))

    sign_in(page)
    page.goto("/brands")
    section = page.locator("section[data-brand=capkit]")
    section.get_by_text("Edit layers and settings").click()
    section.get_by_role("button", name="Add captions").click()
    captions = section.locator("fieldset.layer.captions")
    assert captions.locator("legend").inner_text() == "Layer 2: Captions"
    assert section.get_by_role("button", name="Add captions").is_disabled()  # one captions layer a brand
    captions.get_by_label("Position").select_option("center")
    slide(captions.locator("input[name=size]"), 0.06)
    colour(captions.get_by_label("Highlight colour"), GREEN.lower())
    section.get_by_label("Glossary").fill("WatchTheFall, @capkit\nScotlandWTF")
    with page.expect_response(lambda r: r.url.endswith("/brands/capkit/preview")) as answer:
        section.get_by_role("button", name="Preview").click()
    assert answer.value.status == 200
    wait_until(page, f"document.querySelector('{BOX}') !== null")
    page.wait_for_timeout(500)  # a preview fired by the last edit may still replace the outline
    box = page.evaluate(
        f"(() => {{ const d = document.querySelector('{BOX}').dataset; "
        "return {x: +d.x, y: +d.y, w: +d.w, h: +d.h}; })()"
    )
    # the sample caption's active word, in the chosen highlight, is drawn inside the outline and nowhere else
    wait_until(page, f"(({GREEN_IN_PREVIEW})({json.dumps(box)}))[0] > 50")
    assert page.evaluate(f"({GREEN_IN_PREVIEW})({json.dumps(box)})")[1] == 0
    screenshot(page, "captions-layer-editor")

    # on landscape, the outline dragged up puts that shape's captions at the top of its safe zone
    section.locator("select[name=preset]").select_option("landscape")
    wait_until(
        page, "document.querySelector('section[data-brand=capkit] .live-preview img').naturalWidth === 1920"
    )
    wait_until(page, f"document.querySelector('{BOX}') !== null")
    dragged = page.locator(BOX).bounding_box()
    page.mouse.move(dragged["x"] + dragged["width"] / 2, dragged["y"] + dragged["height"] / 2)
    page.mouse.down()
    still = section.locator(".live-preview img").bounding_box()
    page.mouse.move(dragged["x"] + dragged["width"] / 2, still["y"] + still["height"] * 0.15, steps=5)
    page.mouse.up()
    assert captions.get_by_label("Position (landscape)").input_value() == "top"

    with page.expect_navigation():
        section.get_by_role("button", name="Save brand").click()
    saved = json.loads(path.read_text())["brands"]["capkit"]
    handle, layer = saved["layers"]
    assert handle["text"] == "@capkit" and handle["position"] == "top"
    style = layer["captions"]
    assert (style["size"], style["highlight"]) == (0.06, GREEN)
    assert style["position"] == {
        "vertical": "center",
        "portrait": "center",
        "square": "center",
        "landscape": "top",
    }
    assert saved["glossary"] == ["WatchTheFall", "@capkit", "ScotlandWTF"]
    # the page shows it as saved
    page.locator("section[data-brand=capkit]").get_by_text("Edit layers and settings").click()
    assert page.locator("section[data-brand=capkit] textarea[name=glossary]").input_value() == (
        "WatchTheFall\n@capkit\nScotlandWTF"
    )

    # a render of a clip with an SRT, through the API
    srt = service.call(
        "POST", "/api/uploads", files={"file": ("words.srt", io.BytesIO(SRT.encode()), "text/plain")}
    )
    assert srt.status_code == 201, srt.text
    clip = _black_clip(tmp_path / "clip.mp4", 360, 640)
    body = {"upload_id": service.upload(clip), "brands": ["capkit"], "preset": "vertical",
            "captions": srt.json()["upload"]["id"]}  # fmt: skip
    submitted = service.call("POST", "/api/videos/process", json=body)
    assert submitted.status_code == 202, submitted.text
    job = service.wait(submitted.json()["job"]["id"])
    assert job["status"] == "completed", job["error"]
    [output] = job["outputs"]
    assert (output["width"], output["height"]) == (1080, 1920)
    video = tmp_path / "out.mp4"
    video.write_bytes(service.call("GET", output["url"]).content)

    frame = _frame(video, 1.0, tmp_path / "frame.png")  # "HELLO" is being spoken: in the highlight
    ys, xs = green_pixels(np.asarray(frame))
    assert len(xs) > 50, "no highlighted word in the output"
    tolerance = 2  # a chroma sample of blur at the letters' edge
    assert box["x"] - tolerance <= xs.min() and xs.max() <= box["x"] + box["w"] + tolerance
    assert box["y"] - tolerance <= ys.min() and ys.max() <= box["y"] + box["h"] + tolerance
    inside = frame.crop((box["x"], box["y"], box["x"] + box["w"], box["y"] + box["h"]))
    assert "HELLO WORLD" in _ocr(inside, tmp_path)
    # nothing of the captions outside the outline: the picture there is the black clip and the handle
    outside = np.asarray(frame.convert("L")).copy()
    outside[box["y"] : box["y"] + box["h"] + 1, box["x"] : box["x"] + box["w"] + 1] = 0
    bright = np.nonzero(outside > 60)[0]
    assert len(bright) == 0 or bright.max() < box["y"], (
        "something bright below the handle, outside the outline"
    )
