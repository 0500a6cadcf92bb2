"""Links through the real service: submission checks, one job per link, downloading stage, fetch-only jobs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.download.conftest import Site
from tests.web.server import TERMINAL, Server


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service allowing private addresses, because the test site is on loopback."""
    running = Server(tmp_path_factory.mktemp("data"), env={"WTF_ALLOW_PRIVATE_URLS": "1"}).start()
    yield running
    running.stop()


def test_url_job_downloads_then_brands(service: Server, site: Site) -> None:
    response = service.call(
        "POST",
        "/api/videos/process",
        json={"url": f"{site.url}/og.html", "brands": ["watchthefall"], "preset": "square"},
    )
    assert response.status_code == 202, response.text
    job = service.wait(response.json()["job"]["id"])
    assert job["status"] == "completed", job
    assert job["source"]["title"] == "Falling cat" and job["source"]["extractor"]
    assert [(o["brand"], o["width"], o["height"]) for o in job["outputs"]] == [("watchthefall", 1080, 1080)]


def test_urls_make_one_job_each_and_playlists_expand_when_asked(service: Server, site: Site) -> None:
    urls = [f"{site.url}/clip.mp4?a", f"{site.url}/video.html"]
    response = service.call("POST", "/api/videos/process", json={"urls": urls, "brands": "all"})
    jobs = response.json()["jobs"]
    assert response.status_code == 202 and [job["source"]["name"] for job in jobs] == urls
    expanded = service.call(
        "POST",
        "/api/videos/process",
        json={"url": f"{site.url}/feed.xml", "playlist": True, "brands": ["fallclips"]},
    )
    assert (
        expanded.status_code == 202 and len(expanded.json()["jobs"]) == 5
    )  # the feed's entries, under the cap
    for job in jobs + expanded.json()["jobs"]:
        assert service.wait(job["id"])["status"] == "completed"


def test_link_job_shows_its_download_then_completes(service: Server, site: Site) -> None:
    response = service.call(
        "POST", "/api/videos/process", json={"url": f"{site.url}/slow.mp4?api", "brands": ["fallclips"]}
    )
    job_id = response.json()["job"]["id"]
    seen = service.wait(job_id, until=lambda job: job["status"] == "downloading" or job["status"] in TERMINAL)
    assert seen["status"] == "downloading"  # the server answers after a few seconds
    done = service.wait(job_id)
    assert done["status"] == "completed" and done["progress"] == 100


def test_fetch_downloads_only_and_serves_the_original(service: Server, site: Site) -> None:
    at_once = {"Prefer": "respond-async"}  # else fetch answers when the download ends (v3's shape)
    response = service.call("POST", "/api/videos/fetch", json={"urls": [f"{site.url}/hls/index.m3u8"]},
                            headers=at_once)  # fmt: skip
    assert response.status_code == 202
    job = service.wait(response.json()["jobs"][0]["id"])
    assert job["status"] == "completed" and job["kind"] == "fetch"
    (output,) = job["outputs"]
    assert output["brand"] == "original" and (output["width"], output["height"]) == (320, 568)
    assert service.call("GET", output["url"]).status_code == 200
    again = service.call("POST", "/api/videos/fetch", json={"urls": [f"{site.url}/hls/index.m3u8"]},
                         headers=at_once)  # fmt: skip
    second = service.wait(again.json()["jobs"][0]["id"])
    assert second["status"] == "completed" and second["source"]["reused"] and not job["source"]["reused"]


def test_failed_download_reads_clearly_on_the_job(service: Server, site: Site) -> None:
    response = service.call(
        "POST", "/api/videos/process", json={"url": f"{site.url}/novideo.html", "brands": "all"}
    )
    job = service.wait(response.json()["job"]["id"])
    assert job["status"] == "failed" and job["error"]["code"] == "unsupported_link"
    assert "no video found" in job["error"]["message"]


def test_private_addresses_refused_at_submission_by_default(tmp_path) -> None:
    strict = Server(tmp_path).start()
    try:
        for url in (
            "http://127.0.0.1:9/x.mp4",
            "http://169.254.169.254/latest/meta-data/",
            "file:///etc/passwd",
        ):
            response = strict.call("POST", "/api/videos/process", json={"url": url, "brands": "all"})
            assert response.status_code == 422 and response.json()["error"]["code"] == "url_refused"
        assert strict.call("GET", "/api/jobs").json()["jobs"] == []
    finally:
        strict.stop()


def test_cookies_upload_is_stored_and_never_echoed(service: Server) -> None:
    line = b"example.com\tFALSE\t/\tTRUE\t0\tsid\tsecret-value\n"
    response = service.call("POST", "/api/cookies", files={"file": ("cookies.txt", line)})
    assert response.status_code == 201 and b"secret-value" not in response.content
    stored = response.json()["cookies"]
    assert stored == {"present": True, "lines": 1, "site": "example.com", "id": stored["id"]}  # detected
    listed = service.call("GET", "/api/cookies").json()["cookies"]
    assert listed["present"] and [(f["id"], f["site"], f["state"]) for f in listed["files"]] == [
        (stored["id"], "example.com", "unused")
    ]
    bad = service.call("POST", "/api/cookies", files={"file": ("c.txt", b"sid=1")})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "bad_cookies"
    assert len(service.call("GET", "/api/cookies").json()["cookies"]["files"]) == 1  # kept
    assert service.call("DELETE", "/api/cookies/nope").status_code == 404
    assert service.call("DELETE", "/api/cookies").json() == {"cookies": {"present": False, "files": []}}
