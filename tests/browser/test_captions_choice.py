"""Captions chosen in the new-job form, in real Chromium: a file and an SRT, for a brand that draws
captions; the outputs' sidecar WebVTT holds the SRT's words and its frames show them. A captions file not
chosen is a readable message, nothing submitted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import requests

from tests.browser.test_brand_layers import config_path
from tests.browser.test_dashboard import sign_in
from tests.captions.test_burn_in import _black_clip, _frame, _ocr
from tests.conftest import require_program
from tests.web.server import Server

pytestmark = pytest.mark.browser

SRT = "1\n00:00:00,200 --> 00:00:02,800\nHELLO WORLD\n"


def test_a_new_job_burns_the_srt_file_chosen_in_the_form(page, service: Server, tmp_path: Path) -> None:
    require_program("tesseract", shutil.which("tesseract") is not None)
    config = config_path(service)
    brands = json.loads(config.read_text())
    brands["version"] = 2
    layers = [{"text": "@subs", "position": "top"}, {"captions": {}}]
    brands["brands"]["subs"] = {"name": "Subs", "layers": layers}
    config.write_text(json.dumps(brands))
    clip = _black_clip(tmp_path / "quiet.mp4", 640, 360)
    srt = tmp_path / "words.srt"
    srt.write_text(SRT)

    sign_in(page)
    page.get_by_label("Video files").set_input_files(str(clip))
    page.get_by_role("checkbox", name="Subs").check()
    page.get_by_label("Captions (for brands that draw them)").select_option("file")
    page.get_by_role("button", name="Brand it").click()
    page.locator("#form-message").filter(has_text="Choose the captions file").wait_for()

    page.get_by_label("Captions file (SRT or WebVTT)").set_input_files(str(srt))
    page.get_by_role("button", name="Brand it").click()
    page.locator("li.job.completed", has_text="quiet").locator(".outputs video").wait_for(timeout=180_000)

    [job] = service.call("GET", "/api/jobs?limit=1").json()["jobs"]
    [output] = job["outputs"]
    sidecar = requests.get(service.url + output["captions"]["url"], timeout=30).text
    assert sidecar.startswith("WEBVTT") and "HELLO WORLD" in sidecar
    video = tmp_path / "out.mp4"
    video.write_bytes(requests.get(service.url + output["url"], timeout=30).content)
    assert "HELLO" in _ocr(_frame(video, 1.5, tmp_path / "frame.png"), tmp_path)
