"""The new-job form's preview (issue 23, item 5): before submitting, each ticked brand in each ticked format
on a frame of the user's own clip (a chosen file) or of a link fetched first: the engine's stills, drawn
through the render's plan. They follow the ticks; the logo read back off a still is where the real render
puts it; the submission reuses what the preview uploaded or fetched (no second upload or download); bad
input says why in words.

Each brand draws one pure green logo on a grey clip, so a logo is found in any picture by its colour.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.browser.conftest import screenshot, wait_until
from tests.browser.test_dashboard import sign_in
from tests.engine.conftest import LOGO_RGB
from tests.engine.inspect_output import colour_bbox, first_frame
from tests.mediagen import make_clip
from tests.web.server import Server

pytestmark = pytest.mark.browser

GREY = ("-vf", "lutrgb=r=128:g=128:b=128", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
PLACES = {"alpha": "top-right", "bravo": "bottom-left"}
SIZES = {"vertical": [1080, 1920], "square": [1080, 1080]}
LOADED = "[...document.querySelectorAll('#stills figure')]"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service with two brands, each a green logo in its own corner; links from loopback allowed."""
    config_dir = tmp_path_factory.mktemp("config")
    Image.new("RGBA", (200, 100), (*LOGO_RGB, 255)).save(config_dir / "logo.png")
    brands = {
        brand: {"name": brand.title(), "logo": {"path": "logo.png", "position": place, "width": 0.3}}
        for brand, place in PLACES.items()
    }
    (config_dir / "brand_config.json").write_text(json.dumps({"version": 1, "brands": brands}))
    env = {"WTF_BRAND_CONFIG": str(config_dir / "brand_config.json"), "WTF_ALLOW_PRIVATE_URLS": "1"}
    running = Server(tmp_path_factory.mktemp("data"), env=env).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "grey.mp4", width=180, height=320, duration=2,
                     video_args=GREY)  # fmt: skip


def tick(page, brands: list[str], formats: list[str]) -> None:
    form = page.locator("#new-job")
    for name, wanted in (("brands", brands), ("formats", formats)):
        for box in form.locator(f'input[name="{name}"]').all():
            box.set_checked(box.get_attribute("value") in wanted)


def stills_shown(page, count: int) -> list[dict]:
    """Once `count` stills are drawn (and none is still drawing): each one's label and natural size."""
    wait_until(
        page, f"{LOADED}.length === {count} && {LOADED}.every((f) => f.querySelector('img').naturalWidth > 0)"
    )
    return page.evaluate(
        f"{LOADED}.map((f) => ({{label: f.getAttribute('aria-label'), "
        "size: [f.querySelector('img').naturalWidth, f.querySelector('img').naturalHeight]}))"
    )


def still_pixels(page, label: str) -> Image.Image:
    """The still as the page shows it: its decoded pixels, read through a canvas."""
    data_url = page.evaluate(
        f"(() => {{ const img = {LOADED}.find((f) => f.getAttribute('aria-label') === {json.dumps(label)})"
        ".querySelector('img'); const canvas = document.createElement('canvas');"
        "canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;"
        "canvas.getContext('2d').drawImage(img, 0, 0); return canvas.toDataURL('image/png'); })()"
    )
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")


def submit(page, service: Server) -> dict:
    with page.expect_response(lambda r: r.url.endswith("/api/videos/process")) as answer:
        page.get_by_role("button", name="Brand it").click()
    assert answer.value.status == 202, answer.value.text()
    [job] = answer.value.json()["jobs"]  # the form sends its sources as lists
    return service.wait(job["id"], timeout=180)


