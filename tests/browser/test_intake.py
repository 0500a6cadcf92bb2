"""The dashboard's side of intake (DESIGN 4.15) in a real browser: a cookies file uploaded for the site its
cookies name, its state once the site asked for a sign-in, the failing site, and a failed link's job done
again from a file ("Upload the file instead") with the same brands and format."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import screenshot
from tests.browser.test_dashboard import sign_in
from tests.download.conftest import Site
from tests.mediagen import make_clip
from tests.web.server import Server

pytestmark = pytest.mark.browser


def test_cookies_state_failing_site_and_upload_the_file_instead(
    page, service: Server, site: Site, tmp_path: Path
) -> None:
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\texpired-session\n")
    sign_in(page)
    page.get_by_label("Cookies file", exact=True).set_input_files(str(cookies))
    page.get_by_role("button", name="Upload cookies").click()
    assert page.get_by_role("status").filter(has_text="Stored for").inner_text() == (
        "Stored for 127.0.0.1: 1 cookies."  # the site, found from the cookies' domain
    )
    listed = page.get_by_role("list", name="Uploaded cookies files").get_by_role("listitem")
    assert "127.0.0.1 · 1 cookies · not used yet" in listed.inner_text()

    link = f"{site.url}/members-only.mp4"  # wants a signed-in user: this file is not one
    page.get_by_label("Video URLs").fill(link)
    page.get_by_role("checkbox", name="WatchTheFall").check()
    page.get_by_role("checkbox", name="FallClips").check()
    page.locator("input[name=formats][value=source]").uncheck()
    page.locator("input[name=formats][value=square]").check()
    page.get_by_role("button", name="Brand it").click()
    failed = page.locator("li.job.failed", has_text=link)
    failed.wait_for(timeout=120_000)
    assert "signed-in user" in failed.get_by_role("alert").inner_text()

    page.reload()
    state = page.get_by_role("list", name="Uploaded cookies files").get_by_role("listitem")
    assert "the site asked for a sign-in at" in state.inner_text()
    failing = page.get_by_role("list", name="Failing sites").get_by_role("listitem")
    assert "127.0.0.1 · 1 failed in a row (login_required)" in failing.inner_text()

    clip = make_clip(tmp_path / "from-my-phone.mp4", width=360, height=640, duration=1)
    failed = page.locator("li.job.failed", has_text=link)
    assert failed.get_by_role("button", name="Upload the file instead").count() == 1
    failed.get_by_label(f"Video file for {link}").set_input_files(str(clip))
    redone = page.locator("li.job.completed", has_text="from-my-phone.mp4")
    redone.locator("video").nth(1).wait_for(timeout=120_000)
    # the job's own line (a finished job also has a line saying what its edits kept)
    assert "watchthefall, fallclips · square" in redone.locator(".meta").first.inner_text()
    screenshot(page, "dashboard-intake")
