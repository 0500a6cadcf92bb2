"""The API and retention with WTF_STORAGE_URL set: the real app (Flask's test client) on moto's S3 server."""

from __future__ import annotations

import io
import shutil
import zipfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from portal.database import Job, Output, Upload, new_id, utc_now
from portal.jobs.maintenance import cleanup
from portal.storage.objects import OUTPUTS, UPLOADS, MediaStorage
from tests import apptools
from tests.conftest import free_port
from tests.storage.s3server import BUCKET, S3Server
from tests.web.server import KEY

AUTH = {"X-Portal-Key": KEY}
PREFIX = "portal"


def make_app(data_dir: Path) -> Flask:
    return apptools.make_app(data_dir, storage_url=f"s3://{BUCKET}/{PREFIX}", embedded_worker=False)


@pytest.fixture
def app(s3: S3Server, tmp_path: Path) -> Flask:
    return make_app(tmp_path / "data")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def storage_of(app: Flask) -> MediaStorage:
    return app.extensions["runtime"].storage


def add_job(app: Flask, clip: Path, status: str = "completed", age_hours: float = 0) -> Job:
    """A job row whose output (a real MP4) and source are stored in the bucket."""
    runtime, storage = app.extensions["runtime"], storage_of(app)
    job_id = new_id()
    name = f"clip-{job_id[:8]}_watchthefall.mp4"
    scratch = runtime.settings.temp_dir
    scratch.mkdir(parents=True, exist_ok=True)
    shutil.copy(clip, scratch / name)
    shutil.copy(clip, scratch / f"{job_id}.mp4")
    output_ref = storage.store(scratch / name, OUTPUTS)
    source_ref = storage.store(scratch / f"{job_id}.mp4", UPLOADS)
    when = utc_now() - timedelta(hours=age_hours)
    with runtime.db.session() as session:
        job = Job(
            id=job_id, kind="render", status=status, progress=100.0, source_kind="upload",
            source_name="clip.mp4", source_path=source_ref, brands=["watchthefall"], preset="source",
            attempts=1, cancel_requested=False, created_at=when, started_at=when,
            finished_at=when if status == "completed" else None,
        )  # fmt: skip
        job.outputs.append(Output(brand="watchthefall", filename=name, size_bytes=clip.stat().st_size,
                                  width=320, height=568, duration=1.0))  # fmt: skip
        session.add(job)
    assert storage.exists(output_ref)
    return job


def test_upload_goes_to_the_bucket_and_leaves_no_file_behind(app, client, s3, clip) -> None:
    with clip.open("rb") as handle:
        answer = client.post("/api/uploads", headers=AUTH, data={"file": (handle, "My Clip.mp4")})
    assert answer.status_code == 201, answer.json
    upload = answer.json["upload"]
    stored = s3.keys(f"{PREFIX}/uploads/")
    assert stored.pop(f"{PREFIX}/uploads/{upload['id']}.mp4") == clip.stat().st_size
    assert list(stored) == [f"{PREFIX}/uploads/{upload['source_id']}.jpg"]  # its library item's cover
    data = app.extensions["runtime"].settings.data_dir
    assert [p for p in data.rglob("*") if p.is_file() and p.suffix == ".mp4"] == []
    queued = client.post("/api/videos/process", headers=AUTH,
                         json={"upload_id": upload["id"], "brands": ["watchthefall"]})  # fmt: skip
    assert queued.status_code == 202 and queued.json["job"]["status"] == "queued"


def test_a_file_that_is_not_a_video_is_refused_and_not_stored(app, client, s3) -> None:
    answer = client.post("/api/uploads", headers=AUTH, data={"file": (io.BytesIO(b"hello" * 100), "x.mp4")})
    assert answer.status_code == 415 and answer.json["error"]["code"]
    assert s3.keys() == {}
    assert not list(app.extensions["runtime"].settings.temp_dir.glob("*"))


def test_downloads_redirect_to_presigned_urls(app, client, s3, clip) -> None:
    job = add_job(app, clip)
    name = job.outputs[0].filename
    keyed = client.get(f"/api/videos/download/{name}", headers=AUTH)
    assert keyed.status_code == 302
    location = keyed.headers["Location"]
    assert location.startswith(f"{s3.endpoint}/{BUCKET}/{PREFIX}/outputs/{name}?")
    served = requests.get(location, timeout=10)
    assert served.content == clip.read_bytes()
    assert served.headers["Content-Disposition"] == f'attachment; filename="{name}"'
    assert served.headers["Content-Type"] == "video/mp4"

    described = client.get(f"/api/jobs/{job.id}", headers=AUTH).json["job"]
    signed = client.get(described["outputs"][0]["url"])  # no key: the signed link stands in for it
    assert signed.status_code == 302
    inline = requests.get(signed.headers["Location"], timeout=10).headers["Content-Disposition"]
    assert inline == f'inline; filename="{name}"'
    tampered = client.get(described["outputs"][0]["url"].replace("signature=", "signature=x"))
    assert tampered.status_code == 403

    missing = client.get("/api/videos/download/nothing-here.mp4", headers=AUTH)
    assert missing.status_code == 404 and missing.json["error"]["code"] == "stored_file_missing"
    escape = client.get(f"/api/videos/download/..%2Fuploads%2F{job.id}.mp4", headers=AUTH)
    assert escape.status_code == 404


