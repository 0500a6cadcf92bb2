"""v3's synchronous calls (issue 12): 40 clients wait inside `process_brands` while others use the API.

v3's clients expect `process_brands` to answer when the render is done, so each holds its request open for
the whole render. Side by side in the same run: the Procfile's web command under gunicorn's gthread worker
with 16 threads (`-k gthread --threads 16`, the worker before issue 10), then under the gevent worker the
config names. No consumer runs (WTF_EMBEDDED_WORKER=0), so every waiter waits the whole window.
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.report import write_section
from tests.mediagen import make_clip
from tests.web.server import KEY, Server

WAITERS, SECONDS, PROBE_EVERY_S, CLIENT_TIMEOUT_S = 40, 20, 0.1, 5.0
VARIANTS = {"gthread, 16 threads (before)": ["-k", "gthread", "--threads", "16"], "gevent (now)": []}


def _probe(server: Server, seconds: float) -> tuple[list[float], int]:
    """GET /api/brands/list every PROBE_EVERY_S for `seconds`: latencies (a failure counts as the timeout)."""
    latencies, failed = [], 0
    deadline = time.monotonic() + seconds
    with requests.Session() as session:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                session.get(f"{server.url}/api/brands/list", headers={"X-Portal-Key": KEY},
                            timeout=CLIENT_TIMEOUT_S).raise_for_status()  # fmt: skip
                latencies.append(time.perf_counter() - started)
            except requests.RequestException:
                failed += 1
                latencies.append(CLIENT_TIMEOUT_S)
            time.sleep(PROBE_EVERY_S)
    return latencies, failed


def _wait_in_process_brands(server: Server, answers: list[int]) -> None:
    body = {"source_path": "clip.mp4", "brands": ["watchthefall"]}
    try:
        response = requests.post(f"{server.url}/api/videos/process_brands", json=body,
                                 headers={"X-Portal-Key": KEY}, timeout=SECONDS + 30)  # fmt: skip
        answers.append(response.status_code)
    except requests.RequestException:
        answers.append(0)


def _ms(values: list[float], percentile: int) -> str:
    return f"{statistics.quantiles(values, n=100)[percentile - 1] * 1000:.1f} ms"


def _run_variant(work: Path, extra_args: list[str]) -> list[str]:
    data = work / "data"
    (data / "outputs").mkdir(parents=True)
    make_clip(data / "outputs" / "clip.mp4")
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    command = [gunicorn, "-c", "portal/gunicorn.conf.py", *extra_args, "portal.app:app"]
    env = {"WTF_BIND_HOST": "127.0.0.1", "WTF_EMBEDDED_WORKER": "0", "WTF_SYNC_WAIT_S": str(SECONDS + 10)}
    server = Server(data, command=command, env=env).start()
    try:
        alone, alone_failed = _probe(server, 5)
        answers: list[int] = []
        waiters = [threading.Thread(target=_wait_in_process_brands, args=(server, answers), daemon=True)
                   for _ in range(WAITERS)]  # fmt: skip
        for waiter in waiters:
            waiter.start()
        time.sleep(2)
        loaded, loaded_failed = _probe(server, SECONDS - 5)
        for waiter in waiters:
            waiter.join(timeout=60)
    finally:
        server.kill9()
    accepted = sum(1 for status in answers if status == 202)  # 202: "still working", after the wait
    return [
        _ms(alone, 50),
        _ms(loaded, 50),
        _ms(loaded, 99),
        str(alone_failed + loaded_failed),
        f"{accepted}/{WAITERS}",
    ]


def run(rounds: int = 1) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="wtf-bench-v3-") as tmp:
        for index, (name, args) in enumerate(VARIANTS.items()):
            folder = Path(tmp) / str(index)
            folder.mkdir()
            rows.append("| " + " | ".join([name, *_run_variant(folder, args)]) + " |")
    header = "| worker | probe p50 alone | p50 with waiters | p99 with waiters | probes failed | answered |"
    write_section("v3_wait", "\n".join([
        f"## v3's synchronous process_brands: {WAITERS} clients waiting while others use the API",
        "",
        "Command: `make bench BENCH_ARGS=v3_wait`. The Procfile's web command on loopback, no consumer",
        f"(WTF_EMBEDDED_WORKER=0), WTF_SYNC_WAIT_S={SECONDS + 10}: {WAITERS} clients call",
        "`POST /api/videos/process_brands` and wait for the answer (v3's flow) while",
        f"`GET /api/brands/list` is probed every {PROBE_EVERY_S} s ({CLIENT_TIMEOUT_S:.0f} s client timeout;",
        f"a failure counts as {CLIENT_TIMEOUT_S:.0f} s): alone for 5 s, then for {SECONDS - 5} s with the",
        "waiters. Answered: waiters that got their answer (202, still working) when the wait ran out.",
        "",
        header,
        "| --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "Under gthread the waiters hold the threads and the probes queue behind them; under gevent a",
        "waiting request is a greenlet and costs the others nothing.",
    ]))  # fmt: skip
