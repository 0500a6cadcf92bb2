"""The queue: Huey carries job ids; the jobs table is the truth.

Huey delivers at most once, so a worker takes a lease on the job row and renews a heartbeat while it
works; a reaper in every consumer puts jobs with a stale heartbeat back on the queue (bounded attempts),
so a killed worker never leaves a job `rendering` forever. Cancel is cooperative: the job's watcher sees
the flag and sets the engine's cancel event, which kills FFmpeg's process group.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from huey import Huey, PostgresHuey, RedisHuey, SqliteHuey, crontab
from sqlalchemy import case, or_, select, update

from portal.brand_loader import BrandConfigError
from portal.config import Settings, load_settings
from portal.database import Database, Job, WorkerBeat, utc_now
from portal.downloader import DownloadCancelledError, DownloadOptions, download
from portal.jobs import BrandRegistry, record_outputs
from portal.logging_setup import job_context
from portal.maintenance import cleanup
from portal.media.errors import EngineError, RenderCancelledError
from portal.v3_import import apply_v3_settings
from portal.video_processor import RenderedOutput, probe_media, render_source, safe_stem
from portal.webhooks import start_sender

log = logging.getLogger("portal.worker")
WATCH_SECONDS = 0.5  # how often a running job checks its cancel flag and writes progress
HEARTBEAT_SECONDS = 5.0
REAPER_SECONDS = 10.0
RETRY_DELAY_SECONDS = 5


def make_huey(settings: Settings) -> Huey:
    """SqliteHuey in the data folder by default; RedisHuey or PostgresHuey from WTF_QUEUE_URL."""
    url = settings.effective_queue_url
    if url.startswith(("redis://", "rediss://")):
        return RedisHuey("wtf-portal", url=url)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresHuey("wtf-portal", dsn=url)
    path = Path(urlparse(url).path) if url.startswith("sqlite:") else settings.data_dir / "queue.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("wtf-portal", filename=str(path))


class Runtime:
    """Settings, database, queue and brands of this process, built once on first use."""

    _instance: Runtime | None = None
    _lock = threading.Lock()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings)
        self.huey = make_huey(settings)
        self.brands = BrandRegistry(settings.brand_config)
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"
        self.process_job = self.huey.task(retries=0, context=False)(process_job)
        self.huey.periodic_task(crontab(minute="*/30"))(run_cleanup)

    @classmethod
    def get(cls, settings: Settings | None = None) -> Runtime:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls(settings or load_settings())
            return cls._instance

    def enqueue(self, job_id: str, delay: float | None = None) -> None:
        if delay:
            self.process_job.schedule((job_id,), delay=delay)
        else:
            self.process_job(job_id)

    def queue_depth(self) -> int:
        return self.huey.pending_count()


def process_job(job_id: str) -> None:
    """Run one job to its end: acquire the source, render every brand, record the outputs."""
    runtime = Runtime.get()
    with job_context(job_id):
        if not _take_lease(runtime, job_id):
            log.info("job %s is not waiting for a worker; skipped", job_id)
            return
        log.info("job %s started on %s", job_id, runtime.worker_name)
        _JobRun(runtime, job_id).run()


def _take_lease(runtime: Runtime, job_id: str) -> bool:
    with runtime.db.session() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == "queued", Job.cancel_requested.is_(False))
            .values(
                status=case((Job.source_kind == "url", "downloading"), else_="rendering"),
                stage="starting",
                lease_owner=runtime.worker_name,
                heartbeat_at=utc_now(),
                started_at=utc_now(),
                attempts=Job.attempts + 1,
            )
        )
        return result.rowcount == 1


class _JobRun:
    def __init__(self, runtime: Runtime, job_id: str) -> None:
        self.runtime = runtime
        self.job_id = job_id
        self.spans: dict[str, tuple[float, float]] = {}
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.progress: tuple[str, float] | None = None

    def run(self) -> None:
        runtime, settings = self.runtime, self.runtime.settings
        watcher = threading.Thread(target=self._watch, name=f"job-{self.job_id[:8]}", daemon=True)
        watcher.start()
        started = time.monotonic()
        try:
            with runtime.db.session() as session:
                job = session.get(Job, self.job_id)
                brands = runtime.brands.current().select(job.brands) if job.kind == "render" else []
                if job.v3_settings:  # process_brands' settings for this render only
                    brands = [apply_v3_settings(brand, job.v3_settings) for brand in brands]
                kind, preset, fit, source_kind = job.kind, job.preset, job.fit, job.source_kind
            # links: downloading is 0-30% of a branding job's bar, all of a fetch job's
            self.spans = {"downloading": (0, 30 if kind == "render" else 100), "rendering": (30, 100)}
            if source_kind == "upload":
                self.spans["rendering"] = (0, 100)
            source = acquire_source(runtime, self.job_id, self._on_progress, self.cancel)
            stem = f"{safe_stem(source.stem)[:40]}-{self.job_id[:8]}"
            # Partial files of an earlier attempt whose worker died: this run holds the lease now.
            for leftover in settings.outputs_dir.glob(f".{stem}_*.part"):
                leftover.unlink(missing_ok=True)
            if kind == "fetch":
                rendered = [keep_original(source, settings.outputs_dir, stem)]
            else:
                rendered = render_source(
                    source, brands, settings.outputs_dir, preset=preset, fit=fit,
                    options=settings.engine_options(), stem=stem,
                    on_progress=self._on_progress, cancel=self.cancel,
                )  # fmt: skip
        except (RenderCancelledError, DownloadCancelledError):
            self._finish("cancelled", None, None)
        except (EngineError, BrandConfigError) as exc:
            self._fail(exc)
        except Exception as exc:  # a bug: keep the job honest and the worker alive
            log.exception("job %s crashed", self.job_id)
            self._fail(exc)
        else:
            with runtime.db.session() as session:
                job = session.get(Job, self.job_id)
                record_outputs(job, rendered, settings)
            self._finish("completed", None, None)
            runtime.db.log(
                "INFO", f"{len(rendered)} outputs in {time.monotonic() - started:.1f} s", self.job_id
            )
        finally:
            self.done.set()
            watcher.join(timeout=5)

    def _on_progress(self, stage: str, percent: float) -> None:
        low, high = self.spans.get(stage, (0, 100))
        self.progress = (stage, low + (high - low) * percent / 100)

    def _watch(self) -> None:
        """Write progress, renew the heartbeat, and turn a cancel request into the engine's cancel event."""
        last_beat = 0.0
        written = None
        while not self.done.wait(WATCH_SECONDS):
            now = time.monotonic()
            values: dict = {}
            if self.progress != written and self.progress is not None:
                written = self.progress
                values.update(status=written[0], stage=written[0], progress=written[1])
            if now - last_beat >= HEARTBEAT_SECONDS or values:
                last_beat = now
                values["heartbeat_at"] = utc_now()
            try:
                with self.runtime.db.session() as session:
                    # only while this run holds the job: never overwrite the final status it wrote
                    session.execute(
                        update(Job)
                        .where(Job.id == self.job_id, Job.status.in_(("downloading", "rendering")))
                        .values(**values)
                    )
                    if session.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)):
                        self.cancel.set()
            except Exception:  # a busy database must not kill the render; the next tick retries
                log.warning("job %s: progress write failed", self.job_id, exc_info=True)

    def _fail(self, exc: Exception) -> None:
        code = getattr(exc, "code", "internal_error")
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        with self.runtime.db.session() as session:
            job = session.get(Job, self.job_id)
            retry = getattr(exc, "transient", False) and job.attempts < self.runtime.settings.max_attempts
            if retry:
                job.status, job.stage, job.lease_owner = "queued", "waiting to retry", None
                job.error, job.error_code = message, code
        if retry:
            self.runtime.db.log("WARNING", f"transient failure, retrying: {message}", self.job_id)
            self.runtime.enqueue(self.job_id, delay=RETRY_DELAY_SECONDS)
            return
        self._finish("failed", code, message)
        detail = getattr(exc, "stderr_tail", "")
        self.runtime.db.log("ERROR", f"{message}\n{detail}".strip(), self.job_id)

    def _finish(self, status: str, code: str | None, message: str | None) -> None:
        with self.runtime.db.session() as session:
            job = session.get(Job, self.job_id)
            job.status, job.error_code, job.error = status, code, message
            job.stage = None if status != "completed" else "done"
            if status == "completed":
                job.progress = 100.0
            job.finished_at, job.lease_owner = utc_now(), None
        log.info("job %s %s", self.job_id, status, extra={"status": status})


