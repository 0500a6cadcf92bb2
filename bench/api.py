"""API under load (issue 3): 50 clients polling a job and 5 event streams, while a 3-brand render runs.

Baseline side by side in the same run: the same load against the same server with no render running.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.report import write_section
from portal.jobs.status import JobStatus
from tests.mediagen import make_clip
from tests.web.server import KEY, Server

CLIENTS, STREAMS, SECONDS = 50, 5, 20


def _load(server: Server, job_id: str, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = [0]
    stop = threading.Event()
    headers = {"X-Portal-Key": KEY}

    def poll() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    ok = session.get(f"{server.url}/api/jobs/{job_id}", headers=headers, timeout=10).ok
                except requests.RequestException:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors[0] += 0 if ok else 1
                time.sleep(0.2)  # a dashboard polls a few times a second, not in a tight loop

    def stream() -> None:
        try:
            with requests.get(f"{server.url}/api/jobs/{job_id}/events", headers=headers, stream=True,
                              timeout=seconds + 30) as response:  # fmt: skip
                for _line in response.iter_lines():
                    if stop.is_set():
                        return
        except requests.RequestException:
            errors[0] += 1

    threads = [threading.Thread(target=stream) for _ in range(STREAMS)]
    threads += [threading.Thread(target=poll) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads[STREAMS:]:
        thread.join()
    return latencies, errors[0]


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


def run(rounds: int = 1) -> None:
    with tempfile.TemporaryDirectory(prefix="wtf-bench-api-") as work:
        data = Path(work)
        clip = make_clip(data / "clip.mp4", width=1080, height=1920, duration=10)
        (data / "data").mkdir()
        server = Server(data / "data").start()
        try:
            idle_job = server.process_upload(make_clip(data / "tiny.mp4"), ["watchthefall"])
            server.wait(idle_job["id"])
            idle, idle_errors = _load(server, idle_job["id"], SECONDS)
            busy_job = server.process_upload(clip, ["watchthefall", "fallclips", "dailyfails"])
            server.wait(busy_job["id"], until=lambda job: job["status"] == JobStatus.RENDERING)
            busy, busy_errors = _load(server, busy_job["id"], SECONDS)
            still_rendering = server.job(busy_job["id"])["status"] == JobStatus.RENDERING
            server.wait(busy_job["id"], timeout=600)
        finally:
            server.stop()
    idle_p50, idle_p99 = _percentiles(idle)
    busy_p50, busy_p99 = _percentiles(busy)
    write_section("api", "\n".join([
        "## API under load: 50 pollers + 5 event streams",
        "",
        "Command: `make bench BENCH_ARGS=api`. One `wtf-portal serve` (gunicorn, one gevent worker with the",
        f"consumer inside, SQLite). {CLIENTS} clients poll `GET /api/jobs/<id>` every 0.2 s and",
        f"{STREAMS} hold `/api/jobs/<id>/events`, for {SECONDS} s; baseline with no render, then during a",
        "3-brand render of a 10 s 1080x1920 clip (both cores busy; the clients share them; render still",
        f"running at the end of the window: {still_rendering}).",
        "",
        "| load | requests | p50 | p99 | errors |",
        "| --- | --- | --- | --- | --- |",
        f"| no render (baseline) | {len(idle)} | {idle_p50:.1f} ms | {idle_p99:.1f} ms | {idle_errors} |",
        f"| during a 3-brand render | {len(busy)} | {busy_p50:.1f} ms | {busy_p99:.1f} ms | {busy_errors} |",
        f"| ratio (render / baseline) | | {busy_p50 / idle_p50:.2f} | {busy_p99 / idle_p99:.2f} | |",
        "",
        "Goal: p99 < 100 ms during the render, no errors.",
    ]))  # fmt: skip