def test_a_files_stills_follow_the_ticks_and_match_the_render(page, service: Server, clip: Path) -> None:
    uploads: list[str] = []
    page.on(
        "request", lambda r: uploads.append(r.url) if r.method == "POST" and "/api/uploads" in r.url else None
    )
    sign_in(page)
    tick(page, ["alpha", "bravo"], ["vertical", "square"])
    page.set_input_files("#file", str(clip))
    shown = stills_shown(page, 4)
    assert [still["label"] for still in shown] == [
        "Alpha x Vertical", "Alpha x Square", "Bravo x Vertical", "Bravo x Square"]  # fmt: skip
    assert [still["size"] for still in shown] == [SIZES["vertical"], SIZES["square"]] * 2
    screenshot(page, "new-job-stills")

    # they follow the ticks: a brand unticked goes, ticked again comes back (drawn once)
    tick(page, ["alpha"], ["vertical", "square"])
    assert [still["label"] for still in stills_shown(page, 2)] == ["Alpha x Vertical", "Alpha x Square"]
    tick(page, ["alpha", "bravo"], ["vertical", "square"])
    stills_shown(page, 4)

    # each logo sits in its brand's corner on the still
    for label, corner in (("Alpha x Square", "top-right"), ("Bravo x Vertical", "bottom-left")):
        picture = still_pixels(page, label)
        left, _top, _right, bottom = colour_bbox(picture, LOGO_RGB)
        on_the_right, at_the_top = left > picture.width / 2, bottom < picture.height / 2
        assert (on_the_right, at_the_top) == ((True, True) if corner == "top-right" else (False, False))

    # the submission renders the upload the preview made; its render has the logo where the still had it
    still = still_pixels(page, "Alpha x Square")
    job = submit(page, service)
    assert job["status"] == "completed", job["error"]
    assert len(uploads) == 1 and job["source"]["kind"] == "upload"
    [output] = [o for o in job["outputs"] if (o["brand"], o["format"]) == ("alpha", "square")]
    rendered = first_frame(
        service.data_dir / "outputs" / output["filename"], output["duration"] / 2
    ).to_image()
    assert rendered.size == still.size
    assert colour_bbox(rendered, LOGO_RGB) == pytest.approx(colour_bbox(still, LOGO_RGB), abs=3)
    wait_until(page, f"{LOADED}.length === 0")  # the form is empty again


def test_a_fetched_link_is_previewed_and_branded_without_a_second_download(
    page, service: Server, site, clip: Path
) -> None:
    shutil.copy(clip, site.root / "stills-grey.mp4")
    link = f"{site.url}/stills-grey.mp4"
    sign_in(page)
    tick(page, ["bravo"], ["vertical"])
    page.locator("#urls").fill(link)
    page.get_by_role("button", name="Fetch the links to preview").click()
    assert stills_shown(page, 1) == [{"label": "Bravo x Vertical", "size": SIZES["vertical"]}]
    downloads = site.hits["/stills-grey.mp4"]
    assert downloads >= 1
    assert page.get_by_role("button", name="Fetch the links to preview").is_hidden()  # fetched: kept

    job = submit(page, service)
    assert job["status"] == "completed", job["error"]
    assert job["source"]["kind"] == "library" and site.hits["/stills-grey.mp4"] == downloads
    [output] = job["outputs"]
    assert (output["brand"], output["format"], output["width"], output["height"]) == (
        "bravo",
        "vertical",
        1080,
        1920,
    )


def test_bad_input_says_why(page, service: Server, site, tmp_path: Path) -> None:
    sign_in(page)
    tick(page, ["alpha"], ["square"])
    message = page.locator("#stills-message")

    page.locator("#urls").fill(f"{site.url}/novideo.html")
    page.get_by_role("button", name="Fetch the links to preview").click()
    message.wait_for(state="visible")
    text = message.inner_text()
    assert text.startswith(f"{site.url}/novideo.html: ") and len(text) > len(site.url) + 20
    assert "Traceback" not in text and "Error(" not in text
    assert page.locator("#stills figure").count() == 0

    page.locator("#urls").fill("")
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("this is not a video\n" * 50)
    page.set_input_files("#file", str(not_video))
    wait_until(page, "document.getElementById('stills-message').textContent.startsWith('notes.mp4')")
    text = message.inner_text()
    assert "Traceback" not in text and len(text) > len("notes.mp4: ") + 5
    assert page.locator("#stills figure").count() == 0
    screenshot(page, "new-job-stills-bad-input")
    assert all(not p.startswith("5") for p in page.problems)
    page.problems.clear()  # the 4xx answers of the refused upload are expected