def acquire_source(runtime: Runtime, job_id: str, on_progress, cancel: threading.Event) -> Path:
    """The file the engine reads: the one place a job's source becomes a local path.

    Uploads are already on disk; links are downloaded (or reused) and what was learnt is kept on the job.
    """
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        kind, name, path = job.source_kind, job.source_name, job.source_path
    if kind == "upload":
        if not path or not Path(path).is_file():
            raise EngineError(
                f"the uploaded file for job {job_id} is gone (expired or deleted); upload it again"
            )
        return Path(path)
    media = download(name, DownloadOptions.from_settings(runtime.settings), on_progress, cancel)
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        job.source_path = str(media.path)
        job.source_meta = {key: value for key, value in media.as_dict().items() if key != "path"}
    return media.path


def keep_original(source: Path, outputs_dir: Path, stem: str) -> RenderedOutput:
    """A fetch job's output: the downloaded file itself, linked (or copied) into the outputs folder."""
    info = probe_media(source)
    target = outputs_dir / f"{stem}_original{source.suffix}"
    outputs_dir.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.part")
    try:
        os.link(source, temp)
    except OSError:
        shutil.copyfile(source, temp)
    os.replace(temp, target)
    return RenderedOutput(
        "original", target, info.width, info.height, round(info.duration, 3), target.stat().st_size
    )


