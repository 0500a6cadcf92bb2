"""Probes and metrics: /healthz (alive), /readyz (can take work), /metrics (Prometheus text)."""

from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select, text

from portal.acquire.sites import site_health
from portal.database import Job
from portal.errors import DatabaseUnavailableError, DependencyUnavailableError, QueueUnavailableError
from portal.jobs.maintenance import LowDiskError, disk_status
from portal.jobs.status import JobStatus
from portal.runtime import Runtime
from portal.storage.objects import StorageError
from portal.web.auth import carries_valid_credentials, require_api_auth
from portal.web.events import open_streams
from portal.web.runtime import runtime

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process answers."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """Ready for work: database, queue and storage reachable, data folder writable, enough free disk.

    Each check is bounded by its client's timeouts (database connect, Redis socket, the bucket's one-try
    probe). A 503 names what is missing (`unavailable`: database_unavailable, queue_unavailable,
    storage_unavailable, low_disk) with Retry-After. Open to the platform's probes; the details (paths,
    error texts, free space) only with the key.
    """
    rt = runtime()
    checks = {"database": _check(_ping_database, rt), "queue": _check(lambda rt: rt.queue_depth(), rt)}
    writable = os.access(rt.settings.outputs_dir, os.W_OK) and os.access(rt.settings.uploads_dir, os.W_OK)
    checks["data_dir"] = {"ok": writable, "path": str(rt.settings.data_dir)}
    checks["disk"] = disk_status(rt.settings)
    checks["storage"] = rt.storage.check()  # the bucket, with object storage: no uploads without it
    unavailable = [CHECK_CODES[name] for name, check in checks.items() if not check["ok"]]
    if not carries_valid_credentials():
        checks = {name: {"ok": check["ok"]} for name, check in checks.items()}
    body = {"status": "not_ready" if unavailable else "ready", "checks": checks, "unavailable": unavailable}
    if not unavailable:
        return body
    return body, 503, {"Retry-After": str(DependencyUnavailableError.retry_after_s)}


# what each failed check means, as the error code the rest of the service uses for it
CHECK_CODES = {
    "database": DatabaseUnavailableError.code,
    "queue": QueueUnavailableError.code,
    "data_dir": "data_dir_not_writable",
    "disk": LowDiskError.code,
    "storage": StorageError.code,
}


def _ping_database(rt: Runtime) -> None:
    with rt.db.session() as session:
        session.execute(text("SELECT 1"))


def _check(probe, rt: Runtime) -> dict:
    try:
        probe(rt)
    except DependencyUnavailableError as exc:
        return {"ok": False, "error": exc.message}
    return {"ok": True}


class JobCollector:
    """Job counts, render time and queue depth read from the database and queue at scrape time.

    Read at scrape time so every web process reports the same truth, whoever ran the jobs.
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def collect(self):
        jobs = GaugeMetricFamily("wtf_jobs", "Jobs by status", labels=["status"])
        rendered = GaugeMetricFamily("wtf_render_seconds_total", "Wall seconds of completed jobs")
        completed = GaugeMetricFamily("wtf_render_jobs_completed", "Completed jobs counted in render seconds")
        depth = GaugeMetricFamily("wtf_queue_depth", "Tasks waiting in the queue")
        with self.rt.db.session() as session:
            counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            spans = session.execute(
                select(Job.started_at, Job.finished_at).where(
                    Job.status == JobStatus.COMPLETED, Job.started_at.is_not(None)
                )
            ).all()
        for status in JobStatus:
            jobs.add_metric([status], counts.get(status, 0))
        rendered.add_metric([], sum((end - start).total_seconds() for start, end in spans if end))
        completed.add_metric([], len(spans))
        try:
            depth.add_metric([], self.rt.queue_depth())
        except Exception:
            depth.add_metric([], float("nan"))
        yield from (jobs, rendered, completed, depth)
        yield from site_metrics(self.rt)


def site_metrics(rt: Runtime) -> list:
    """Downloads per site and outcome, and which sites are paused (DESIGN 4.15), from the health records
    every process writes: the same numbers whichever web process is scraped."""
    downloads = CounterMetricFamily(
        "wtf_site_downloads", "Downloads per site and outcome", labels=["site", "outcome"]
    )
    paused = GaugeMetricFamily(
        "wtf_site_paused", "1 while the site is paused after failures", labels=["site"]
    )
    for record in site_health(rt.db):
        downloads.add_metric([record["site"], "success"], record["successes"])
        downloads.add_metric([record["site"], "failure"], record["failures"])
        paused.add_metric([record["site"]], 1 if record["paused_until"] else 0)
    return [downloads, paused]


def init_metrics(app: Flask, rt: Runtime) -> None:
    registry = CollectorRegistry()
    registry.register(JobCollector(rt))
    latency = Histogram(
        "wtf_http_request_seconds", "Request latency", ["method", "endpoint"], registry=registry,
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    )  # fmt: skip
    streams = Gauge("wtf_event_streams", "Event streams open in this web process", registry=registry)
    streams.set_function(lambda: open_streams(app))

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is not None and request.endpoint not in ("events.job_events", "events.many_job_events"):
            latency.labels(request.method, request.endpoint or "unknown").observe(
                time.perf_counter() - started
            )
        return response

    @app.get("/metrics")
    def metrics():
        """Prometheus text; behind the key like all but the probes (scrape it with a bearer token)."""
        require_api_auth()
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
