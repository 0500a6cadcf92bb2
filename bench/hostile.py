"""Hostile clients (issue 10): 200 half-sent requests and 100 open event streams held for 60 s, while
/healthz is probed, jobs are submitted and a 3-brand 1080x1920 render runs to completion.

Side by side in the same run: the same command, config and app under gunicorn's gthread worker with 16
threads (the worker before issue 10: `-k gthread --threads 16` on the command line overrides the config
file), then under the gevent worker the config file now names.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import select
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import av
import requests

from bench.report import write_section
from portal.config import load_settings
from portal.database import Database, Job
from tests.mediagen import make_clip
from tests.web.server import KEY, Server

HALF_HEADERS, STREAMS, SECONDS = 200, 100, 60
PROBE_EVERY_S, SUBMIT_EVERY_S, CLIENT_TIMEOUT_S = 0.1, 3.0, 5.0
BRANDS = ["watchthefall", "fallclips", "dailyfails"]
VARIANTS = {"gthread, 16 threads (before)": ["-k", "gthread", "--threads", "16"], "gevent (now)": []}


@dataclass
class Load:
    healthz: list[float] = field(default_factory=list)  # seconds; a failure counts as CLIENT_TIMEOUT_S
    healthz_failed: int = 0
    submits: list[float] = field(default_factory=list)
    submits_failed: int = 0
    half_headers_reopened: int = 0  # closed by the server's header deadline, opened again by the bench
    streams_open_max: int = 0
    streams_failed: int = 0


def _park_job(data_dir: Path) -> str:
    """A queued job no worker will pick up (no queue message): the streams follow it for the whole window."""
    database = Database(load_settings(data_dir=data_dir))
    with database.session() as session:
        job = Job(status="queued", source_kind="upload", source_name="parked.mp4", brands=["watchthefall"])
        session.add(job)
        session.flush()
        return job.id


def _half_headers(server: Server, stop: threading.Event, load: Load) -> None:
    def opened() -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", server.port), timeout=CLIENT_TIMEOUT_S)
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: portal\r\n")  # and never the blank line
        return conn

    held = [opened() for _ in range(HALF_HEADERS)]
    try:
        while not stop.wait(0.5):
            readable, _, _ = select.select(held, [], [], 0)
            for conn in readable:  # the server closed it: keep 200 waiting, as an attacker would
                with contextlib.suppress(OSError):
                    if conn.recv(1):
                        continue
                conn.close()
                held[held.index(conn)] = opened()
                load.half_headers_reopened += 1
    finally:
        for conn in held:
            conn.close()


def _stream(server: Server, job_ids: str, stop: threading.Event, load: Load, open_now: list[int]) -> None:
    url = f"{server.url}/api/events?jobs={job_ids}"
    while not stop.is_set():
        try:
            with requests.get(url, headers={"X-Portal-Key": KEY}, stream=True,
                              timeout=(CLIENT_TIMEOUT_S, SECONDS + 30)) as response:  # fmt: skip
                response.raise_for_status()
                open_now[0] += 1
                load.streams_open_max = max(load.streams_open_max, open_now[0])
                try:
                    for _line in response.iter_lines():
                        if stop.is_set():
                            return
                finally:
                    open_now[0] -= 1
        except requests.RequestException:
            load.streams_failed += 1
            stop.wait(1.0)


def _measure(url: str, kind: str, clip: Path | None) -> tuple[list[float], int]:
    """Probes or submissions for SECONDS, in a process of its own; (latencies, failures)."""
    server, stop, load = Server(Path("."), port=int(url.rsplit(":", 1)[1])), threading.Event(), Load()
    timer = threading.Timer(SECONDS, stop.set)
    timer.start()
    if kind == "probe":
        _probe(server, stop, load)
        return load.healthz, load.healthz_failed
    _submit(server, clip, stop, load)
    return load.submits, load.submits_failed


def _probe(server: Server, stop: threading.Event, load: Load) -> None:
    with requests.Session() as session:
        while not stop.wait(PROBE_EVERY_S):
            started = time.perf_counter()
            try:
                session.get(f"{server.url}/healthz", timeout=CLIENT_TIMEOUT_S).raise_for_status()
                load.healthz.append(time.perf_counter() - started)
            except requests.RequestException:
                load.healthz_failed += 1
                load.healthz.append(CLIENT_TIMEOUT_S)


def _submit(server: Server, clip: Path, stop: threading.Event, load: Load) -> None:
    while not stop.wait(SUBMIT_EVERY_S):
        started = time.perf_counter()
        try:
            with clip.open("rb") as handle:
                files = {"file": ("tiny.mp4", handle)}
                upload = requests.post(f"{server.url}/api/uploads", headers={"X-Portal-Key": KEY},
                                       files=files, timeout=CLIENT_TIMEOUT_S)  # fmt: skip
            upload.raise_for_status()
            payload = {"upload_id": upload.json()["upload"]["id"], "brands": ["watchthefall"]}
            requests.post(f"{server.url}/api/videos/process", json=payload, headers={"X-Portal-Key": KEY},
                          timeout=CLIENT_TIMEOUT_S).raise_for_status()  # fmt: skip
            load.submits.append(time.perf_counter() - started)
        except requests.RequestException:
            load.submits_failed += 1
            load.submits.append(CLIENT_TIMEOUT_S)


def _outputs_read_back(data_dir: Path, job: dict) -> str:
    sizes = []
    for output in job.get("outputs", []):
        with av.open(str(data_dir / "outputs" / output["filename"])) as container:
            video = container.streams.video[0]
            sizes.append(f"{video.codec_context.width}x{video.codec_context.height}")
    return ", ".join(sizes) or "none"


def _run_variant(work: Path, extra_args: list[str], clip: Path, tiny: Path) -> tuple[Load, str]:
    data = work / "data"
    data.mkdir()
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    command = [gunicorn, "-c", "portal/gunicorn.conf.py", *extra_args, "portal.app:app"]
    server = Server(data, command=command, env={"WTF_BIND_HOST": "127.0.0.1"}).start()
    load, stop, open_now = Load(), threading.Event(), [0]
    try:
        render = server.process_upload(clip, BRANDS, preset="vertical")
        job_ids = f"{_park_job(data)},{render['id']}"
        threads = [threading.Thread(target=_half_headers, args=(server, stop, load))]
        threads += [threading.Thread(target=_stream, args=(server, job_ids, stop, load, open_now))
                    for _ in range(STREAMS)]  # fmt: skip
        for thread in threads:
            thread.start()
        # the probes run in a process of their own: the GIL of this one is busy with 100 stream readers
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            probes = pool.apply_async(_measure, (server.url, "probe", None))
            submissions = pool.apply_async(_measure, (server.url, "submit", tiny))
            (load.healthz, load.healthz_failed) = probes.get(timeout=SECONDS + 60)
            (load.submits, load.submits_failed) = submissions.get(timeout=SECONDS + 60)
        stop.set()
        for thread in threads:
            thread.join(timeout=CLIENT_TIMEOUT_S + 5)
        try:
            job = server.wait(render["id"], timeout=900)
            outcome = f"{job['status']}, outputs {_outputs_read_back(data, job)}"
        except (AssertionError, requests.RequestException):
            outcome = "not finished 15 min after the window"
    finally:
        server.kill9()
    return load, outcome


def _p(values: list[float], cut: int) -> float:
    return statistics.quantiles(values, n=100)[cut - 1] * 1000 if len(values) > 1 else float("nan")


def run(rounds: int = 1) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="wtf-bench-hostile-") as tmp:
        work = Path(tmp)
        clip = make_clip(work / "clip.mp4", width=1080, height=1920, duration=10)
        tiny = make_clip(work / "tiny.mp4")
        for name, args in VARIANTS.items():
            folder = work / name.split(",")[0].split(" ")[0]
            folder.mkdir()
            load, outcome = _run_variant(folder, args, clip, tiny)
            cells = [
                name, len(load.healthz), f"{_p(load.healthz, 50):.1f} ms", f"{_p(load.healthz, 99):.1f} ms",
                load.healthz_failed, len(load.submits), f"{_p(load.submits, 99):.0f} ms", load.submits_failed,
                load.streams_open_max, load.half_headers_reopened, outcome,
            ]  # fmt: skip
            rows.append("| " + " | ".join(map(str, cells)) + " |")
    write_section("hostile", "\n".join([
        "## Hostile clients: 200 half-sent requests + 100 event streams for 60 s",
        "",
        "Command: `make bench BENCH_ARGS=hostile`. The Procfile's web command (`gunicorn -c",
        "portal/gunicorn.conf.py portal.app:app`, one worker, embedded consumer, SQLite) on loopback. For",
        f"{SECONDS} s: {HALF_HEADERS} connections that send half a request header and wait (the bench",
        f"opens a new one whenever the server closes one), {STREAMS} clients holding `/api/events` on a",
        f"parked job and the render, `/healthz` probed every {PROBE_EVERY_S} s and an upload + job",
        f"submission every {SUBMIT_EVERY_S:.0f} s ({CLIENT_TIMEOUT_S:.0f} s client timeout; a failure",
        f"counts as {CLIENT_TIMEOUT_S:.0f} s),",
        "while a 3-brand 1080x1920 10 s render (vertical preset) runs; its outputs are read back with PyAV.",
        "Before: the same command with `-k gthread --threads 16` (the worker before issue 10). Both run the",
        "embedded consumer at niceness 10. Probes and submissions are made from a process of their own.",
        "",
        "| worker | /healthz probes | p50 | p99 | failed | submissions | p99 | failed | streams open (max) "
        "| half-sent closed by the server | the render |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "Goal: /healthz p99 < 100 ms under this load, no failed probe or submission, the render completes.",
    ]))  # fmt: skip
