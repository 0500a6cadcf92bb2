"""A dependency goes away in the middle of a batch and comes back: no job is lost, none runs twice.

The service runs as deployed at scale: a web and two `wtf-portal worker`s with their own data folders,
sharing a real PostgreSQL (state), a real redis-server (queue) and moto's S3 server (the bucket, reached
through a loopback proxy that can be cut). Each fault is injected while a job renders; jobs are submitted
before, during (only those answered 2xx are expected to run) and after it. Every one must end
`completed` with one completion record and exactly its outputs in the bucket, with no manual step,
within JOBS_BOUND_S of the dependency's return (a bound, not a speed check). While the dependency is
down the web answers 503 with Retry-After and a code naming it, never 500.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, func, select

from portal.database import LogEntry
from tests.conftest import PostgresServer, RedisServer
from tests.mediagen import make_clip
from tests.outages.faults import TcpProxy, static_site
from tests.storage.cluster import Cluster, Worker
from tests.storage.s3server import BUCKET, S3Server, moto_server

PREFIX = "team"
JOBS_BOUND_S = 240
SETTINGS = {
    "WTF_HEARTBEAT_STALE_S": "6",  # a frozen worker's job is given to another after this
    "WTF_SWEEP_QUEUED_AFTER_S": "5",  # a queued job with no message is sent again after this
    "WTF_OUTAGE_WAIT_S": "120",  # longer than every outage here: no job may fail for one
    "WTF_ALLOW_PRIVATE_URLS": "1",  # link jobs from the loopback site
    "WTF_MIN_FREE_DISK_MB": "0",
}


@dataclass
class Stack:
    cluster: Cluster
    postgres: PostgresServer
    redis: RedisServer
    bucket: TcpProxy
    s3: S3Server
    site: str
    clips: Path
    database_url: str
    accepted: list[str] = field(default_factory=list)

    @property
    def web(self):
        assert self.cluster.web is not None
        return self.cluster.web

    def submit(self, kind: str, unavailable: str | None = None) -> str | None:
        """One job (`upload`, `link` or `long`); its id if answered 2xx. During an outage (`unavailable`
        names the dependency) a refusal must be a 503 naming it, with Retry-After."""
        try:
            if kind == "link":
                link = {"url": f"{self.site}/short.mp4", "brands": ["fallclips"]}
                answer = self.web.call("POST", "/api/videos/process", json=link)
            else:
                clip = self.clips / ("long.mp4" if kind == "long" else "short.mp4")
                with clip.open("rb") as handle:
                    answer = self.web.call("POST", "/api/uploads", files={"file": (clip.name, handle)})
                if answer.status_code == 201:
                    payload = {"upload_id": answer.json()["upload"]["id"], "brands": ["watchthefall"],
                               "preset": "vertical" if kind == "long" else "source"}  # fmt: skip
                    answer = self.web.call("POST", "/api/videos/process", json=payload)
        except requests.ConnectionError:
            raise AssertionError("the web dropped the connection") from None
        if answer.status_code == 202:
            job_id = answer.json()["job"]["id"]
            self.accepted.append(job_id)
            return job_id
        assert unavailable is not None, answer.text
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == unavailable
        assert int(answer.headers["Retry-After"]) > 0
        return None

    def rendering(self, job_id: str) -> Worker:
        """Once the job's FFmpeg runs: the worker running it."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            for worker in self.cluster.workers:
                if worker.alive and worker.ffmpeg_of(job_id):
                    return worker
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} never rendered\n{self.cluster.logs()}")

    def completions(self) -> dict[str, int]:
        engine = create_engine(self.database_url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            with engine.connect() as connection:
                rows = connection.execute(
                    select(LogEntry.job_id, func.count())
                    .where(LogEntry.message.like("% outputs in %"))
                    .group_by(LogEntry.job_id)
                ).all()
        finally:
            engine.dispose()
        return dict(rows)

    def check_each_completed_once(self, job_ids: list[str]) -> dict[str, dict]:
        done = self.cluster.wait_all(job_ids, timeout=JOBS_BOUND_S)
        failed = {job_id: job["error"] for job_id, job in done.items() if job["status"] != "completed"}
        assert not failed, f"{failed}\n{self.cluster.logs()}"
        wait_for(lambda: self.completions().keys() >= set(job_ids), 60, "every completion record")
        counts = self.completions()
        assert {job_id: counts[job_id] for job_id in job_ids} == dict.fromkeys(job_ids, 1)
        stored = self.s3.keys(f"{PREFIX}/outputs/")
        for job in done.values():
            assert len(job["outputs"]) == len(job["brands"])
            for output in job["outputs"]:
                assert stored.get(f"{PREFIX}/outputs/{output['filename']}") == output["size_bytes"]
        return done


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("outages")
    clips = root / "clips"
    clips.mkdir()
    make_clip(clips / "short.mp4", width=240, height=426, duration=1)
    make_clip(clips / "long.mp4", width=480, height=854, duration=6)  # renders for seconds: mid-batch
    with contextlib.ExitStack() as resources:
        postgres = resources.enter_context(PostgresServer.started())
        redis = resources.enter_context(RedisServer.started(persistent=True))
        s3 = resources.enter_context(moto_server(root / "moto.log"))
        bucket = TcpProxy(int(s3.endpoint.rsplit(":", 1)[1])).start()
        site = resources.enter_context(static_site(clips))
        database_url = f"{postgres.url}/postgres"
        env = {
            **s3.env, "AWS_ENDPOINT_URL": bucket.url, "WTF_STORAGE_URL": f"s3://{BUCKET}/{PREFIX}",
            "WTF_DATABASE_URL": database_url, "WTF_QUEUE_URL": redis.url, **SETTINGS,
        }  # fmt: skip
        cluster = Cluster(root / "hosts", env).start(workers=2)
        resources.callback(cluster.stop)
        cluster.wait_ready()
        yield Stack(cluster, postgres, redis, bucket, s3, site, clips, database_url)


def run_batch(stack: Stack, unavailable: str, fault, restore, outage_s: float) -> None:
    """Jobs before the fault (one renders when it strikes), during it and after it; all complete once."""
    stack.accepted.clear()
    long_job = stack.submit("long")
    for kind in ("upload", "link", "upload"):
        stack.submit(kind)
    stack.rendering(long_job)
    fault()
    struck = time.monotonic()
    for kind in ("upload", "link"):
        time.sleep(2)
        stack.submit(kind, unavailable)
        ready = requests.get(f"{stack.web.url}/readyz", timeout=30)
        assert ready.status_code == 503 and unavailable in ready.json()["unavailable"]
    time.sleep(max(0.0, outage_s - (time.monotonic() - struck)))
    restore()
    for kind in ("upload", "link"):
        stack.submit(kind)
    stack.check_each_completed_once(list(stack.accepted))
    wait_for(lambda: requests.get(f"{stack.web.url}/readyz", timeout=30).status_code == 200, 60, "ready")


def test_redis_killed_for_20_s(stack: Stack) -> None:
    """With persistence (an append-only file) the queue comes back as it was."""
    run_batch(stack, "queue_unavailable", stack.redis.kill, stack.redis.start, outage_s=20)


def test_redis_restarted_empty(stack: Stack) -> None:
    """Without persistence every message is gone: the sweeper sends the queued jobs again."""

    def restart_empty() -> None:
        for leftover in stack.redis.home.iterdir():  # what a Redis without persistence comes back with
            if leftover.is_dir():
                for item in leftover.iterdir():
                    item.unlink()
            else:
                leftover.unlink()
        stack.redis.start()

    run_batch(stack, "queue_unavailable", stack.redis.kill, restart_empty, outage_s=5)


def test_postgresql_stopped_for_30_s(stack: Stack) -> None:
    run_batch(stack, "database_unavailable", stack.postgres.stop, stack.postgres.start, outage_s=30)


def test_bucket_unreachable_for_30_s(stack: Stack) -> None:
    run_batch(stack, "storage_unavailable", stack.bucket.cut, stack.bucket.restore, outage_s=30)


def test_readyz_is_bounded_when_the_bucket_never_answers(stack: Stack) -> None:
    """A store that accepts connections and never answers: /readyz still answers, naming it."""
    stack.bucket.hang()
    try:
        ready = requests.get(f"{stack.web.url}/readyz", timeout=60)
    finally:
        stack.bucket.restore()
    assert ready.status_code == 503 and ready.json()["unavailable"] == ["storage_unavailable"]
    wait_for(lambda: requests.get(f"{stack.web.url}/readyz", timeout=30).status_code == 200, 60, "ready")


@pytest.mark.parametrize("deleted_meanwhile", [False, True], ids=["completed", "deleted"])
def test_a_frozen_worker_cannot_finish_a_job_again(stack: Stack, deleted_meanwhile: bool) -> None:
    """A worker is frozen (SIGSTOP) as it uploads an output, past its lease; the job completes on the
    other worker; then it resumes (SIGCONT): it overwrites no output of the completed job, and brings
    back none of a job deleted meanwhile. (Its upload is held by a store that does not answer, so the
    freeze lands after its render and its lease check, in the middle of the write.)"""
    stack.accepted.clear()
    job_id = stack.submit("long")
    frozen = stack.rendering(job_id)
    stack.bucket.hang()
    wait_for(lambda: not frozen.ffmpeg_of(job_id), 180, "its render to end")
    time.sleep(1)  # it has checked its lease; its upload now waits for an answer
    os.killpg(frozen.process.pid, signal.SIGSTOP)
    stack.bucket.restore()  # for everyone else: the frozen upload's connection stays unanswered
    try:
        [job] = stack.check_each_completed_once([job_id]).values()
        assert job["attempts"] == 2
        before = {o["filename"]: _etag(stack, o["filename"]) for o in job["outputs"]}
        if deleted_meanwhile:
            assert stack.web.call("DELETE", f"/api/jobs/{job_id}").status_code == 200
            assert not _outputs_of(stack, job_id)
    finally:
        os.killpg(frozen.process.pid, signal.SIGCONT)
    log = frozen.data_dir / "worker.log"
    lost = f"job {job_id}: "
    wait_for(
        lambda: any(lost in line and "no longer holds it" in line for line in log.read_text().splitlines()),
        60, "the late run to find it lost its lease",
    )  # fmt: skip
    time.sleep(2)  # whatever it would still write, it would have written by now
    if deleted_meanwhile:
        assert not _outputs_of(stack, job_id)
        assert stack.web.call("GET", f"/api/jobs/{job_id}").status_code == 404
    else:
        assert {name: _etag(stack, name) for name in before} == before
        assert stack.completions()[job_id] == 1
        assert stack.web.job(job_id)["status"] == "completed"


def _outputs_of(stack: Stack, job_id: str) -> list[str]:
    return [key for key in stack.s3.keys(f"{PREFIX}/outputs/") if job_id[:8] in key]


def _etag(stack: Stack, filename: str) -> tuple[str, str]:
    head = stack.s3.client().head_object(Bucket=BUCKET, Key=f"{PREFIX}/outputs/{filename}")
    return head["ETag"], str(head["LastModified"])
