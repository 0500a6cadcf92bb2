"""The captions editor in a real browser (DESIGN 4.13): a library item's cues with their times, the clip
shown at the cue being edited and played to its end, a bad time refused with the server's message beside
that cue, and the fix saved once for every later render; the job's review screen opens the same one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import screenshot, wait_until
from tests.browser.test_dashboard import sign_in
from tests.captions.test_burn_in import VTT, _black_clip
from tests.web.server import Server

pytestmark = pytest.mark.browser


def test_edit_a_clips_captions_beside_the_clip(page, service: Server, tmp_path: Path) -> None:
    source_id = service.call(
        "POST",
        "/api/uploads",
        files={"file": ("cat-on-sofa.mp4", _black_clip(tmp_path / "c.mp4", 180, 320).read_bytes())},
    ).json()["upload"]["source_id"]
    url = f"/api/sources/{source_id}/transcript"
    assert service.call("PUT", url, json={"subtitles": VTT}).status_code == 200

    sign_in(page)
    page.get_by_role("link", name="Library").click()
    item = page.locator(f"#source-{source_id}")
    item.get_by_role("button", name="Captions (2)").click()
    editor = item.get_by_role("region", name="Captions of cat-on-sofa")
    second = editor.get_by_label("Text of cue 2")
    second.wait_for()
    assert editor.get_by_label("Text of cue 1").input_value() == "HELLO WORLD"
    assert editor.get_by_label("Start of cue 2 (seconds)").input_value() == "1.80"
    assert editor.get_by_label("End of cue 2 (seconds)").input_value() == "2.90"
    clip = f"document.querySelector('#source-{source_id} video.clip')"
    wait_until(page, f"{clip}.readyState >= 1", timeout_s=30)

    second.click()  # the clip is shown where the cue starts
    wait_until(page, f"Math.abs({clip}.currentTime - 1.8) < 0.05", timeout_s=10)
    editor.get_by_role("button", name="Play cue 1").click()  # played from its start, paused at its end
    wait_until(page, f"{clip}.paused && {clip}.currentTime >= 1.2 && {clip}.currentTime < 1.8", timeout_s=20)

    editor.get_by_label("End of cue 2 (seconds)").fill("9")
    second.fill("GOODBYE FOR NOW")
    editor.get_by_role("button", name="Save captions").click()
    beside = editor.locator(".cue", has=page.get_by_label("Text of cue 2")).get_by_role("alert")
    beside.wait_for()
    screenshot(page, "captions-editor-error")
    assert beside.inner_text().startswith("cue 2 (00:00:01.800 --> 00:00:09.000): ends after the clip")
    assert editor.get_by_role("alert").filter(has_text="Not saved").is_visible()
    assert service.call("GET", url).json()["transcript"]["origin"] == "file"  # nothing stored
    page.problems.clear()  # the browser logs the expected 422; it is not a server error

    editor.get_by_label("End of cue 2 (seconds)").fill("2.9")
    editor.get_by_role("button", name="Add a cue").click()
    editor.get_by_label("Text of cue 3").fill("")  # an empty cue is refused by name too
    editor.get_by_role("button", name="Remove cue 3").click()
    editor.get_by_role("button", name="Save captions").click()
    editor.get_by_role("status").filter(has_text="Saved 2 cues").wait_for()
    assert not beside.is_visible()
    stored = service.call("GET", url).json()["transcript"]
    assert stored["origin"] == "edit"
    assert [cue["text"] for cue in stored["cues"]] == ["HELLO WORLD", "GOODBYE FOR NOW"]


def test_the_review_screen_opens_the_clips_captions(page, service: Server, tmp_path: Path) -> None:
    clip = _black_clip(tmp_path / "c.mp4", 180, 320)
    words = service.call("POST", "/api/uploads", files={"file": ("words.vtt", VTT.encode())}).json()["upload"]
    body = {"upload_id": service.upload(clip), "brands": ["watchthefall"], "captions": words["id"]}
    job = service.wait(service.call("POST", "/api/videos/process", json=body).json()["job"]["id"])
    assert job["status"] == "completed", job["error"]

    sign_in(page)
    row = page.locator(f"#job-{job['id']}")
    row.get_by_role("button", name="Edit captions").click()
    editor = row.locator(".transcript")
    editor.get_by_label("Text of cue 2").wait_for()
    assert editor.get_by_label("Text of cue 2").input_value() == "GOODBYE NOW"
    assert editor.locator("video.clip").get_attribute("src") == f"/api/sources/{job['source_id']}/video"
