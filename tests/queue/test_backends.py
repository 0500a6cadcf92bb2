"""The same job through the scaled-out shapes: Redis or PostgreSQL queue, PostgreSQL state, own worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.mediagen import make_clip
from tests.web.server import KEY, Server


def run_job_with_separate_worker(tmp_path: Path, env: dict) -> dict:
    """Web with its embedded worker off, plus one `wtf-portal worker` process, as compose runs them."""
    env = {**env, "WTF_EMBEDDED_WORKER": "0"}
    server = Server(tmp_path, env=env).start()
    worker_env = {**os.environ, **env, "WTF_PORTAL_KEY": KEY, "WTF_DATA_DIR": str(tmp_path),
                  "WTF_BRAND_CONFIG": str(REPO / "brand_config.json")}  # fmt: skip
    worker = subprocess.Popen([sys.executable, "-m", "portal", "worker", "--concurrency", "2"], cwd=REPO,
                              env=worker_env, start_new_session=True)  # fmt: skip
    try:
        clip = make_clip(tmp_path / "clip.mp4")
        job = server.process_upload(clip, ["watchthefall", "fallclips"])
        return server.wait(job["id"])
    finally:
        os.killpg(worker.pid, signal.SIGINT)
        worker.wait(timeout=30)
        server.stop()


def test_redis_queue(tmp_path: Path, redis_url: str) -> None:
    job = run_job_with_separate_worker(tmp_path, {"WTF_QUEUE_URL": redis_url})
    assert job["status"] == "completed" and len(job["outputs"]) == 2


@pytest.mark.parametrize("queue", ["postgres", "sqlite"])
def test_postgresql_state(tmp_path: Path, postgres_url: str, queue: str) -> None:
    env = {"WTF_DATABASE_URL": f"{postgres_url}/postgres"}
    if queue == "postgres":
        env["WTF_QUEUE_URL"] = f"{postgres_url}/postgres"
    job = run_job_with_separate_worker(tmp_path, env)
    assert job["status"] == "completed" and len(job["outputs"]) == 2