def reap_stale_jobs(runtime: Runtime) -> list[str]:
    """Requeue jobs whose worker stopped beating; fail them after WTF_MAX_ATTEMPTS."""
    settings = runtime.settings
    stale_before = utc_now() - timedelta(seconds=settings.heartbeat_stale_s)
    requeued = []
    with runtime.db.session() as session:
        stale = session.scalars(
            select(Job).where(
                Job.status.in_(("rendering", "downloading")),
                or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before),
            )
        ).all()
        for job in stale:
            if job.cancel_requested:  # its worker died before it could honour the cancel
                job.status, job.stage, job.lease_owner, job.finished_at = "cancelled", None, None, utc_now()
            elif job.attempts >= settings.max_attempts:
                job.status, job.error_code = "failed", "worker_lost"
                job.error = f"the worker stopped {job.attempts} times while running this job; giving up"
                job.finished_at, job.lease_owner = utc_now(), None
            else:
                job.status, job.stage, job.lease_owner = "queued", "requeued", None
                requeued.append(job.id)
    for job_id in requeued:
        log.warning("job %s: worker heartbeat stale, requeued", job_id)
        runtime.db.log("WARNING", "worker heartbeat stale; job requeued", job_id)
        runtime.enqueue(job_id)
    return requeued


def run_cleanup() -> None:
    """Periodic retention sweep (also `wtf-portal cleanup`)."""
    runtime = Runtime.get()
    with runtime.db.session() as session:
        cleanup(runtime.settings, session)


def _beat_and_reap(runtime: Runtime, stop: threading.Event) -> None:
    while True:
        try:
            with runtime.db.session() as session:
                session.merge(WorkerBeat(name=runtime.worker_name, seen_at=utc_now()))
            reap_stale_jobs(runtime)
        except Exception:
            log.warning("reaper pass failed", exc_info=True)
        if stop.wait(REAPER_SECONDS):
            return


def run_worker(concurrency: int) -> None:
    """A queue consumer: Huey's, plus the heartbeat-and-reaper thread. Stops on SIGINT/SIGTERM."""
    runtime = Runtime.get()
    runtime.db.upgrade()
    stop = threading.Event()
    threading.Thread(target=_beat_and_reap, args=(runtime, stop), name="reaper", daemon=True).start()
    start_sender(runtime.db, runtime.settings, stop)
    consumer = runtime.huey.create_consumer(workers=concurrency, worker_type="thread", periodic=True)
    try:
        consumer.run()
    finally:
        stop.set()
