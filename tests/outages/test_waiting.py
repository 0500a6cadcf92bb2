"""The parts of riding out an outage that one process shows: a job that waits `queued` with a stage
instead of starting (free disk), the sweeper, the lease fence, a full disk named as such by the engine,
and the web's 503s with Retry-After (real PostgreSQL and redis-server, stopped under the app)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from portal.config import load_settings
from portal.database import Job
from portal.errors import QueueUnavailableError, is_transient
from portal.jobs import state, tasks
from portal.jobs.state import NewJob
from portal.jobs.status import JobStatus
from portal.jobs.tasks import WAITING_FOR_DISK, register_tasks
from portal.media.errors import DiskFullError
from portal.media.ffmpeg import run_ffmpeg, usable_ffmpeg
from portal.runtime import Runtime
from tests.apptools import make_app, signed_in_client
from tests.conftest import REPO, PostgresServer, RedisServer
from tests.web.server import KEY

AUTH = {"X-Portal-Key": KEY}


def make_runtime(data_dir: Path, **overrides: object) -> Runtime:
    settings = load_settings(data_dir=data_dir, brand_config=REPO / "brand_config.json", **overrides)
    settings.ensure_dirs()
    rt = register_tasks(Runtime(settings))
    rt.db.upgrade()
    return rt


def upload_job(rt: Runtime, clip: Path) -> str:
    stored = rt.settings.uploads_dir / "clip.mp4"
    shutil.copyfile(clip, stored)
    [job_id] = state.submit(
        rt.db, [NewJob("render", "upload", "clip.mp4", str(stored), ["watchthefall"], "source")]
    )
    return job_id


def job_row(rt: Runtime, job_id: str) -> Job:
    with rt.db.session() as session:
        job = session.get(Job, job_id)
        assert job.outputs is not None  # loaded while the session is open
        return job


def test_a_job_waits_queued_while_the_disk_is_short_then_runs(tmp_path: Path, clip: Path) -> None:
    data = tmp_path / "data"
    short = make_runtime(data, min_free_disk_mb=10**9)  # more than any disk has
    job_id = upload_job(short, clip)
    tasks.process_job(short, job_id)
    waiting = job_row(short, job_id)
    assert (waiting.status, waiting.stage, waiting.attempts) == (JobStatus.QUEUED, WAITING_FOR_DISK, 0)
    assert job_id in short.queued_job_ids()  # looked at again later, by itself

    enough = make_runtime(data, min_free_disk_mb=0)  # space was freed
    tasks.process_job(enough, job_id)
    done = job_row(enough, job_id)
    assert (done.status, done.attempts, len(done.outputs)) == (JobStatus.COMPLETED, 1, 1)


def test_the_sweeper_sends_a_queued_job_that_no_message_carries_once(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path / "data", sweep_queued_after_s=1)
    [job_id] = state.submit(
        rt.db, [NewJob("render", "url", "https://example.com/v.mp4", None, ["watchthefall"], "source")]
    )
    assert tasks.sweep_queued_jobs(rt) == []  # just submitted: its enqueue may be on its way
    with rt.db.session() as session:  # as if submitted a while ago, and its message lost
        row = session.get(Job, job_id)
        row.heartbeat_at = row.heartbeat_at.replace(year=2020)
    assert tasks.sweep_queued_jobs(rt) == [job_id]
    assert rt.queued_job_ids() == {job_id}
    with rt.db.session() as session:
        session.get(Job, job_id).heartbeat_at = row.heartbeat_at.replace(year=2020)
    assert tasks.sweep_queued_jobs(rt) == []  # its message is on the queue: not sent twice
    assert rt.huey.pending_count() == 1


def test_a_run_that_lost_its_lease_writes_nothing(tmp_path: Path) -> None:
    rt = make_runtime(tmp_path / "data", heartbeat_stale_s=2)
    [job_id] = state.submit(
        rt.db, [NewJob("render", "url", "https://example.com/v.mp4", None, ["watchthefall"], "source")]
    )
    assert state.lease(rt.db, job_id, "late")
    with rt.db.session() as session:  # its heartbeat went stale: the reaper gives the job to another run
        row = session.get(Job, job_id)
        row.heartbeat_at = row.heartbeat_at.replace(year=2020)
    assert state.reap(rt.db, 2, 3) == [job_id]
    assert state.lease(rt.db, job_id, "current")
    with pytest.raises(state.LeaseLostError):
        state.fence(rt.db, job_id, holder="late", source_path="/elsewhere")
    state.fence(rt.db, job_id, holder="current")
    assert state.finish(rt.db, job_id, [], holder="late") is False
    assert state.wait_in_queue(rt.db, job_id, "late wait", holder="late") is False
    row = job_row(rt, job_id)
    assert (row.status, row.lease_owner, row.source_path) == (JobStatus.DOWNLOADING, "current", None)


def test_ffmpeg_writing_to_a_full_disk_is_disk_full_and_transient(tmp_path: Path) -> None:
    args = ["-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:duration=1", "-c:v", "libx264", "-f", "mpegts"]
    with pytest.raises(DiskFullError) as raised:
        run_ffmpeg(usable_ffmpeg(), [*args, "/dev/full"], duration=1)  # every write: ENOSPC
    assert raised.value.code == "disk_full" and is_transient(raised.value)
    assert "exit code 228" in raised.value.message


def test_the_web_answers_503_naming_the_database_while_it_is_down(tmp_path: Path) -> None:
    with PostgresServer.started() as postgres:
        app = make_app(tmp_path / "data", database_url=f"{postgres.url}/postgres")
        dashboard = signed_in_client(app)
        api = app.test_client()
        postgres.stop()
        answer = api.get("/api/jobs", headers=AUTH)
        assert answer.status_code == 503 and answer.json["error"]["code"] == "database_unavailable"
        assert int(answer.headers["Retry-After"]) > 0
        page = dashboard.get("/portal/", headers={"Accept": "text/html"})
        assert page.status_code == 503
        assert b'id="outage"' in page.data and b"tries again by itself" in page.data
        assert b'http-equiv="refresh"' in page.data  # it comes back by itself
        ready = api.get("/readyz")
        assert ready.status_code == 503 and ready.json["unavailable"] == ["database_unavailable"]
        postgres.start()
        assert api.get("/api/jobs", headers=AUTH).status_code == 200
        assert dashboard.get("/portal/").status_code == 200


def test_a_submission_while_the_queue_is_down_is_kept_and_sent_by_the_sweeper(
    tmp_path: Path, clip: Path
) -> None:
    with RedisServer.started() as redis:
        app = make_app(tmp_path / "data", queue_url=redis.url, sweep_queued_after_s=1, embedded_worker=False)
        client = app.test_client()
        with clip.open("rb") as handle:
            upload = client.post("/api/uploads", headers=AUTH, data={"file": (handle, "clip.mp4")})
        redis.kill()
        answer = client.post(
            "/api/videos/process",
            headers=AUTH,
            json={"upload_id": upload.json["upload"]["id"], "brands": ["watchthefall"]},
        )
        assert answer.status_code == 202  # recorded: the sweeper sends it once the queue is back
        job_id = answer.json["job"]["id"]
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json["unavailable"] == ["queue_unavailable"]
        rt = app.extensions["runtime"]
        with rt.db.session() as session:  # as if it had waited long enough to be swept
            row = session.get(Job, job_id)
            row.heartbeat_at = row.heartbeat_at.replace(year=2020)
        with pytest.raises(QueueUnavailableError):  # the sweeper too waits for the queue
            tasks.sweep_queued_jobs(rt)
        assert job_row(rt, job_id).status == JobStatus.QUEUED
        redis.start()  # back, and empty
        assert tasks.sweep_queued_jobs(rt) == [job_id]
        assert rt.queued_job_ids() == {job_id}
        assert client.get("/readyz").status_code == 200
