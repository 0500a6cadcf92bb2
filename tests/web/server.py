"""The real service as a user runs it: `wtf-portal serve` (gunicorn + consumer) in its own process group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from portal.jobs.status import FINISHED
from tests.conftest import REPO

KEY = "test-portal-key-0123456789"
TERMINAL = FINISHED


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    data_dir: Path
    env: dict = field(default_factory=dict)
    command: list[str] | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    start_timeout: float = 120.0  # a bound, not a speed check: importing the app is slow on a busy machine

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        env = {
            **os.environ, "WTF_PORTAL_KEY": KEY, "WTF_SECRET_KEY": "s" * 32,
            "WTF_DATA_DIR": str(self.data_dir),
            "WTF_BRAND_CONFIG": str(REPO / "brand_config.json"), "PORT": str(self.port), **self.env,
        }  # fmt: skip
        env = {name: value for name, value in env.items() if value is not None}  # None in `env`: unset it
        command = self.command or [sys.executable, "-m", "portal", "serve", "--port", str(self.port)]
        log = (self.data_dir / "server.log").open("ab")
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=log, start_new_session=True
        )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/api/test", timeout=1).ok:
                    return self
            except (requests.ConnectionError, requests.Timeout):  # not up yet, or busy starting
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"server did not start:\n{(self.data_dir / 'server.log').read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def kill9(self) -> None:
        """SIGKILL the whole process group: gunicorn, its workers, the consumer and FFmpeg."""
        if self.process:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    # --- the API, as a script would call it ---
    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-Portal-Key": KEY, **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def upload(self, path: Path) -> str:
        with path.open("rb") as handle:
            response = self.call("POST", "/api/uploads", files={"file": (path.name, handle, "video/mp4")})
        assert response.status_code == 201, response.text
        return response.json()["upload"]["id"]

    def process_upload(self, path: Path, brands: list[str] | str, preset: str = "source") -> dict:
        payload = {"upload_id": self.upload(path), "brands": brands, "preset": preset}
        response = self.call("POST", "/api/videos/process", json=payload)
        assert response.status_code == 202, response.text
        return response.json()["job"]

    def job(self, job_id: str) -> dict:
        return self.call("GET", f"/api/jobs/{job_id}").json()["job"]

    def wait(self, job_id: str, until=lambda job: job["status"] in TERMINAL, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if until(job):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} never reached the state; last: {job}")
