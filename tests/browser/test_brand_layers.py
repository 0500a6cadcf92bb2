"""The layer editor in real Chromium: v3's look built by hand, previewed on the user's own clip, saved
without losing what the editor does not show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.browser.conftest import wait_until
from tests.browser.test_dashboard import sign_in
from tests.mediagen import ffmpeg
from tests.web.server import Server

pytestmark = pytest.mark.browser


def config_path(service: Server) -> Path:
    answer = service.call("GET", "/api/debug/env")
    return Path(answer.json()["settings"]["brand_config"])


# One pixel of the live preview (a same-origin blob, so the canvas can read it back).
SAMPLE = """([x, y]) => {
  const img = document.querySelector('section[data-brand=layered] .live-preview img');
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const context = canvas.getContext('2d');
  context.drawImage(img, 0, 0);
  return Array.from(context.getImageData(x, y, 1, 1).data);
}"""


def slide(control, value: float) -> None:
    """Move a range input as a drag would: set the value, fire `input`."""
    control.evaluate(
        "(e, v) => { e.value = v; e.dispatchEvent(new Event('input', {bubbles: true})); }", str(value)
    )


def test_build_v3s_look_preview_on_own_clip_and_keep_unshown_fields(
    page, service: Server, tmp_path: Path
) -> None:
    path = config_path(service)
    config = json.loads(path.read_text())
    # a brand with settings the editor has no control for: an image sized by height, a disabled layer
    Image.new("RGBA", (200, 100), (255, 255, 255, 255)).save(path.parent / "stamp.png")
    config["version"] = 2
    config["brands"]["layered"] = {"name": "Layered", "layers": [
        {"image": "stamp.png", "position": "top-left", "size": 0.05, "opacity": 0.8},
        {"text": "@hidden", "enabled": False},
    ]}  # fmt: skip
    path.write_text(json.dumps(config))
    wide = tmp_path / "wm-landscape.png"
    tall = tmp_path / "wm-vertical.png"
    Image.new("RGBA", (1080, 1920), (0, 255, 0, 160)).save(tall)
    Image.new("RGBA", (512, 512), (255, 0, 255, 160)).save(wide)
    logo = tmp_path / "circle.png"
    Image.new("RGB", (300, 300), (0, 0, 0)).save(logo)
    clip = tmp_path / "mine.mp4"  # a yellow clip: no generated frame looks like it
    ffmpeg("-f", "lavfi", "-i", "color=c=0xFFFF00:s=320x180:d=1", "-pix_fmt", "yuv420p", str(clip))

    sign_in(page)
    page.goto("/brands")
    section = page.locator("section[data-brand=layered]")
    section.get_by_text("Edit layers and settings").click()
    # the full-frame watermark, one image per shape
    section.get_by_role("button", name="Add image layer").click()
    cover = section.locator("fieldset.layer").nth(2)
    cover.get_by_label("Fit").select_option("cover")
    cover.get_by_label("Image for vertical outputs").set_input_files(str(tall))
    cover.get_by_label("Image for landscape outputs").set_input_files(str(wide))
    slide(cover.get_by_label("Scale"), 1.15)
    slide(cover.get_by_label("Opacity"), 0.4)
    # the circle logo with black keyed out
    section.get_by_role("button", name="Add image layer").click()
    circle = section.locator("fieldset.layer").nth(3)
    circle.get_by_label("Image (every shape)").set_input_files(str(logo))
    circle.get_by_label("Position").select_option("bottom-right")
    slide(circle.locator("input[name=width]"), 0.15)
    circle.get_by_label("Key out a colour").check()
    circle = section.locator("fieldset.layer").nth(3)  # redrawn with the key's controls
    slide(circle.get_by_label("Key tolerance"), 0.1)
    # a text line on a box
    section.get_by_role("button", name="Add text layer").click()
    text = section.locator("fieldset.layer").nth(4)
    text.get_by_label("Text", exact=True).fill("@layered")
    text.get_by_label("Box behind the text").check()
    slide(section.locator("fieldset.layer").nth(4).get_by_label("Box opacity"), 0.6)

    # the live preview, drawn by the engine on a frame of the user's own clip
    page.locator("#preview-clip").set_input_files(str(clip))
    wait_until(page, "document.getElementById('preview-frame').value.startsWith('upload:')")
    section.locator("select[name=preset]").select_option("landscape")
    with page.expect_response(lambda r: r.url.endswith("/brands/layered/preview")) as answer:
        section.get_by_role("button", name="Preview").click()
    assert answer.value.status == 200
    wait_until(
        page, "document.querySelector('section[data-brand=layered] .live-preview img').naturalWidth === 1920"
    )
    # the clip's yellow under the 40 % magenta landscape watermark (a generated frame is dark blue-purple)
    wait_until(page, f"(({SAMPLE})([100, 540])).every((v, i) => [v > 200, v > 120, v < 140, true][i])")

    with page.expect_navigation():
        section.get_by_role("button", name="Save brand").click()
    saved = json.loads(path.read_text())["brands"]["layered"]["layers"]
    stamp, hidden, watermark, keyed, boxed = saved
    assert stamp == {
        "image": "stamp.png",
        "position": "top-left",
        "size": 0.05,
        "opacity": 0.8,
        "margin": 0.03,
    }
    assert hidden["text"] == "@hidden" and hidden["enabled"] is False
    assert watermark["fit"] == "cover" and (watermark["scale"], watermark["opacity"]) == (1.15, 0.4)
    assert set(watermark["image"]) == {"vertical", "landscape"}
    for image in watermark["image"].values():
        assert image.startswith("brands/layered/") and (path.parent / image).is_file()
    assert keyed["key_color"] == "#000000" and keyed["width"] == 0.15 and keyed["position"] == "bottom-right"
    assert boxed["text"] == "@layered" and boxed["box"] == {"color": "#000000", "opacity": 0.6}
