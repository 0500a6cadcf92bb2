"""Captions "platform": a page's own subtitles (an HTML5 <track>, read by yt-dlp's generic extractor) become
the library item's transcript and are burned in; a link without any fails a job that asked for them, by
name; with nothing asked, a brand with a captions layer takes them before recognition."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.acquire.downloader import DownloadOptions, download
from portal.media.transcript import parse_subtitles
from tests.captions.test_burn_in import _frame, _ocr
from tests.conftest import REPO
from tests.download.conftest import SITE_SUBTITLES, Site
from tests.web.server import Server

CAPTIONED = {
    "name": "Captioned",
    "safe_zone": "tiktok",
    "layers": [{"captions": {"highlight": None, "size": 0.06}}],
}


def _config(folder: Path) -> Path:
    path = folder / "brand_config.json"
    path.write_text(json.dumps({"version": 2, "brands": {"captioned": CAPTIONED}}))
    return path


def test_the_downloader_reads_a_pages_subtitle_track_when_asked(site: Site, options: DownloadOptions) -> None:
    url = f"{site.url}/subtitled.html"
    plain = download(url, options)
    assert plain.subtitles is None and site.hits["/subs/words.vtt"] == 0  # not asked: not fetched
    media = download(url, options, subtitles=True)
    assert media.reused and media.subtitles == SITE_SUBTITLES  # the cached clip, its page read again
    assert [cue.text for cue in parse_subtitles(media.subtitles)] == ["SAID ON THE SITE", "SECOND LINE"]
    assert "subtitles" not in media.as_dict()  # kept in the transcript, not in the job's source_meta
    assert download(f"{site.url}/video.html", options, subtitles=True).subtitles is None


@pytest.fixture(scope="module")
def captions_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("platform")
    env = {"WTF_BRAND_CONFIG": str(_config(folder)), "WTF_ALLOW_PRIVATE_URLS": "1",
           "WTF_MAX_SHORT_SIDE": "360", "WTF_X264_PRESET": "superfast"}  # fmt: skip
    running = Server(folder / "data", env=env)
    running.data_dir.mkdir()
    yield running.start()
    running.stop()


def test_a_links_subtitles_are_burned_in_by_default(
    captions_service: Server, site: Site, tmp_path: Path
) -> None:
    server = captions_service
    body = {
        "url": f"{site.url}/subtitled.html",
        "brands": ["captioned"],
    }  # no `captions`: the brand draws them
    job = server.wait(server.call("POST", "/api/videos/process", json=body).json()["job"]["id"])
    assert job["status"] == "completed", job["error"]
    transcript = server.call("GET", f"/api/sources/{job['source_id']}/transcript").json()["transcript"]
    assert transcript["origin"] == "platform"
    assert [cue["text"] for cue in transcript["cues"]] == ["SAID ON THE SITE", "SECOND LINE"]
    [output] = job["outputs"]
    assert "SAID ON THE SITE" in server.call("GET", output["captions"]["url"]).text
    video = tmp_path / "out.mp4"
    video.write_bytes(server.call("GET", output["url"]).content)
    assert "SAID ON THE SITE" in _ocr(_frame(video, 0.9, tmp_path / "a.png"), tmp_path)


def test_platform_captions_without_subtitles_fail_the_job_by_name(
    captions_service: Server, site: Site
) -> None:
    server = captions_service
    link = f"{site.url}/video.html"
    body = {"url": link, "brands": ["captioned"], "captions": "platform"}
    job = server.wait(server.call("POST", "/api/videos/process", json=body).json()["job"]["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "no_platform_subtitles"
    assert job["error"]["message"].startswith(
        f'{link}: captions "platform" were asked for, but its site offers no'
    )

    upload = server.upload(site.root / "clip.mp4")
    refused = server.call(
        "POST",
        "/api/videos/process",
        json={"upload_id": upload, "brands": ["captioned"], "captions": "platform"},
    )
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_captions"


def _render(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WTF_ALLOW_PRIVATE_URLS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "portal", "render", *args], capture_output=True, text=True, cwd=REPO, env=env
    )


def test_the_cli_takes_captions_platform(site: Site, tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    result = _render(f"{site.url}/subtitled.html", "--brand", "captioned", "--config", config,
                     "--captions", "platform", "--out", str(tmp_path / "out"), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    [output] = json.loads(result.stdout)["outputs"]
    assert "SECOND LINE" in Path(output["captions"]).read_text()

    link = f"{site.url}/video.html"
    result = _render(link, "--brand", "captioned", "--config", config, "--captions", "platform",
                     "--out", str(tmp_path / "out2"))  # fmt: skip
    errors = [line for line in result.stderr.splitlines() if line.startswith("wtf-portal:")]
    assert result.returncode == 2 and len(errors) == 1 and 'captions "platform" were asked for' in errors[0]
