"""Review in a real browser, on a phone's screen (390x844): approve two outputs, adjust a third by dragging
its logo to another spot, render it alone again; the new version's logo is where it was dropped (found in
its decoded frames), the other files are byte-identical, and every player shows its cover.

Each brand draws one pure green logo on a grey clip, so a logo is found in any picture by its colour.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.browser.conftest import screenshot, watched_page
from tests.browser.test_dashboard import sign_in
from tests.engine.conftest import LOGO_RGB
from tests.engine.inspect_output import colour_bbox, first_frame
from tests.mediagen import make_clip
from tests.web.server import Server

pytestmark = pytest.mark.browser

BRANDS = ("alpha", "bravo", "charlie")
GREY = ("-vf", "lutrgb=r=128:g=128:b=128", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service with three brands, each a green logo at the top right."""
    config_dir = tmp_path_factory.mktemp("config")
    Image.new("RGBA", (200, 100), (*LOGO_RGB, 255)).save(config_dir / "logo.png")
    brands = {
        brand: {"name": brand.title(), "logo": {"path": "logo.png", "position": "top-right", "width": 0.3}}
        for brand in BRANDS
    }
    (config_dir / "brand_config.json").write_text(json.dumps({"version": 1, "brands": brands}))
    running = Server(
        tmp_path_factory.mktemp("data"), env={"WTF_BRAND_CONFIG": str(config_dir / "brand_config.json")}
    ).start()
    yield running
    running.stop()


@pytest.fixture
def phone(browser, service: Server) -> Iterator:
    with watched_page(browser, service, viewport=PHONE, has_touch=True) as page:
        yield page


def logo_centre(picture: Image.Image) -> tuple[float, float]:
    box = colour_bbox(picture, LOGO_RGB)
    assert box is not None, "no logo in the picture"
    left, top, right, bottom = box
    return (left + right) / 2 / picture.width, (top + bottom) / 2 / picture.height


def test_approve_two_adjust_one_and_render_it_alone(phone, service: Server, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "grey.mp4", width=180, height=320, duration=1, video_args=GREY)
    job = service.wait(service.process_upload(clip, list(BRANDS))["id"])
    assert job["status"] == "completed"
    outputs = service.data_dir / "outputs"
    before = {o["filename"]: (outputs / o["filename"]).read_bytes() for o in job["outputs"]}

    sign_in(phone)
    item = phone.locator(f"#job-{job['id']}")
    card = {brand: item.get_by_role("figure", name=f"{brand} · source") for brand in BRANDS}
    for brand in ("alpha", "bravo"):
        card[brand].get_by_role("button", name="Approve", exact=True).click()
        card[brand].locator(".review-state", has_text="approved").wait_for()
    assert card["charlie"].locator(".review-state").inner_text() == "pending"

    card["charlie"].get_by_role("button", name="Adjust").click()
    editor = item.get_by_role("region", name="Adjust charlie · source")
    stage = editor.locator(".stage")
    phone.wait_for_selector(".adjuster .stage[data-stills='1']")
    logo = editor.get_by_label("Layer 0: image")
    start, area = logo.bounding_box(), stage.bounding_box()
    assert start["x"] + start["width"] / 2 > area["x"] + area["width"] / 2  # top-right, as the brand has it
    # drag the logo's middle to the lower left of the frame
    phone.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    phone.mouse.down()
    target = (area["x"] + area["width"] * 0.3, area["y"] + area["height"] * 0.7)
    phone.mouse.move(*target, steps=8)
    phone.mouse.up()
    phone.wait_for_selector(".adjuster .stage[data-stills='2']")  # the engine's still followed
    dropped = logo.bounding_box()
    expected = (
        (dropped["x"] + dropped["width"] / 2 - area["x"]) / area["width"],
        (dropped["y"] + dropped["height"] / 2 - area["y"]) / area["height"],
    )
    assert expected == pytest.approx((0.3, 0.7), abs=0.02)
    data_url = editor.locator("img.still").get_attribute("src")
    still = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
    assert logo_centre(still) == pytest.approx(expected, abs=0.02)  # the still shows what will render
    screenshot(phone, "review-adjust-phone")

    editor.get_by_role("button", name="Render this one again").click()
    card["charlie"].get_by_text("v2", exact=False).wait_for(timeout=120_000)
    screenshot(phone, "review-rendered-again-phone")

    job = service.job(job["id"])
    alpha, bravo, charlie = job["outputs"]
    assert (alpha["review"], bravo["review"], charlie["review"]) == ("approved", "approved", "pending")
    assert charlie["version"] == 2 and charlie["versions"][1]["overrides"]["layers"][0]["index"] == 0
    for name, content in before.items():  # the other outputs, and charlie's first version, untouched
        assert (outputs / name).read_bytes() == content
    frame = first_frame(outputs / charlie["filename"], 0.5).to_image()
    assert logo_centre(frame) == pytest.approx(expected, abs=0.02)

    # every player shows its cover: the poster is set, served and is a picture at the output's size
    videos = item.locator("video")
    assert videos.count() == 3
    for index, output in enumerate(job["outputs"]):
        poster = videos.nth(index).get_attribute("poster")
        assert poster == output["cover_url"]
        answer = requests.get(service.url + poster, timeout=30)  # a signed link: no key sent
        assert answer.headers["Content-Type"] == "image/jpeg"
        assert Image.open(io.BytesIO(answer.content)).size == (output["width"], output["height"])
