"""A re-render of one output survives its worker (DESIGN 5): a real `wtf-portal worker` is killed with
SIGKILL mid re-render, and another is frozen (SIGSTOP) mid re-render and resumed after the reaper gave its
re-render to a third. The output gets each new version once, from the run that holds it; the killed run
leaves nothing `rendering` forever, and the frozen run's late finish is refused (the version it would
have written stays byte-identical to the one the new run stored)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.engine.inspect_output import describe
from tests.mediagen import make_clip
from tests.web.server import KEY, Server

ENV = {"WTF_EMBEDDED_WORKER": "0", "WTF_HEARTBEAT_STALE_S": "3"}


class Workers:
    """`wtf-portal worker` processes sharing the service's data folder (SQLite state, SQLite queue)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.log = data_dir / "worker.log"
        self.started: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        env = {**os.environ, "WTF_PORTAL_KEY": KEY, "WTF_SECRET_KEY": "s" * 32,
               "WTF_DATA_DIR": str(self.data_dir), "WTF_BRAND_CONFIG": str(REPO / "brand_config.json"),
               **ENV}  # fmt: skip
        with self.log.open("ab") as log:
            worker = subprocess.Popen([sys.executable, "-m", "portal", "worker"], cwd=REPO, env=env,
                                      stdout=log, stderr=log, start_new_session=True)  # fmt: skip
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGCONT)
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Server, Workers]]:
    server = Server(tmp_path, env=ENV).start()
    workers = Workers(tmp_path)
    try:
        yield server, workers
    finally:
        workers.stop_all()
        server.stop()


def rendering_again(server: Server, job_id: str) -> dict:
    """The output once a run renders it again (its FFmpeg has reported progress)."""
    return server.wait(
        job_id,
        until=lambda job: (
            (job["outputs"][0]["rerender"] or {}).get("status") == "rendering"
            and job["outputs"][0]["rerender"]["progress"] > 0
        ),
        timeout=180,
    )["outputs"][0]


def new_version(server: Server, job_id: str, version: int) -> dict:
    def done(job: dict) -> bool:
        return job["outputs"][0]["version"] == version and not job["outputs"][0]["rerender"]

    return server.wait(job_id, until=done, timeout=180)["outputs"][0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_rerender_survives_a_killed_worker_and_a_frozen_one_cannot_finish_it(
    service: tuple[Server, Workers], tmp_path: Path
) -> None:
    server, workers = service
    first = workers.start()
    clip = make_clip(tmp_path / "clip.mp4", width=480, height=854, duration=12)  # renders for seconds
    job_id = server.process_upload(clip, ["watchthefall"], preset="vertical")["id"]
    assert server.wait(job_id, timeout=240)["status"] == "completed"
    outputs = tmp_path / "outputs"

    # killed mid re-render: it stays owed (a second ask is a 409), and the reaper gives it to a new run
    asked = server.call("POST", f"/api/jobs/{job_id}/outputs/0/render", json={"cover_at": 1.0})
    assert asked.status_code == 202, asked.text
    rendering_again(server, job_id)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert server.job(job_id)["outputs"][0]["rerender"]["status"] == "rendering"
    assert server.call("POST", f"/api/jobs/{job_id}/outputs/0/render", json={}).status_code == 409
    second = workers.start()
    output = new_version(server, job_id, 2)
    assert [v["version"] for v in output["versions"]] == [1, 2]
    assert output["versions"][1]["overrides"]["cover_at"] == 1.0 and output["cover_at"] == 1.0
    video = describe(outputs / output["filename"])
    assert (video["width"], video["height"]) == (1080, 1920) and abs(video["duration"] - 12) < 0.1

    # frozen mid re-render past its heartbeat: a third worker renders version 3; the frozen run, resumed,
    # finds it lost its lease and stores nothing (version 3's files are the new run's, byte for byte)
    asked = server.call("POST", f"/api/jobs/{job_id}/outputs/0/render", json={"cover_at": 2.0})
    assert asked.status_code == 202, asked.text
    rendering_again(server, job_id)
    os.killpg(second.pid, signal.SIGSTOP)
    workers.start()
    output = new_version(server, job_id, 3)
    stored = {
        name: digest(outputs / name)
        for name in (output["filename"], Path(output["filename"]).with_suffix(".jpg").name)
    }
    os.killpg(second.pid, signal.SIGCONT)
    deadline = time.monotonic() + 60
    refused = f"{second.pid}/"  # its runs' lease tokens are "host:pid/run"
    while not any(
        refused in line and "no longer holds its re-render" in line
        for line in workers.log.read_text().splitlines()
    ):
        assert time.monotonic() < deadline, "the frozen run never found it lost its lease"
        time.sleep(0.2)
    time.sleep(2)  # whatever it would still write, it would have written by now
    job = server.job(job_id)
    assert [v["version"] for v in job["outputs"][0]["versions"]] == [1, 2, 3]
    assert job["outputs"][0]["rerender"] is None and job["outputs"][0]["cover_at"] == 2.0
    assert {name: digest(outputs / name) for name in stored} == stored
    assert not list(outputs.glob("*_v4*"))
