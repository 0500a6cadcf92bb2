"""The Procfile's web command, started as Render or the image would (PORT set, JSON logs), seen from outside.

Its whole output is JSON lines carrying request and job ids; the image's HEALTHCHECK command passes against
it; with too little free disk /readyz fails, the health check fails, and new work is refused with 507.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.deployfiles import dockerfile_instructions
from tests.deploy.test_platform_files import procfile
from tests.mediagen import make_clip
from tests.web.server import Server


def _web_command() -> list[str]:
    program, *arguments = procfile()["web"].split()
    return [str(Path(sys.executable).parent / program), *arguments]


def _healthcheck(port: int) -> subprocess.CompletedProcess:
    """The image's HEALTHCHECK command, run by /bin/sh as Docker runs it (python is the venv's here)."""
    (healthcheck,) = [ins for ins in dockerfile_instructions() if ins.keyword == "HEALTHCHECK"]
    command = healthcheck.arguments.split(" CMD ", 1)[1]
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PORT": str(port)}
    return subprocess.run(["/bin/sh", "-c", command], env=env, capture_output=True, text=True, timeout=30)


def _log_lines(server: Server) -> list[dict]:
    text = (server.data_dir / "server.log").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    return parsed


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"WTF_LOG_FORMAT": "json", "WTF_MIN_FREE_DISK_MB": "0"}
    running = Server(tmp_path_factory.mktemp("data"), env=env, command=_web_command()).start()
    yield running
    running.stop()


def test_healthcheck_command_passes_against_the_service(service: Server) -> None:
    result = _healthcheck(service.port)
    assert result.returncode == 0, result.stderr


def test_output_is_json_lines_with_request_and_job_ids(service: Server, tmp_path: Path) -> None:
    response = service.call("GET", "/healthz", headers={"X-Request-ID": "deploy-probe-1"})
    assert response.headers["X-Request-ID"] == "deploy-probe-1"
    made = service.call("GET", "/api/jobs")
    generated = made.headers["X-Request-ID"]
    assert len(generated) == 32

    job = service.process_upload(make_clip(tmp_path / "clip.mp4", duration=1), ["watchthefall"])
    assert service.wait(job["id"])["status"] == "completed"
    service.stop()  # flush and close the output before reading it

    lines = _log_lines(service)
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in lines)
    access = {line["request_id"]: line for line in lines if line["logger"] == "portal.access"}
    assert access["deploy-probe-1"]["path"] == "/healthz"
    assert access["deploy-probe-1"]["status"] == 200
    assert access[generated]["path"] == "/api/jobs"
    job_lines = [line for line in lines if line.get("job_id") == job["id"]]
    assert any(line["message"].endswith("completed") for line in job_lines), job_lines
    # gunicorn's arbiter and the embedded consumer speak the same format.
    loggers = {line["logger"] for line in lines}
    assert {"gunicorn.error", "portal.worker"} <= loggers


def test_low_disk_fails_readiness_and_refuses_new_work(tmp_path: Path) -> None:
    env = {"WTF_LOG_FORMAT": "json", "WTF_MIN_FREE_DISK_MB": str(10**9), "WTF_EMBEDDED_WORKER": "0"}
    starved = Server(tmp_path / "data", env=env, command=_web_command())
    starved.data_dir.mkdir()
    starved.start()
    try:
        ready = starved.call("GET", "/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["disk"]["ok"] is False
        assert starved.call("GET", "/healthz").status_code == 200, "alive, only not ready"
        assert _healthcheck(starved.port).returncode != 0

        clip = make_clip(tmp_path / "clip.mp4", duration=1)
        with clip.open("rb") as handle:
            refused = starved.call("POST", "/api/uploads", files={"file": (clip.name, handle, "video/mp4")})
        assert refused.status_code == 507
        error = refused.json()["error"]
        assert error["code"] == "low_disk"
        assert "WTF_MIN_FREE_DISK_MB" in error["message"]
    finally:
        starved.stop()
