"""The source's edits in a real browser: scrub the file's frames to set the trim, drag the crop window,
preview the follow window playing over the clip, then brand it; the job shows what was cut and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import screenshot, wait_until
from tests.browser.test_dashboard import sign_in
from tests.reframe.clips import face_clip
from tests.web.server import Server

pytestmark = pytest.mark.browser


def window_left(page) -> float:
    return page.eval_on_selector("#crop-window", "box => box.getBoundingClientRect().left")


def test_trim_drag_and_follow_from_the_dashboard(page, service: Server, tmp_path: Path) -> None:
    clip = face_clip(tmp_path / "astronaut.mp4", seconds=3.0)
    sign_in(page)
    page.get_by_label("Video files").set_input_files(str(clip.path))
    wait_until(page, "document.getElementById('source-video').readyState >= 1")
    page.locator('input[name="formats"][value="source"]').uncheck()
    page.locator('input[name="formats"][value="vertical"]').check()

    # trim: scrub to 0.5 s, "Start here"; to 2.5 s, "End here"
    scrub = page.locator("#scrub")
    for seconds, button in ((0.5, "Start here"), (2.5, "End here")):
        scrub.evaluate(
            "(input, value) => { input.value = value; input.dispatchEvent(new Event('input')); }", seconds
        )
        wait_until(page, f"Math.abs(document.getElementById('source-video').currentTime - {seconds}) < 0.05")
        page.get_by_role("button", name=button).click()
    assert page.get_by_label("Trim (seconds, START:END)").input_value() == "0.50:2.50"

    # crop: the window appears on the frame; dragging it right moves the anchor
    page.get_by_label("Other shapes").select_option("crop")
    window = page.locator("#crop-window")
    window.wait_for()
    before = window_left(page)
    window.scroll_into_view_if_needed()  # the mouse works in the viewport, as a user's does
    box = window.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 80, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    assert window_left(page) > before + 40

    # follow: the preview plays the window's path over the clip; it moves with the astronaut
    page.get_by_label("Other shapes").select_option("follow")
    page.get_by_role("button", name="Preview the window").click()
    notes = page.locator("#window-notes")
    wait_until(page, "document.getElementById('window-notes').textContent.includes('window follows')")
    assert "face" in notes.inner_text() and "kept 0.50 to 2.50 s" in notes.inner_text()
    lefts = []
    for _ in range(6):
        lefts.append(window_left(page))
        page.wait_for_timeout(250)
    assert max(lefts) - min(lefts) > 10  # the window pans while the clip plays
    screenshot(page, "dashboard-follow-preview")

    page.get_by_label("WatchTheFall").check()
    page.get_by_role("button", name="Brand it").click()
    done = page.locator("li.job.completed", has_text="astronaut")
    done.locator(".outputs video").wait_for(timeout=180_000)
    summary = done.locator(".edits-done").inner_text()
    assert "kept 0.50 to 2.50 s" in summary and "window follows" in summary and "face" in summary
