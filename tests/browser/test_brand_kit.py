"""A brand set up alone, in real Chromium: a black-backed round logo comes back a transparent circle without
a setting touched, it is dragged to a spot on the user's own clip in two shapes, saved, and a render puts
it exactly where the editor showed it in both shapes. Hostile images are refused in words, nothing stored.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.brands.test_brand_assets import HOSTILE, RED, round_logo
from tests.browser.conftest import screenshot, wait_until
from tests.browser.test_brand_layers import config_path
from tests.browser.test_dashboard import sign_in
from tests.engine.inspect_output import colour_bbox, first_frame
from tests.mediagen import ffmpeg
from tests.web.server import Server

pytestmark = pytest.mark.browser

# Whether the logo's outline, as the engine's layout answered it, has its centre at the drop (fx, fy).
LANDED = """([fx, fy, w, h]) => {
  const b = document.querySelector("section[data-brand=''] .layer-box[data-layer='0']");
  if (!b) return false;
  const cx = (+b.dataset.x + +b.dataset.w / 2) / w, cy = (+b.dataset.y + +b.dataset.h / 2) / h;
  return Math.abs(cx - fx) < 0.02 && Math.abs(cy - fy) < 0.02 && Number.isInteger(+b.dataset.x);
}"""
# Where the user drops the logo's centre, as fractions of the frame, on each shape.
DROPS = {"vertical": (0.33, 0.52), "square": (0.62, 0.36)}


def drag_to(page, box, image, fraction: tuple[float, float]) -> None:
    """Drag a layer's outline so its centre lands at `fraction` of the still, as a mouse would."""
    image.scroll_into_view_if_needed()
    start = box.bounding_box()
    frame = image.bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    target = (frame["x"] + frame["width"] * fraction[0], frame["y"] + frame["height"] * fraction[1])
    page.mouse.move(*target, steps=12)
    page.mouse.up()


