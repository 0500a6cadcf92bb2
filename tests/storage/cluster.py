"""The scaled-out service as separate processes: one web and N `wtf-portal worker`s, each with its own
data folder (no shared disk), sharing only PostgreSQL, Redis and the bucket. Used by the scale-out test
and by `bench/scale.py`."""

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

import psutil

from tests.conftest import REPO
from tests.web.server import KEY, TERMINAL, Server


@dataclass
class Worker:
    data_dir: Path
    process: subprocess.Popen

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def ffmpeg_of(self, job_id: str) -> list[psutil.Process]:
        """The FFmpeg processes this worker runs for a job (outputs are named after the job's id)."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        found = []
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                if "ffmpeg" in child.name() and job_id[:8] in " ".join(child.cmdline()):
                    found.append(child)
        return found

    def kill9(self) -> None:
        """SIGKILL the worker and everything it started, as a crashed machine would stop."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Huey's graceful stop (SIGINT), as the deploy files send it."""
        if self.alive:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()


@dataclass
class Cluster:
    root: Path
    env: dict[str, str]
    web: Server | None = None
    workers: list[Worker] = field(default_factory=list)

    def start(self, workers: int) -> Cluster:
        web_dir = self.root / "web"
        web_dir.mkdir(parents=True, exist_ok=True)
        self.web = Server(web_dir, env={**self.env, "WTF_EMBEDDED_WORKER": "0"}).start()
        for _ in range(workers):
            self.add_worker()
        return self

    def wait_ready(self, timeout: float = 120) -> None:
        """Until every worker has reported in (its first heartbeat comes as its consumer starts)."""
        assert self.web is not None
        names = {f"{socket.gethostname()}:{worker.process.pid}" for worker in self.workers}
        deadline = time.monotonic() + timeout
        while not names <= set(self.web.call("GET", "/api/debug/health").json().get("workers", {})):
            if time.monotonic() > deadline:
                raise AssertionError(f"workers did not start in {timeout} s\n{self.logs()}")
            time.sleep(0.2)

    def add_worker(self) -> Worker:
        data_dir = self.root / f"worker{len(self.workers) + 1}"
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "WTF_PORTAL_KEY": KEY, "WTF_DATA_DIR": str(data_dir),
               "WTF_BRAND_CONFIG": str(REPO / "brand_config.json"), **self.env}  # fmt: skip
        with (data_dir / "worker.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "portal", "worker", "--concurrency", "1"], cwd=REPO, env=env,
                stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        worker = Worker(data_dir, process)
        self.workers.append(worker)
        return worker

    def submit(self, clip: Path, brands: list[str], preset: str = "source") -> str:
        assert self.web is not None
        return self.web.process_upload(clip, brands, preset)["id"]

    def wait_all(self, job_ids: list[str], timeout: float) -> dict[str, dict]:
        """Every job's final JOB object, polled through the web."""
        assert self.web is not None
        deadline = time.monotonic() + timeout
        done: dict[str, dict] = {}
        while len(done) < len(job_ids):
            if time.monotonic() > deadline:
                waiting = {job_id: self.web.job(job_id)["status"] for job_id in job_ids if job_id not in done}
                raise AssertionError(f"jobs not finished in {timeout} s: {waiting}\n{self.logs()}")
            for job_id in job_ids:
                if job_id not in done and (job := self.web.job(job_id))["status"] in TERMINAL:
                    done[job_id] = job
            time.sleep(0.3)
        return done

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) the web and the workers used so far, with the FFmpeg runs they ran."""
        assert self.web is not None and self.web.process is not None
        roots = [psutil.Process(self.web.process.pid)]
        roots += [psutil.Process(w.process.pid) for w in self.workers if w.alive]
        total = 0.0
        for process in roots + [child for root in roots for child in root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = process.cpu_times()
                total += times.user + times.system + times.children_user + times.children_system
        return total

    def logs(self) -> str:
        tails = [
            f"--- {w.data_dir.name}\n{(w.data_dir / 'worker.log').read_text()[-1500:]}" for w in self.workers
        ]
        return "\n".join(tails)

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.web:
            self.web.stop()