def test_archive_streams_from_the_bucket_and_delete_removes_objects(app, client, s3, clip) -> None:
    job = add_job(app, clip)
    archive = client.get(f"/api/jobs/{job.id}/archive", headers=AUTH)
    assert archive.status_code == 200 and archive.is_streamed
    zipped = zipfile.ZipFile(io.BytesIO(archive.get_data()))
    assert zipped.read(job.outputs[0].filename) == clip.read_bytes()
    assert client.delete(f"/api/jobs/{job.id}", headers=AUTH).status_code == 200
    assert s3.keys(f"{PREFIX}/outputs/") == {}


def test_readyz_and_debug_report_the_bucket(app, client, clip, tmp_path: Path, monkeypatch) -> None:
    ready = client.get("/readyz", headers=AUTH)  # the details only with the key
    assert ready.status_code == 200 and ready.json["checks"]["storage"]["bucket"] == BUCKET
    report = client.get("/api/debug/storage", headers=AUTH).json["storage"]
    assert report["kind"] == "s3" and report["ok"] and report["outputs"]["objects"] == 0
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    down = make_app(tmp_path / "other").test_client()
    answer = down.get("/readyz")
    assert answer.status_code == 503 and answer.json["checks"]["storage"]["ok"] is False
    with clip.open("rb") as handle:
        refused = down.post("/api/uploads", headers=AUTH, data={"file": (handle, "clip.mp4")})
    assert refused.status_code == 503 and refused.json["error"]["code"] == "storage_unavailable"
    assert not list((tmp_path / "other" / "temp").glob("*")), "the scratch copy is removed"


def test_retention_deletes_expired_objects_and_keeps_those_in_use(app, s3, clip) -> None:
    runtime, storage = app.extensions["runtime"], storage_of(app)
    old = add_job(app, clip, age_hours=100)
    queued = add_job(app, clip, status="queued", age_hours=100)  # waiting for a worker: never touched
    fresh = add_job(app, clip, age_hours=-50)
    stray = runtime.settings.temp_dir / "stray.mp4"
    shutil.copy(clip, stray)
    storage.store(stray, OUTPUTS)
    with runtime.db.session() as session:
        session.add(Upload(id="u" * 32, filename="gone.mp4", path=storage.ref(UPLOADS, "gone.mp4"), size=1,
                           media={}, created_at=utc_now() - timedelta(hours=2)))  # fmt: skip
    client = s3.client()
    client.create_multipart_upload(Bucket=BUCKET, Key=f"{PREFIX}/outputs/killed.mp4")

    # The store dates every object now: run the pass 100 hours later (retention 72 h), when they are all
    # old; `fresh` finished 50 hours from now, so its row still offers its files.
    with runtime.db.session() as session:
        report = cleanup(runtime.settings, session, now=utc_now() + timedelta(hours=100), storage=storage)
    keys = set(s3.keys())
    for job in (queued, fresh):
        assert f"{PREFIX}/outputs/{job.outputs[0].filename}" in keys
        assert urlparse(job.source_path).path.lstrip("/") in keys
    assert f"{PREFIX}/outputs/{old.outputs[0].filename}" not in keys
    assert f"{PREFIX}/uploads/{old.id}.mp4" not in keys
    assert f"{PREFIX}/outputs/stray.mp4" not in keys
    assert report.jobs_removed == 1 and report.uploads_removed == 1 and not report.errors
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_v3_source_path_names_a_stored_file(app, client, clip) -> None:
    """v3's process_brands takes a fetch result's or an upload's file name; both live in the bucket."""
    job = add_job(app, clip)
    fetched = job.outputs[0].filename
    for source_path, ref in (
        (fetched, storage_of(app).ref(OUTPUTS, fetched)),
        (f"{job.id}.mp4", job.source_path),
    ):
        answer = client.post("/api/videos/process_brands", headers={**AUTH, "Prefer": "respond-async"},
                             json={"source_path": source_path, "brands": ["WatchTheFall"]})  # fmt: skip
        assert answer.status_code == 202, answer.json
        with app.extensions["runtime"].db.session() as session:
            queued = session.get(Job, answer.json["job"]["id"])
            assert queued.source_path == ref
    missing = client.post("/api/videos/process_brands", headers=AUTH,
                          json={"source_path": "nothing.mp4", "brands": ["WatchTheFall"]})  # fmt: skip
    assert missing.status_code == 404


def test_deleting_a_library_item_removes_its_objects(app, client, s3, clip) -> None:
    with clip.open("rb") as handle:
        upload = client.post("/api/uploads", headers=AUTH, data={"file": (handle, "pet.mp4")}).json["upload"]
    assert len(s3.keys(f"{PREFIX}/uploads/")) == 2  # the file and its cover
    item = client.get(f"/api/sources/{upload['source_id']}", headers=AUTH).json["source"]
    assert item["title"] == "pet" and item["stored"] and item["cover_url"]
    assert client.delete(f"/api/sources/{item['id']}", headers=AUTH).status_code == 200
    assert s3.keys(f"{PREFIX}/uploads/") == {}
    gone = client.post(
        "/api/videos/process", headers=AUTH, json={"upload_id": upload["id"], "brands": ["watchthefall"]}
    )
    assert gone.status_code == 404 and gone.json["error"]["code"] == "upload_not_found"