def test_new_user_cleans_a_logo_drags_it_in_two_shapes_and_the_render_puts_it_there(
    page, service: Server, tmp_path: Path
) -> None:
    logo = tmp_path / "round.png"
    round_logo().save(logo)
    clip = tmp_path / "mine.mp4"  # the user's own clip: grey, so the red logo is easy to find
    ffmpeg("-f", "lavfi", "-i", "color=c=0x808080:s=360x640:d=1", "-pix_fmt", "yuv420p", str(clip))
    data_dir = Path(service.call("GET", "/api/debug/env").json()["settings"]["data_dir"])

    sign_in(page)
    page.goto("/brands")
    page.locator("#preview-clip").set_input_files(str(clip))
    wait_until(page, "document.getElementById('preview-frame').value.startsWith('upload:')")
    upload_id = page.locator("#preview-frame").input_value().removeprefix("upload:")
    section = page.locator("section[data-brand='']")
    section.get_by_label("Brand id").fill("kit")
    section.get_by_label("Display name").fill("Kit")
    logo_layer = section.locator("fieldset.layer").nth(0)
    logo_layer.get_by_label("Image (every shape)").set_input_files(str(logo))

    # cleaned without a setting touched: before and after shown, the stored PNG a transparent circle
    after = section.locator("img[alt=Cleaned]")
    after.wait_for()
    assert section.locator("img[alt='As uploaded']").count() == 1
    assert "background #000000 removed" in section.locator(".cleanup").inner_text()
    cleaned = Image.open(io.BytesIO(page.request.get(after.get_attribute("src")).body()))
    side = cleaned.width
    assert cleaned.mode == "RGBA" and abs(cleaned.width - cleaned.height) <= 1
    assert [
        cleaned.getpixel(xy)[3] for xy in ((0, 0), (side - 1, 0), (0, side - 1), (side - 1, side - 1))
    ] == [0] * 4
    assert (
        cleaned.getpixel((side // 2, side // 6))[:3] == RED
        and cleaned.getpixel((side // 2, side // 6))[3] == 255
    )

    # hostile images: refused with the reason beside the field, nothing stored, the layer unchanged
    for name, (data, _status, message) in HOSTILE.items():
        (tmp_path / name).write_bytes(data)
        layer = section.locator("fieldset.layer").nth(0)  # drawn again after each change
        layer.get_by_label("Image for portrait outputs").set_input_files(str(tmp_path / name))
        layer.get_by_role("alert").filter(has_text=message).wait_for()
    page.problems[:] = [p for p in page.problems if "status of 4" not in p]  # the refusals themselves
    assert len([p for p in (data_dir / "uploads").iterdir() if p.name.startswith("asset-")]) == 1

    # the clean-up can be undone (the image as sent: black corners) and done again
    section.get_by_role("button", name="Undo clean-up").click()
    kept = section.locator("img[alt='As uploaded, kept']")
    kept.wait_for()
    assert "kept as sent" in section.locator(".cleanup").inner_text()
    assert (
        Image.open(io.BytesIO(page.request.get(kept.get_attribute("src")).body())).getpixel((0, 0))[3] == 255
    )
    section.get_by_role("button", name="Clean it up").click()
    after.wait_for()
    assert (
        Image.open(io.BytesIO(page.request.get(after.get_attribute("src")).body())).getpixel((0, 0))[3] == 0
    )

    # drag it in two shapes, on the user's own clip
    stage = section.locator(".live-preview")
    still = stage.locator("img")
    rects = {}
    for shape, (fx, fy) in DROPS.items():
        section.locator("select[name=preset]").select_option(shape)
        canvas = (1080, 1920) if shape == "vertical" else (1080, 1080)
        wait_until(
            page,
            "(() => { const i = document.querySelector(\"section[data-brand=''] .live-preview img\");"
            f" return i.naturalWidth === {canvas[0]} && i.naturalHeight === {canvas[1]}; }})()",
        )
        box = stage.locator(".layer-box[data-layer='0']")
        box.wait_for()
        drag_to(page, box, still, (fx, fy))
        wait_until(page, f"({LANDED})({[fx, fy, *canvas]})")
        data = box.evaluate("b => [b.dataset.x, b.dataset.y, b.dataset.w, b.dataset.h].map(Number)")
        rects[shape] = tuple(data)
        readout = section.locator(".readout[data-layer='0']").inner_text()
        assert f"On {shape}: centre at" in readout and "% of the width" in readout
    screenshot(page, "brand-kit-placed")

    with page.expect_navigation():
        section.get_by_role("button", name="Save brand").click()
    saved = json.loads(config_path(service).read_text())["brands"]["kit"]
    position = saved["layers"][0]["position"]
    for shape, (fx, fy) in DROPS.items():
        assert abs(position[shape]["x"] - fx) < 0.02 and abs(position[shape]["y"] - fy) < 0.02
    assert position["landscape"] == "top-right"  # the shapes not dragged keep the starting corner
    assert saved["layers"][1]["text"] == "@kit" and saved["safe_zone"] == "all"

    # the render puts the logo where the editor showed it, in both shapes
    for shape, (x, y, w, h) in rects.items():
        answer = service.call(
            "POST", "/api/videos/process", json={"upload_id": upload_id, "brands": ["kit"], "preset": shape}
        )
        assert answer.status_code == 202, answer.text
        job = service.wait(answer.json()["job"]["id"])
        assert job["status"] == "completed", job
        output = tmp_path / f"{shape}.mp4"
        output.write_bytes(requests.get(service.url + job["outputs"][0]["url"], timeout=30).content)
        left, top, right, bottom = colour_bbox(first_frame(output).to_image(), RED)
        assert (left, top, right - left, bottom - top) == pytest.approx((x, y, w, h), abs=2), shape


def test_a_logo_layer_without_its_image_says_so(page, service: Server) -> None:
    sign_in(page)
    page.goto("/brands")
    section = page.locator("section[data-brand='']")
    section.get_by_label("Brand id").fill("nologo")
    section.get_by_label("Display name").fill("No logo")
    section.get_by_role("button", name="Save brand").click()
    section.locator("p.error[role=alert]").filter(has_text="Layer 1 has no image yet").wait_for()
