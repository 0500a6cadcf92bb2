"""Upload -> process -> events -> download (Range) -> archive, through the real service over HTTP."""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import datetime
from pathlib import Path

import requests
from PIL import Image

from tests.web.server import KEY, Server


def read_events(server: Server, job_id: str) -> list[dict]:
    events = []
    with requests.get(f"{server.url}/api/jobs/{job_id}/events", headers={"X-Portal-Key": KEY},
                      stream=True, timeout=120) as response:  # fmt: skip
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["X-Accel-Buffering"] == "no"
        for line in response.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    return events


def test_upload_process_events_download_archive(server: Server, clip: Path) -> None:
    job = server.process_upload(clip, ["watchthefall", "fallclips"], preset="square")
    assert job["status"] == "queued" and job["brands"] == ["watchthefall", "fallclips"]

    events = read_events(server, job["id"])  # the stream ends by itself when the job ends
    assert events[-1]["status"] == "completed" and events[-1]["progress"] == 100
    progress = [event["progress"] for event in events]
    assert progress == sorted(progress)
    assert {"status", "stage", "progress"} <= set(events[0])

    job = server.job(job["id"])
    assert [o["brand"] for o in job["outputs"]] == ["watchthefall", "fallclips"]
    output = job["outputs"][0]
    assert (output["width"], output["height"]) == (1080, 1080) and abs(output["duration"] - 1) <= 0.1
    assert job["started_at"] and job["finished_at"]

    whole = server.call("GET", output["url"])
    assert whole.status_code == 200 and whole.headers["Content-Type"] == "video/mp4"
    assert len(whole.content) == output["size_bytes"]
    assert f"filename={output['filename']}" in whole.headers["Content-Disposition"].replace('"', "")
    part = server.call("GET", output["url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{output['size_bytes']}"
    again = server.call("GET", output["url"], headers={"If-None-Match": whole.headers["ETag"]})
    assert again.status_code == 304

    archive = server.call("GET", f"/api/jobs/{job['id']}/archive")
    assert archive.status_code == 200 and archive.headers["Content-Type"] == "application/zip"
    # named like the outputs (the source's stem and the job's short id), not job-<uuid>.zip
    assert archive.headers["Content-Disposition"] == f'attachment; filename="{clip.stem}-{job["id"][:8]}.zip"'
    cover = requests.get(f"{server.url}{output['cover_url']}", timeout=30)  # signed like `url`: no key
    assert cover.status_code == 200 and cover.headers["Content-Type"] == "image/jpeg"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        expected = [name for o in job["outputs"] for name in (o["filename"], o["filename"][:-4] + ".jpg")]
        assert sorted(bundle.namelist()) == sorted(expected)
        assert bundle.read(output["filename"]) == whole.content
        for member in bundle.infolist():  # dated as the files were written (ZIP keeps local time, 2 s steps)
            written = datetime.fromtimestamp((server.data_dir / "outputs" / member.filename).stat().st_mtime)
            assert abs((datetime(*member.date_time) - written).total_seconds()) <= 2
        assert bundle.read(output["filename"][:-4] + ".jpg") == cover.content
    with Image.open(io.BytesIO(cover.content)) as picture:  # a cover at the output's size
        assert picture.format == "JPEG" and picture.size == (1080, 1080)


def test_portrait_crop_job_keeps_its_fit_and_reports_loudness(server: Server, clip: Path) -> None:
    payload = {
        "upload_id": server.upload(clip),
        "brands": ["watchthefall"],
        "preset": "portrait",
        "fit": "crop",
    }
    response = server.call("POST", "/api/videos/process", json=payload)
    assert response.status_code == 202, response.text
    job = server.wait(response.json()["job"]["id"])
    assert job["status"] == "completed" and (job["preset"], job["fit"]) == ("portrait", "crop")
    output = job["outputs"][0]
    assert (output["width"], output["height"]) == (1080, 1350)
    assert abs(output["loudness"]["after"]["integrated_lufs"] - output["loudness"]["target_lufs"]) <= 1
    bad = server.call("POST", "/api/videos/process", json={**payload, "fit": "stretch"})
    assert bad.status_code == 422 and "fit" in bad.json()["error"]["message"]


def test_multipart_process_lists_and_pages(server: Server, clip: Path) -> None:
    ids = []
    for _ in range(3):
        with clip.open("rb") as handle:
            response = server.call("POST", "/api/videos/process", files={"file": ("clip.mp4", handle)},
                                   data={"brands": "dailyfails", "preset": "source"})  # fmt: skip
        assert response.status_code == 202, response.text
        ids.append(response.json()["job"]["id"])
    for job_id in ids:
        done = server.wait(job_id)
        assert done["status"] == "completed"
        # stored under the upload's id, named after the file that was sent
        assert done["outputs"][0]["filename"] == f"clip-{job_id[:8]}_dailyfails.mp4"

    first = server.call("GET", "/api/jobs", params={"limit": 2, "status": "completed"}).json()
    assert len(first["jobs"]) == 2 and first["next"]
    second = server.call(
        "GET", "/api/jobs", params={"limit": 2, "status": "completed", "cursor": first["next"]}
    )
    seen = [job["id"] for job in first["jobs"] + second.json()["jobs"]]
    assert len(seen) == len(set(seen)) and set(ids) <= set(seen)
    assert all(job["status"] == "completed" for job in first["jobs"])
    assert server.call("GET", "/api/jobs", params={"status": "failed"}).json()["jobs"] == []


def test_delete_removes_files_and_retry_rules(server: Server, clip: Path) -> None:
    job = server.wait(server.process_upload(clip, ["watchthefall"])["id"])
    path = server.data_dir / "outputs" / job["outputs"][0]["filename"]
    cover = path.with_suffix(".jpg")
    assert path.is_file() and cover.is_file()
    assert (
        server.call("POST", f"/api/jobs/{job['id']}/retry").status_code == 409
    )  # completed: nothing to retry
    assert server.call("DELETE", f"/api/jobs/{job['id']}").status_code == 200
    assert not path.exists() and not cover.exists()
    assert server.call("GET", f"/api/jobs/{job['id']}").status_code == 404


def test_diagnostics_see_the_running_consumer(server: Server) -> None:
    """What needs the real service: the embedded consumer's heartbeat and the queue it serves."""
    health = server.call("GET", "/api/debug/health").json()
    assert health["database"]["ok"] and health["queue"]["ok"]
    for _ in range(100):  # the embedded consumer reports its first heartbeat once it has started
        if health["workers"]:
            break
        time.sleep(0.2)
        health = server.call("GET", "/api/debug/health").json()
    assert health["workers"]
