"""Scale-out benchmark (issue 15): N short jobs through a web and 1, 2 or 3 separate workers.

Every run is the real shape: `wtf-portal serve` with its embedded worker off plus `wtf-portal worker`
processes, PostgreSQL for state, Redis for the queue. With object storage each process has its own data
folder and media goes through an S3-compatible server (moto's, on loopback); the baseline is the same
jobs with one worker and the data folder shared on the local disk. Runs are alternated per round, so
the other load on this shared machine spreads over all of them; medians are reported.

Measured per run, from the jobs' own timestamps (created_at, started_at, finished_at):
- throughput: jobs per minute from the first submission to the last job finished;
- queue latency: started_at - created_at of each job (submit to a worker taking the lease);
- job time: finished_at - started_at (fetch the source, render, upload the outputs).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from bench.report import median, write_section
from portal.config import load_settings
from portal.jobs.status import JobStatus
from portal.storage.objects import OUTPUTS, open_storage
from tests.conftest import running_postgres, running_redis
from tests.mediagen import make_clip
from tests.storage.cluster import Cluster
from tests.storage.s3server import BUCKET, moto_server

JOBS = 12
TYPICAL_OUTPUT_MB = 25  # a 30 s 1080x1920 output at CRF 21
BRANDS = ["watchthefall"]
SHAPES = (("local disk, 1 worker", 1, False), ("object storage, 1 worker", 1, True),
          ("object storage, 2 workers", 2, True), ("object storage, 3 workers", 3, True))  # fmt: skip


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _run(root: Path, env: dict[str, str], workers: int, clips: list[Path]) -> dict[str, float]:
    cluster = Cluster(root, env)
    if "WTF_STORAGE_URL" not in env:  # the baseline: one data folder shared by the web and the worker
        cluster.env = {**env, "WTF_DATA_DIR": str(root / "web")}
    cluster.start(workers)
    try:
        cluster.wait_ready()  # the clock starts with every worker waiting on the queue
        cpu_at_start = cluster.cpu_seconds()
        started = time.monotonic()
        ids = [cluster.submit(clips[i % len(clips)], BRANDS) for i in range(JOBS)]
        done = cluster.wait_all(ids, timeout=900)
        wall = time.monotonic() - started
        cpu = cluster.cpu_seconds() - cpu_at_start
    finally:
        cluster.stop()
    jobs = list(done.values())
    assert all(job["status"] == JobStatus.COMPLETED for job in jobs), cluster.logs()
    waits = [(_time(j["started_at"]) - _time(j["created_at"])).total_seconds() for j in jobs]
    spans = [(_time(j["finished_at"]) - _time(j["started_at"])).total_seconds() for j in jobs]
    return {
        "per_minute": JOBS / wall * 60,
        "wait_min": min(waits),
        "wait_median": statistics.median(waits),
        "wait_max": max(waits),
        "job_median": statistics.median(spans),
        "cpu_per_job": cpu / JOBS,
    }


def _transfer_ms(root: Path, s3_env: dict[str, str], size_mb: int, rounds: int) -> dict[str, float]:
    """Median ms to store a finished file and fetch it back (a job's two transfers), per backend."""
    os.environ.update(s3_env)  # boto3 reads the endpoint and keys from the environment
    backends = {
        "local": open_storage(load_settings(data_dir=root / "xfer-local")),
        "s3": open_storage(load_settings(data_dir=root / "xfer-s3", storage_url=f"s3://{BUCKET}/xfer")),
    }
    timings: dict[str, list[float]] = {name: [] for name in backends}
    payload = os.urandom(size_mb * 1_048_576)
    for index in range(rounds * 3):
        for name, storage in backends.items():
            scratch = root / f"xfer-{name}" / "temp"
            scratch.mkdir(parents=True, exist_ok=True)
            (scratch / f"out{index}.mp4").write_bytes(payload)
            started = time.perf_counter()
            ref = storage.store(scratch / f"out{index}.mp4", OUTPUTS)
            storage.local_copy(ref, scratch / "fetched")
            timings[name].append((time.perf_counter() - started) * 1000)
            storage.delete(ref)
    return {name: median(values) for name, values in timings.items()}


def run(rounds: int = 3) -> None:
    results: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in SHAPES}
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="wtf-bench-scale-") as work, ExitStack() as stack:
        root = Path(work)
        clips = [make_clip(root / f"clip{i}.mp4", width=360, height=640, duration=2 + i) for i in range(3)]
        database, queue = stack.enter_context(running_postgres()), stack.enter_context(running_redis())
        s3 = stack.enter_context(moto_server(root / "moto.log"))
        base = {"WTF_DATABASE_URL": f"{database}/postgres", "WTF_QUEUE_URL": queue}
        for round_number in range(rounds):
            for label, workers, remote in SHAPES:
                env = {**base, **s3.env, "WTF_STORAGE_URL": f"s3://{BUCKET}/bench"} if remote else base
                results[label].append(_run(root / f"r{round_number}-{workers}-{remote}", env, workers, clips))
        clip_mb = max(1, round(max(clip.stat().st_size for clip in clips) / 1_048_576))
        transfers = {size: _transfer_ms(root, s3.env, size, rounds) for size in (clip_mb, TYPICAL_OUTPUT_MB)}
    load_after = os.getloadavg()[0]
    medians = {
        label: {key: median([r[key] for r in runs]) for key in runs[0]} for label, runs in results.items()
    }
    write_report(medians, transfers, clip_mb, rounds, (load_before, load_after))


