"""The real service (gunicorn + its consumer) against a loopback site that blocks us: five failures in a row
pause the site, a later job waits in `queued` saying why and until when, then runs after the cool-down;
/api/sites and /metrics count per site and outcome. Through a proxy with a password and with an uploaded
cookies file, neither of which appears in any log, error, debug page or metric."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.download.conftest import PROXY_PASSWORD, PROXY_USER, Proxy, Site
from tests.web.server import Server

COOKIE_VALUE = "c00kie-Value-never-shown"
COOLDOWN_S = 6


@pytest.fixture
def service(tmp_path: Path, proxy: Proxy) -> Iterator[Server]:
    dead = f"http://{PROXY_USER}:dead-{PROXY_PASSWORD}@127.0.0.1:{free_port()}"  # nothing listens there
    env = {
        "WTF_ALLOW_PRIVATE_URLS": "1",
        "WTF_PROXIES": f"{dead},{proxy.url}",
        "WTF_SITE_COOLDOWN_S": str(COOLDOWN_S),
        "WTF_LOG_LEVEL": "DEBUG",  # yt-dlp's own lines too: the most a log can hold
    }
    data = tmp_path / "data"
    data.mkdir()
    running = Server(data, env=env).start()
    yield running
    running.stop()


def fetch(service: Server, url: str) -> str:
    # v3's route, asynchronous: the download-only job of a link
    response = service.call(
        "POST", "/api/videos/fetch", json={"urls": [url]}, headers={"Prefer": "respond-async"}
    )
    assert response.status_code == 202, response.text
    return response.json()["jobs"][0]["id"]


def test_five_failures_pause_the_site_later_jobs_wait_then_run_and_no_secret_shows(
    service: Server, site: Site, proxy: Proxy
) -> None:
    cookies = f"127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\t{COOKIE_VALUE}\n".encode()
    stored = service.call("POST", "/api/cookies", files={"file": ("cookies.txt", cookies)})
    assert stored.status_code == 201 and stored.json()["cookies"]["site"] == "127.0.0.1"

    failed = [service.wait(fetch(service, f"{site.url}/forbidden.mp4?n={n}")) for n in range(5)]
    assert [(job["status"], job["error"]["code"]) for job in failed] == [("failed", "access_denied")] * 5
    (record,) = service.call("GET", "/api/sites").json()["sites"]
    assert record["site"] == "127.0.0.1" and record["failures_in_a_row"] == 5 and record["paused_until"]
    assert record["last_code"] == "access_denied" and "403" in record["last_reason"]

    waiting = fetch(service, f"{site.url}/clip.mp4?after-the-pause")
    job = service.wait(waiting, until=lambda job: (job["stage"] or "").startswith("waiting:"))
    assert job["status"] == "queued" and "127.0.0.1 paused after 5 failures in a row" in job["stage"]
    assert "until" in job["stage"] and not site.hits["/clip.mp4?after-the-pause"]
    job = service.wait(waiting, timeout=COOLDOWN_S + 120)  # a bound for a busy machine
    assert job["status"] == "completed", job
    assert any("after-the-pause" in line for line in proxy.requests())  # through the live proxy
    assert any(COOKIE_VALUE in header for header in site.cookies)  # the uploaded file was sent to its site

    (record,) = service.call("GET", "/api/sites").json()["sites"]
    assert (record["successes"], record["failures"], record["failures_in_a_row"]) == (1, 5, 0)
    assert record["paused_until"] is None
    metrics = service.call("GET", "/metrics").text
    assert 'wtf_site_downloads_total{outcome="failure",site="127.0.0.1"} 5.0' in metrics
    assert 'wtf_site_downloads_total{outcome="success",site="127.0.0.1"} 1.0' in metrics
    assert 'wtf_site_paused{site="127.0.0.1"} 0.0' in metrics
    files = service.call("GET", "/api/cookies").json()["cookies"]["files"]
    assert [file["state"] for file in files] == ["working"]

    # everything a person or a scraper can read: answers, pages, the log and the database's log table
    shown = [metrics, service.call("GET", "/api/sites").text, service.call("GET", "/api/cookies").text,
             service.call("GET", "/api/jobs?limit=50").text, service.call("GET", "/portal/").text,
             (service.data_dir / "server.log").read_text(errors="replace")]  # fmt: skip
    for page in ("env", "health", "storage", "ffmpeg", "brands"):
        shown.append(service.call("GET", f"/api/debug/{page}").text)
    with sqlite3.connect(service.data_dir / "portal.db") as database:
        shown += [row[0] for row in database.execute("SELECT message FROM logs")]
        shown += [str(row) for row in database.execute("SELECT * FROM site_health")]
    text = "\n".join(shown)
    assert "proxy http://127.0.0.1:" in text  # the dead proxy is named in the log, by host and port
    for secret in (PROXY_PASSWORD, f"{PROXY_USER}:", COOKIE_VALUE):
        assert secret not in text, secret
