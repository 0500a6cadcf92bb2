"""The team's daily flow in a real browser: sign in, brand a clip, watch it, play and download results."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path

import pytest
import requests

from tests.browser.conftest import ARTIFACTS, screenshot, wait_until
from tests.download.conftest import Site
from tests.mediagen import make_clip
from tests.web.server import KEY, Server

pytestmark = pytest.mark.browser


def sign_in(page, key: str = KEY) -> None:
    page.goto("/login")
    page.get_by_label("Portal key").fill(key)
    page.get_by_role("button", name="Sign in").click()


def test_wrong_key_is_refused_then_sign_in_and_out(page) -> None:
    sign_in(page, "not-the-key")
    assert page.get_by_role("alert").inner_text() == "That key is not right."
    page.problems.clear()  # the 401 of a wrong key is expected, not a server error
    sign_in(page)
    page.get_by_role("button", name="Brand it").wait_for()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Portal key").wait_for()
    page.goto("/")
    assert page.url.endswith("/login?next=/portal/")  # / redirects to the dashboard at v3's /portal/


def test_upload_two_brands_watch_progress_play_and_download(page, service: Server, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "holiday.mp4", width=640, height=1136, duration=6)
    sign_in(page)
    page.get_by_label("Video files").set_input_files(str(clip))
    page.get_by_role("checkbox", name="WatchTheFall").check()
    page.get_by_role("checkbox", name="FallClips").check()
    page.get_by_label("Source", exact=True).uncheck()
    page.get_by_label("Vertical", exact=True).check()
    page.get_by_role("button", name="Brand it").click()

    page.get_by_role("progressbar").first.wait_for()
    screenshot(page, "dashboard-rendering-desktop")
    page.locator(".outputs video").nth(1).wait_for(timeout=120_000)
    for index in range(2):
        wait_until(
            page, f"document.querySelectorAll('.outputs video')[{index}].readyState >= 2", timeout_s=30
        )
    links = page.get_by_role("link", name="Download", exact=True)
    assert links.count() == 2
    for index in range(2):
        href = links.nth(index).get_attribute("href")
        response = requests.get(service.url + href, headers={"X-Portal-Key": KEY}, timeout=30)
        assert response.status_code == 200 and response.headers["Content-Type"] == "video/mp4"
    zip_link = page.get_by_role("link", name="Download all (ZIP)")
    assert zip_link.count() == 1
    screenshot(page, "dashboard-results-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "dashboard-results-phone")


def test_progress_bar_moves(page, site: Site) -> None:
    # the site sends this link's video in pieces over 4 s: the bar moves as it arrives, on any machine (a
    # short render may start and end between two of the page's updates)
    link = f"{site.url}/trickle.mp4"
    sign_in(page)
    page.get_by_label("Video URLs").fill(link)
    page.get_by_role("checkbox", name="DailyFails").check()
    page.get_by_role("button", name="Brand it").click()
    bar = page.get_by_role("progressbar", name=f"Progress of {link}", exact=True)
    bar.wait_for()
    values: set[str] = set()
    deadline = time.monotonic() + 120
    # read in one step, as the bar may go at any moment (a bound for a slow machine, not a speed check)
    while shown := bar.evaluate_all("bars => bars.map(b => b.getAttribute('aria-valuenow'))"):
        assert time.monotonic() < deadline, f"the job did not end; the bar showed {values}"
        values.update(shown)
        page.wait_for_timeout(100)
    assert len(values) >= 2, values  # it moved while we watched


def test_link_job_and_a_failed_job_with_its_reason(page, site: Site) -> None:
    sign_in(page)
    page.get_by_label("Video URLs").fill(f"{site.url}/og.html\n{site.url}/novideo.html")
    page.get_by_role("checkbox", name="WatchTheFall").check()
    page.get_by_role("button", name="Brand it").click()
    # this test's jobs, not the module's earlier ones: the page lists those too
    page.locator("li.job.completed", has_text="Falling cat").locator("video").wait_for(timeout=120_000)
    failed = page.locator("li.job.failed", has_text=f"{site.url}/novideo.html")
    failed.wait_for(timeout=120_000)
    assert "no video found" in failed.get_by_role("alert").inner_text()
    assert failed.get_by_role("button", name="Retry").count() == 1


def test_refused_link_shows_a_readable_message(page) -> None:
    sign_in(page)
    page.get_by_label("Video URLs").fill("ftp://example.com/clip.mp4")
    page.get_by_role("checkbox", name="WatchTheFall").check()
    page.get_by_role("button", name="Brand it").click()
    message = page.locator("#form-message")
    message.wait_for()
    assert "only http and https" in message.inner_text()
    page.problems.clear()  # the 422 is the point


def test_two_files_two_brands_two_formats_count_then_one_batch_with_its_zip(
    page, service: Server, tmp_path: Path
) -> None:
    clips = [make_clip(tmp_path / f"part{n}.mp4", width=320, height=180) for n in (1, 2)]
    sign_in(page)
    count = page.locator("#plan-count")
    page.get_by_role("checkbox", name="FallClips").check()
    count.filter(has_text="0 sources x 1 brand x 1 format = 0 outputs").wait_for()
    page.get_by_label("Video files").set_input_files([str(clip) for clip in clips])
    page.get_by_role("checkbox", name="DailyFails").check()
    page.get_by_label("Source", exact=True).uncheck()
    page.get_by_label("Square", exact=True).check()
    page.get_by_label("Landscape", exact=True).check()
    count.filter(has_text="2 sources x 2 brands x 2 formats = 8 outputs").wait_for()
    page.get_by_role("button", name="Brand it").click()

    batch = page.locator("li.batch", has_text="part1.mp4")  # earlier tests' submissions have rows too
    batch.locator("li.job").nth(1).wait_for()
    assert batch.count() == 1 and batch.locator("li.job").count() == 2  # one row for the submission
    assert page.locator("li.batch", has_text="part2.mp4").count() == 1  # the same row
    batch.locator("li.job.completed").nth(1).wait_for(timeout=300_000)
    batch.get_by_text("Batch of 2 sources · 2 done").wait_for()
    assert batch.locator("video").count() == 8
    href = batch.get_by_role("link", name="Download the batch (ZIP)").get_attribute("href")
    response = requests.get(service.url + href, headers={"X-Portal-Key": KEY}, timeout=60)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
        names = bundle.namelist()
    videos = [name for name in names if name.endswith(".mp4")]
    assert len(videos) == 8 and {name.split("/")[0].split("-")[0] for name in videos} == {"part1", "part2"}
    assert {name.rsplit("_", 1)[1] for name in videos} == {"square.mp4", "landscape.mp4"}
    assert sorted(set(names) - set(videos)) == sorted(name[:-4] + ".jpg" for name in videos)  # each cover


def test_cancel_a_running_job(page, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "long.mp4", width=640, height=1136, duration=30)
    sign_in(page)
    page.get_by_label("Video files").set_input_files(str(clip))
    page.get_by_role("checkbox", name="WatchTheFall").check()
    page.get_by_role("checkbox", name="FallClips").check()
    page.get_by_role("checkbox", name="DailyFails").check()
    page.get_by_role("button", name="Brand it").click()
    bar = page.get_by_role("progressbar", name="Progress of long.mp4", exact=True)  # this job, no other
    bar.wait_for()
    job = page.locator("li.job", has=bar)
    job_id = job.get_attribute("id")
    job.get_by_role("button", name="Cancel").click()
    page.locator(f"#{job_id}.cancelled").wait_for(timeout=120_000)


def test_brands_page_edit_with_preview_then_save(page, service: Server, tmp_path: Path) -> None:
    sign_in(page)
    page.goto("/brands")
    previews = page.locator("section.brand img[alt*='preview']")
    assert previews.count() >= 3
    wait_until(
        page, "[...document.querySelectorAll('.previews img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    screenshot(page, "brands-desktop")
    section = page.locator("section[data-brand=fallclips]")
    section.get_by_text("Edit layers and settings").click()
    text_layer = section.locator("fieldset.layer").nth(1)  # version 1's watermark, shown as a layer
    text_layer.get_by_label("Text", exact=True).fill("@fallclips_official")
    section.get_by_role("button", name="Preview").click()
    live = section.locator(".live-preview img")
    live.wait_for()
    wait_until(
        page, "document.querySelector('section[data-brand=fallclips] .live-preview img').naturalWidth > 0"
    )
    assert live.get_attribute("src").startswith("blob:")
    with page.expect_navigation():  # the page reloads once the save is answered
        section.get_by_role("button", name="Save brand").click()
    config_path = Path(service.call("GET", "/api/debug/env").json()["settings"]["brand_config"])
    saved = json.loads(config_path.read_text())
    logo, text = saved["brands"]["fallclips"]["layers"]
    assert text["text"] == "@fallclips_official" and logo["image"] == "brands/fallclips/logo.png"

    # a bad value is refused with the config's own rules, and nothing is written
    section = page.locator("section[data-brand=fallclips]")
    section.get_by_text("Edit layers and settings").click()
    section.locator("fieldset.layer").nth(1).get_by_label("Text", exact=True).fill("")
    section.get_by_role("button", name="Save brand").click()
    assert re.search(r"layers\.1\.text", section.get_by_role("alert").inner_text())
    assert json.loads(config_path.read_text()) == saved
    page.problems.clear()  # the 422 is the point of this step


def test_phone_width_screens(browser, service: Server) -> None:
    context = browser.new_context(
        base_url=service.url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    page = context.new_page()
    sign_in(page)
    page.get_by_role("button", name="Brand it").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(page, "dashboard-phone")
    page.goto("/brands")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(page, "brands-phone")
    context.close()
    assert ARTIFACTS.exists()


def test_add_then_remove_a_brand(page, service: Server, tmp_path: Path) -> None:
    from PIL import Image

    logo = tmp_path / "badge.png"
    Image.new("RGBA", (300, 120), (250, 200, 0, 255)).save(logo)
    sign_in(page)
    page.goto("/brands")
    section = page.locator("section[data-brand='']")
    section.get_by_label("Brand id").fill("fallsdaily")
    section.get_by_label("Display name").fill("FallsDaily")
    # a new brand starts with a logo layer (its image to choose) and a handle that follows the id
    section.locator("fieldset.layer").nth(0).get_by_label("Image (every shape)").set_input_files(str(logo))
    section.locator("img[alt=Cleaned]").wait_for()  # uploaded and cleaned at once
    assert (
        section.locator("fieldset.layer").nth(1).get_by_label("Text", exact=True).input_value()
        == "@fallsdaily"
    )
    with page.expect_navigation():
        section.get_by_role("button", name="Save brand").click()
    added = page.locator("section[data-brand=fallsdaily]")
    added.wait_for()
    wait_until(
        page,
        "[...document.querySelectorAll('section[data-brand=fallsdaily] .previews img')]"
        ".every(i => i.complete && i.naturalWidth > 0)",
    )
    brands = service.call("GET", "/api/brands").json()["brands"]
    (new,) = [brand for brand in brands if brand["id"] == "fallsdaily"]
    image, text = new["layers"]
    assert (
        re.search(r"brands/fallsdaily/badge-[0-9a-f]{12}\.png$", image["image"])
        and text["text"] == "@fallsdaily"
    )
    page.goto("/")
    assert page.get_by_label("FallsDaily").count() == 1  # tickable for the next job, no restart

    page.goto("/brands")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("section[data-brand=fallsdaily]").get_by_text("Edit layers and settings").click()
    page.locator("section[data-brand=fallsdaily]").get_by_role("button", name="Remove brand").click()
    page.locator("section[data-brand=fallsdaily]").wait_for(state="detached")
    brands = service.call("GET", "/api/brands").json()["brands"]
    assert "fallsdaily" not in [brand["id"] for brand in brands]
