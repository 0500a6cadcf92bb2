"""The seed's and v3's start commands each serve the app AND finish a job (one queue consumer each)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.conftest import REPO
from tests.web.server import KEY, Server, free_port

GUNICORN = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"


def _commands(port: int, empty_conf: Path) -> dict[str, list[str]]:
    bind = f"127.0.0.1:{port}"
    return {
        # the seed's Procfile and render.yaml
        "seed": [GUNICORN, "-c", "portal/gunicorn.conf.py", "portal.app:app"],
        # the seed's guide without -c: gunicorn reads ./gunicorn.conf.py
        "no -c": [GUNICORN, "portal.app:app"],
        # v3's DEPLOYMENT.txt: Render start command and the systemd/manual form with several workers
        "v3 render": [GUNICORN, "run_portal:app", "--bind", bind, "--timeout", "120", "--workers", "1"],
        "v3 workers": [GUNICORN, "-w", "2", "-b", bind, "portal.app:app"],  # v3 said -w 4; 2 are enough
        # a config that starts no consumer (gunicorn's defaults: sync workers): the app starts one
        "no consumer config": [GUNICORN, "-c", str(empty_conf), "-w", "2", "-b", bind, "portal.app:app"],
        # the seed's local runner
        "run_portal.py": [sys.executable, "run_portal.py"],
    }


@pytest.mark.parametrize("name", ["seed", "no -c", "v3 render", "v3 workers", "no consumer config",
                                  "run_portal.py"])  # fmt: skip
def test_start_command_serves_and_finishes_jobs(name: str, tmp_path: Path, clip: Path, v3_process) -> None:
    port = free_port()
    empty_conf = tmp_path / "empty.conf.py"
    empty_conf.write_text("# no hooks: nothing starts a queue consumer\n")
    command = _commands(port, empty_conf)[name]
    server = Server(tmp_path / "data", command=command, port=port)
    (tmp_path / "data").mkdir()
    server.start()
    try:
        assert server.call("GET", "/portal/test").json()["status"] == "online"
        for _ in range(2):  # a second job too: the consumer keeps consuming
            answer = v3_process(server, server.upload(clip))
            assert answer["success"] is True, answer
        health = server.call("GET", "/api/debug/health").json()
        assert len(health["workers"]) == 1, health  # one consumer, however many web processes
    finally:
        server.stop()
    log = (tmp_path / "data" / "server.log").read_text()
    assert "unhandled error" not in log and "Worker failed to boot" not in log, log[-3000:]


@pytest.fixture
def v3_process() -> Callable[[Server, str], dict]:
    def process(server: Server, source: str) -> dict:
        body = {"source_path": source, "brands": ["WatchTheFall"]}
        url = f"{server.url}/api/videos/process_brands"  # answers when the render ends: a longer timeout
        return requests.post(url, json=body, headers={"X-Portal-Key": KEY}, timeout=300).json()

    return process


def test_repo_root_gunicorn_conf_is_the_portal_one() -> None:
    import runpy

    root = runpy.run_path(str(REPO / "gunicorn.conf.py"))
    portal = runpy.run_path(str(REPO / "portal" / "gunicorn.conf.py"))
    for name in ("worker_class", "timeout", "bind", "when_ready", "on_exit", "logger_class"):
        assert name in root, name
        assert type(root[name]) is type(portal[name]), name
    assert root["worker_class"] == portal["worker_class"]