def write_report(
    medians: dict[str, dict[str, float]], transfers: dict[int, dict[str, float]], clip_mb: int, rounds: int,
    load: tuple[float, float],
) -> None:  # fmt: skip
    """The section of docs/PERFORMANCE.md, from each shape's medians and the transfer timings."""
    local, one, three = (medians[label] for label in (SHAPES[0][0], SHAPES[1][0], SHAPES[-1][0]))
    rows = []
    for label, values in medians.items():
        busy = values["per_minute"] * values["cpu_per_job"] / 60
        rows.append(
            f"| {label} | {values['per_minute']:.1f} | {values['per_minute'] / one['per_minute']:.2f} "
            f"| {values['wait_min']:.2f} / {values['wait_median']:.1f} / {values['wait_max']:.1f} s "
            f"| {values['job_median']:.2f} s | {values['cpu_per_job']:.2f} s | {busy:.2f} |"
        )
    transfer_rows = [
        f"| {size} MB | {ms['local']:.0f} ms | {ms['s3']:.0f} ms | {ms['s3'] - ms['local']:.0f} ms |"
        for size, ms in transfers.items()
    ]
    clip_cost = transfers[clip_mb]["s3"] - transfers[clip_mb]["local"]

    def ratio(key: str) -> float:
        return one[key] / local[key]

    write_section("scale", "\n".join([
        f"## Scale-out: {JOBS} short jobs, 1 to 3 workers, object storage vs local disk",
        "",
        f"Command: `make bench BENCH_ARGS=scale` (medians of {rounds} alternated rounds). Each run starts",
        "a web (`wtf-portal serve`, embedded worker off) and separate `wtf-portal worker` processes",
        "(concurrency 1), PostgreSQL for state and Redis for the queue, all on this machine (2 cores, shared",
        f"with other work: 1-minute load average {load[0]:.1f} before, {load[1]:.1f} after). Object",
        "storage: each process has its own data folder and media goes through moto's S3 server on loopback.",
        f"Local disk: the web and the worker share one data folder. {JOBS} uploads of 2-4 s 360x640 clips,",
        "one brand each, submitted back to back once every worker has reported in. Queue latency is submit",
        "to a worker taking the lease; job time is lease to completed (fetch the source, render, store the",
        "output); CPU per job is the web's and the workers' CPU time (with FFmpeg's) over the run / jobs,",
        "which the machine's other load moves far less than wall time (the store's own CPU, moto's here, is",
        "not counted); cores = the cores kept busy, jobs per second x CPU per job.",
        "",
        "| shape | jobs/min | vs 1 worker | queue latency min / median / max | job time | CPU/job | cores |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        f"Object storage against the local disk, 1 worker: CPU per job {ratio('cpu_per_job'):.2f}x,",
        f"throughput {ratio('per_minute'):.2f}x, job time {ratio('job_median'):.2f}x (ratios this close to 1",
        "are within the shared machine's noise). The transfers themselves, timed alone (store a finished",
        f"file, fetch it back: what a job does; medians of {rounds * 3}, alternated):",
        "",
        "| file | local disk (a rename; read in place) | object storage (PUT + GET, loopback) | added |",
        "| --- | --- | --- | --- |",
        *transfer_rows,
        "",
        *_prediction(one["cpu_per_job"], max(values["cpu_per_job"] for values in medians.values()),
                     three["per_minute"] / one["per_minute"], clip_cost, three["wait_min"]),
    ]))  # fmt: skip


def _prediction(
    cpu_per_job: float, cpu_worst: float, speedup: float, store_ms: float, idle_wait: float
) -> list[str]:
    """What the figures predict for N machines, in words, from this run's own numbers."""
    per_machine = 2 * 60 / cpu_worst
    return [
        "**What this predicts for N machines.** The other work on this machine left these runs well under",
        "its 2 cores (the cores column), so wall-time throughput here measures the share of CPU the",
        f"workers won: more worker processes won more of it ({speedup:.2f}x with 3 workers), which says",
        "little about a dedicated machine. The figure that carries over is CPU per job: about",
        f"{cpu_per_job:.2f} s for these clips, the same within noise for 1, 2 or 3 workers and for object",
        "storage or the local disk. A dedicated 2-core worker machine can then finish at most about",
        f"{per_machine:.0f} such jobs a minute (2 cores x 60 s / {cpu_worst:.2f} s, the highest CPU per job",
        "above), and N machines N times that: workers on separate machines share no CPU and no disk, only",
        "PostgreSQL (a few row updates per job), Redis (two small messages) and the bucket (one source",
        f"fetched and one output stored per job). The store adds about {store_ms:.0f} ms per job here",
        "(loopback); across a network it adds the source's and the outputs' transfer at its bandwidth",
        f"({TYPICAL_OUTPUT_MB} MB at 100 MB/s is a quarter of a second, small beside rendering it). The web",
        "is not in the render path: it takes uploads, answers polls and redirects downloads to the store,",
        "so one web process serves many workers until uploads saturate its network. Queue latency is",
        f"{idle_wait:.2f} s for a job that finds a worker idle (a blocking pop on Redis wakes it) and grows",
        "with the backlog when jobs arrive faster than N workers finish them (the last of the burst above",
        "waits for those before it); waiting jobs stay in Redis and in the jobs table, none is lost.",
    ]
