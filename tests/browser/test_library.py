"""The library in a real browser (DESIGN 4.14): find last week's clip by a word of its title, brand it
again for another brand with no new download, be told it already went to a brand on a named date, and copy
each output's post text."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from tests.apptools import post_text_service
from tests.browser.conftest import wait_until
from tests.browser.test_dashboard import sign_in
from tests.download.conftest import Site
from tests.web.server import Server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from post_text_service(tmp_path_factory)


def _a_week_ago(service: Server, job_id: str, source_id: str) -> None:
    """What a week does to the rows: the clip was sent and branded seven days ago."""
    with sqlite3.connect(service.data_dir / "portal.db") as db:
        db.execute("UPDATE sources SET created_at = datetime(created_at, '-7 days'), "
                   "used_at = datetime(used_at, '-7 days') WHERE id = ?", (source_id,))  # fmt: skip
        db.execute("UPDATE jobs SET created_at = datetime(created_at, '-7 days'), "
                   "finished_at = datetime(finished_at, '-7 days') WHERE id = ?", (job_id,))  # fmt: skip


def test_find_brand_again_be_warned_and_copy_post_texts(page, service: Server, site: Site) -> None:
    link = {"url": f"{site.url}/credited.html", "brands": ["watchthefall"], "preset": "square"}
    sent = service.call("POST", "/api/videos/process", json=link)
    assert sent.status_code == 202, sent.text
    first = service.wait(sent.json()["job"]["id"])
    assert first["status"] == "completed" and first["source_id"]
    _a_week_ago(service, first["id"], first["source_id"])
    downloads = site.hits["/clip.mp4"]
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=service.url)

    sign_in(page)
    page.get_by_role("link", name="Library").click()
    page.get_by_label("Search").fill("sofa")
    page.get_by_role("button", name="Search").click()
    item = page.locator(".source", has_text="Cat falls off the sofa")
    item.wait_for()
    assert page.locator(".source").count() == 1
    assert "by catlover99" in item.inner_text() and "Removed after" in item.inner_text()
    wait_until(page, "document.querySelector('.source img.cover')?.naturalWidth > 0")

    item.get_by_label("FallClips").check()
    item.get_by_role("button", name="Brand again").click()
    warning = item.get_by_role("status", name="Already branded").locator("li")
    warning.first.wait_for()
    assert warning.count() == 1 and warning.get_attribute("data-brand") == "watchthefall"
    assert warning.get_attribute("data-job") == first["id"]
    said = datetime.fromisoformat(warning.locator("time").get_attribute("datetime").replace("Z", "+00:00"))
    assert said.date() == (datetime.now(timezone.utc) - timedelta(days=7)).date()
    assert "Already branded for watchthefall on" in warning.inner_text()

    item.locator(".renders li", has_text="fallclips").wait_for(timeout=120_000)
    copies = item.get_by_role("button", name="Copy post text for fallclips")
    assert copies.count() == 1
    copies.click()
    expected = f"Cat falls off the sofa | via @catlover99\n{site.url}/credited.html\nFallClips #fails"
    assert page.evaluate("navigator.clipboard.readText()") == expected
    item.get_by_role("button", name="Copy post text for watchthefall").click()
    assert page.evaluate("navigator.clipboard.readText()") == expected.replace("FallClips", "WatchTheFall")
    assert site.hits["/clip.mp4"] == downloads  # branded again from the stored file: no new download

    item.get_by_role("button", name="Pin").click()
    page.locator(".source", has_text="Pinned: kept until unpinned.").wait_for()
