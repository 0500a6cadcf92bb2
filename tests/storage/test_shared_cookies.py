"""With object storage, a cookies file uploaded to the web is used by a worker on another machine (its own
data folder), and forgetting it on the web reaches the worker too."""

from __future__ import annotations

import io
from pathlib import Path

from flask import Flask

from portal.acquire.cookies import cookies_dir
from portal.config import load_settings
from portal.jobs.tasks import process_job
from portal.runtime import Runtime
from tests import apptools
from tests.download.conftest import Site, site  # noqa: F401  (the loopback site, which records cookies)
from tests.storage.s3server import BUCKET, S3Server
from tests.web.server import KEY

AUTH = {"X-Portal-Key": KEY}
PREFIX = "team"
IN_BUCKET = f"{PREFIX}/secrets/cookies/"
COOKIES = b"127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tshared-abc\n"


def machine(data_dir: Path, database: Path) -> dict:
    """What two machines of one deployment share: the database and the bucket, not the disk."""
    return {
        "data_dir": data_dir, "storage_url": f"s3://{BUCKET}/{PREFIX}", "allow_private_urls": True,
        "database_url": f"sqlite:///{database}",
    }  # fmt: skip


def fetch_on_worker(web: Flask, worker: Runtime, url: str) -> dict:
    client = web.test_client()
    headers = {**AUTH, "Prefer": "respond-async"}
    queued = client.post("/api/videos/fetch", json={"urls": [url]}, headers=headers)
    assert queued.status_code == 202, queued.get_json()
    job_id = queued.get_json()["jobs"][0]["id"]
    process_job(worker, job_id)
    return client.get(f"/api/jobs/{job_id}", headers=AUTH).get_json()["job"]


def test_an_uploaded_cookies_file_is_used_by_a_worker_on_another_machine(
    s3: S3Server,
    tmp_path: Path,
    site: Site,  # noqa: F811
) -> None:
    database = tmp_path / "portal.db"
    web = apptools.make_app(embedded_worker=False, **machine(tmp_path / "web", database))
    settings = load_settings(**{**apptools.TEST_SETTINGS, **machine(tmp_path / "worker", database)})
    settings.ensure_dirs()
    worker = Runtime(settings)
    client = web.test_client()

    cookies_file = {"file": (io.BytesIO(COOKIES), "cookies.txt")}
    uploaded = client.post("/api/cookies", data=cookies_file, headers=AUTH)
    assert uploaded.status_code == 201, uploaded.get_json()
    file_id = uploaded.get_json()["cookies"]["id"]
    assert list(s3.keys(f"{PREFIX}/secrets/")) == [f"{IN_BUCKET}{file_id}.txt"]
    other_web = apptools.make_app(embedded_worker=False, **machine(tmp_path / "replica", database))
    replica = other_web.test_client()
    assert replica.get("/api/cookies", headers=AUTH).get_json()["cookies"]["present"]
    site.cookies.clear()
    job = fetch_on_worker(web, worker, f"{site.url}/clip.mp4?shared-cookies")
    assert job["status"] == "completed", job
    assert any("session=shared-abc" in header for header in site.cookies)
    assert (cookies_dir(tmp_path / "worker") / f"{file_id}.txt").stat().st_mode & 0o777 == 0o600

    # forgotten on one replica: the worker stops sending it, and no replica reports it
    forgotten = replica.delete("/api/cookies", headers=AUTH).get_json()
    assert forgotten == {"cookies": {"present": False, "files": []}}
    assert client.get("/api/cookies", headers=AUTH).get_json() == {"cookies": {"present": False, "files": []}}
    assert list(s3.keys(f"{PREFIX}/secrets/")) == []
    site.cookies.clear()
    job = fetch_on_worker(web, worker, f"{site.url}/clip.mp4?after-forget")
    assert job["status"] == "completed", job
    assert not any("shared-abc" in header for header in site.cookies)
    assert not list(cookies_dir(tmp_path / "worker").iterdir())


def test_the_single_cookies_file_of_before_becomes_a_file_for_every_site(
    s3: S3Server,
    tmp_path: Path,
    site: Site,  # noqa: F811
) -> None:
    """A deployment upgraded from one uploaded file (PREFIX/secrets/cookies.txt) keeps using it."""
    s3.client().put_object(Bucket=BUCKET, Key=f"{PREFIX}/secrets/cookies.txt", Body=COOKIES)
    database = tmp_path / "portal.db"
    web = apptools.make_app(embedded_worker=False, **machine(tmp_path / "web", database))
    settings = load_settings(**{**apptools.TEST_SETTINGS, **machine(tmp_path / "worker", database)})
    settings.ensure_dirs()
    worker = Runtime(settings)
    site.cookies.clear()
    job = fetch_on_worker(web, worker, f"{site.url}/clip.mp4?cookies-of-before")
    assert job["status"] == "completed", job
    assert any("session=shared-abc" in header for header in site.cookies)
    files = web.test_client().get("/api/cookies", headers=AUTH).get_json()["cookies"]["files"]
    assert [(file["site"], file["lines"], file["state"]) for file in files] == [("*", 1, "working")]
    assert list(s3.keys(f"{PREFIX}/secrets/")) == [f"{IN_BUCKET}{files[0]['id']}.txt"]  # moved, not copied
