"""The queue's task code: Huey carries job ids; the jobs table (and `portal.jobs.state`) is the truth.

Huey delivers at most once, so a worker takes a lease on the job row and renews a heartbeat while it
works; a reaper in every consumer puts jobs with a stale heartbeat back on the queue (bounded attempts),
so a killed worker never leaves a job `rendering` forever. Cancel is cooperative: the job's watcher sees
the flag and sets the run's cancel event, which stops the download or kills FFmpeg's process group.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from huey import crontab
from huey.consumer import Consumer

from portal.acquire import sites
from portal.acquire.downloader import DownloadCancelledError, DownloadFailedError, DownloadOptions, download
from portal.brands.v3_import import apply_v3_settings
from portal.database import Job, WorkerBeat, utc_now
from portal.errors import PortalError, WaitInQueue
from portal.jobs import state
from portal.jobs.footprint import python_footprint_mib
from portal.jobs.maintenance import cleanup
from portal.jobs.transcripts import AUTO, transcript_for_render
from portal.jobs.webhooks import start_sender
from portal.library.post_text import post_text_for
from portal.library.sources import describe_picture, learn_from_download, warnings_for
from portal.logging_setup import job_context
from portal.media.errors import EngineError, RenderCancelledError
from portal.media.plan import job_stem, output_name, temp_glob, temp_name
from portal.runtime import Runtime
from portal.storage.objects import OUTPUTS, StoredFileMissingError, job_scratch
from portal.video_processor import RenderedOutput, probe_media, render_source

log = logging.getLogger("portal.worker")
WATCH_SECONDS = 0.5  # how often a running job checks its cancel flag and writes progress
HEARTBEAT_SECONDS = 5.0
REAPER_SECONDS = 10.0
RETRY_DELAY_SECONDS = 5
TASK_MODULE = "portal.tasks"


def register_tasks(runtime: Runtime) -> Runtime:
    """Put this module's tasks on the runtime's queue (the web enqueues them, a consumer runs them)."""

    # Huey keys a message by the task's module and name: both stay as they were when these were module
    # functions of `portal.tasks`, so messages already queued by a running deployment still run.
    def process(job_id: str) -> None:
        process_job(runtime, job_id)

    def periodic_cleanup() -> None:
        run_cleanup(runtime)

    process.__module__ = periodic_cleanup.__module__ = TASK_MODULE
    runtime.process_job = runtime.huey.task(retries=0, context=False, name="process_job")(process)
    runtime.huey.periodic_task(crontab(minute="*/30"), name="run_cleanup")(periodic_cleanup)

    return runtime


def process_job(runtime: Runtime, job_id: str) -> None:
    """Run one job to its end: acquire the source, render every brand, record the outputs."""
    with job_context(job_id):
        run = _JobRun(runtime, job_id)
        if not state.lease(runtime.db, job_id, run.holder):
            log.info("job %s is not waiting for a worker; skipped", job_id)
            return
        log.info("job %s started on %s", job_id, run.holder)
        run.run()


class _JobRun:
    def __init__(self, runtime: Runtime, job_id: str) -> None:
        self.runtime = runtime
        self.job_id = job_id
        self.run_id = secrets.token_hex(4)
        self.holder = f"{runtime.worker_name}/{self.run_id}"  # the lease is this run's, not the process's
        self.spans: dict[str, tuple[float, float]] = {}
        self.cancel = threading.Event()
        self.done = threading.Event()
        self.progress: tuple[str, float] | None = None

    def run(self) -> None:
        runtime, settings, db = self.runtime, self.runtime.settings, self.runtime.db
        watcher = threading.Thread(target=self._watch, name=f"job-{self.job_id[:8]}", daemon=True)
        watcher.start()
        started = time.monotonic()
        scratch = job_scratch(settings, self.job_id, self.run_id)
        brand_files = contextlib.ExitStack()  # the brands' files this render draws stay until it ends
        try:
            with db.session() as session:
                job = session.get(Job, self.job_id)
                brands = []
                if job.kind == "render":
                    # re-checked now: a brand saved a moment ago in another process is used by this render
                    config = brand_files.enter_context(runtime.brands.pinned(max_age=0))
                    brands = config.select(job.brands)
                if job.v3_settings:  # process_brands' settings for this render only
                    brands = [apply_v3_settings(brand, job.v3_settings) for brand in brands]
                kind, formats, source_kind = job.kind, job.output_formats(), job.source_kind
                source_name, captions = job.source_name, job.captions
            # links: downloading is 0-30% of a branding job's bar, all of a fetch job's
            self.spans = {"downloading": (0, 30 if kind == "render" else 100), "rendering": (30, 100)}
            if source_kind != "url":
                self.spans["rendering"] = (0, 100)
            if captions == AUTO:  # recognition takes the first part of what rendering had
                low, high = self.spans["rendering"]
                self.spans["recognizing"], self.spans["rendering"] = (low, low + 20), (low + 20, high)
            source = acquire_source(runtime, self.job_id, self._on_progress, self.cancel, scratch)
            # an upload is stored under its id; its outputs are named after the file the user sent (or the
            # library item's title)
            stem = job_stem(Path(source_name).stem if source_kind != "url" else source.stem, self.job_id)
            render_dir = runtime.storage.render_dir(scratch)
            # Partial files of an earlier attempt whose worker died: this run holds the lease now.
            for leftover in render_dir.glob(temp_glob(stem)):
                leftover.unlink(missing_ok=True)
            if kind == "fetch":
                rendered = [keep_original(source, render_dir, stem)]
            else:
                options = settings.engine_options(service_mb=runtime.service_mb)
                transcript = transcript_for_render(
                    runtime, self.job_id, scratch, source, brands, self._on_progress, self.cancel
                )
                rendered = render_source(
                    source, brands, render_dir, formats=formats,
                    options=options, stem=stem,
                    on_progress=self._on_progress, cancel=self.cancel, transcript=transcript,
                )  # fmt: skip
            # Stored before the job is completed: a reader of a completed job always finds its outputs.
            for output in rendered:
                runtime.storage.store(Path(output.path), OUTPUTS)
                if output.captions is not None:
                    runtime.storage.store(output.captions, OUTPUTS)
            with db.session() as session:
                meta = session.get(Job, self.job_id).source_meta
            post_texts = {brand.id: post_text_for(brand, meta) for brand in brands}
        except (RenderCancelledError, DownloadCancelledError):
            state.stop_cancelled(db, self.job_id, holder=self.holder)
        except WaitInQueue as waiting:
            if state.wait_in_queue(db, self.job_id, waiting.stage, holder=self.holder):
                runtime.enqueue(self.job_id, delay=waiting.retry_after_s)
        except Exception as exc:
            if not isinstance(exc, PortalError):  # a bug: keep the job honest and the worker alive
                log.exception("job %s crashed", self.job_id)
            if state.fail(db, self.job_id, exc, settings.max_attempts, holder=self.holder):
                runtime.enqueue(self.job_id, delay=RETRY_DELAY_SECONDS)
        else:
            if state.finish(db, self.job_id, rendered, holder=self.holder, post_texts=post_texts):
                db.log("INFO", f"{len(rendered)} outputs in {time.monotonic() - started:.1f} s", self.job_id)
        finally:
            self.done.set()
            watcher.join(timeout=5)
            brand_files.close()
            shutil.rmtree(scratch, ignore_errors=True)

    def _on_progress(self, stage: str, percent: float) -> None:
        low, high = self.spans.get(stage, (0, 100))
        self.progress = (stage, low + (high - low) * percent / 100)

    def _watch(self) -> None:
        """Write progress, renew the heartbeat, and turn a cancel request into the run's cancel event."""
        db, job_id = self.runtime.db, self.job_id
        last_beat, written = 0.0, None
        while not self.done.wait(WATCH_SECONDS):
            try:
                current = self.progress
                if current != written or time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                    stage, percent = current or (None, None)
                    wanted = state.progress(db, job_id, stage, percent, holder=self.holder)
                    written, last_beat = current, time.monotonic()
                else:
                    wanted = state.cancel_requested(db, job_id)
                if wanted:
                    self.cancel.set()
            except Exception:  # a busy database must not kill the render; the next tick retries
                log.warning("job %s: progress write failed", job_id, exc_info=True)


def acquire_source(
    runtime: Runtime, job_id: str, on_progress, cancel: threading.Event, scratch: Path
) -> Path:
    """The file the engine reads: the one place a job's source becomes a local path.

    An upload or a library item is read where it is stored (fetched into the job's scratch folder from
    object storage); links are downloaded (or reused) and what was learnt is kept on the job and on its
    library item, which also keeps the file, a cover and the picture's fingerprint: the submitter is then
    told if the clip was already branded lately.
    """
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        kind, name, path, source_id = job.source_kind, job.source_name, job.source_path, job.source_id
    if kind != "url":
        try:
            return runtime.storage.local_copy(path or "", scratch)
        except StoredFileMissingError:
            raise EngineError(
                f"the stored file for job {job_id} is gone (expired or deleted); upload it again"
            ) from None
    settings, site = runtime.settings, sites.site_of(name)
    sites.check_not_paused(runtime.db, site)  # a paused site's jobs wait instead of failing
    runtime.cookies.refresh()  # cookies files may have come or gone on another machine
    options = DownloadOptions.from_settings(settings, runtime.cookies.pool(site), runtime.cookies.report)
    try:
        media = download(name, options, on_progress, cancel)
    except DownloadFailedError as exc:
        if not isinstance(exc, DownloadCancelledError):
            sites.record_outcome(runtime.db, settings, site, exc.code, exc.message)
        raise
    sites.record_outcome(runtime.db, settings, site)
    meta = {key: value for key, value in media.as_dict().items() if key != "path"}
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        job.source_path = str(media.path)
        job.source_meta = meta
        if source_id:
            learn_from_download(session, source_id, meta)
    if source_id:
        remember_picture(runtime, job_id, source_id, media.path, media.duration)
    return media.path


def remember_picture(
    runtime: Runtime, job_id: str, source_id: str, local: Path, duration: float | None
) -> None:
    """Keep a downloaded clip in the library (file, cover, fingerprint) and warn if it was branded lately."""
    settings = runtime.settings
    duration = duration or probe_media(local).duration
    if describe_picture(runtime.db, runtime.storage, source_id, local, duration, settings.ffmpeg_path):
        with runtime.db.session() as session:
            job = session.get(Job, job_id)
            job.warnings = warnings_for(session, source_id, settings.repost_window_days, {job_id})


def keep_original(source: Path, outputs_dir: Path, stem: str) -> RenderedOutput:
    """A fetch job's output: the downloaded file itself, linked (or copied) into the outputs folder."""
    info = probe_media(source)
    target = outputs_dir / output_name(stem, "original", source.suffix)
    outputs_dir.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(temp_name(target.name))
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
    requeued = state.reap(runtime.db, settings.heartbeat_stale_s, settings.max_attempts)
    runtime.enqueue_all(requeued)
    return requeued


def run_cleanup(runtime: Runtime) -> None:
    """Periodic retention sweep (also `wtf-portal cleanup`)."""
    with runtime.db.session() as session:
        cleanup(runtime.settings, session, storage=runtime.storage)


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


def _consumer(
    runtime: Runtime, concurrency: int, worker_type: str, consumer_class: type[Consumer] = Consumer
) -> tuple[Consumer, threading.Event]:
    """Huey's consumer (not started) plus the heartbeat-and-reaper and webhook threads (started), after
    measuring what the service's Python processes hold, which the render's memory budget counts."""
    if runtime.process_job is None:  # the web app's runtime (an in-worker consumer) has them already
        register_tasks(runtime)
    runtime.db.upgrade()
    runtime.service_mb = python_footprint_mib()
    log.info(
        "the service's Python processes hold %.0f MiB (PSS); renders get the rest of WTF_RENDER_MEMORY_MB",
        runtime.service_mb,
    )
    stop = threading.Event()
    threading.Thread(target=_beat_and_reap, args=(runtime, stop), name="reaper", daemon=True).start()
    start_sender(runtime.db, runtime.settings, stop)
    consumer = consumer_class(runtime.huey, workers=concurrency, worker_type=worker_type, periodic=True)
    return consumer, stop


def run_worker(runtime: Runtime, concurrency: int) -> None:
    """A queue consumer: Huey's, plus the heartbeat-and-reaper thread. Stops on SIGINT/SIGTERM."""
    consumer, stop = _consumer(runtime, concurrency, "thread")
    try:
        consumer.run()
    finally:
        stop.set()


class _EmbeddedConsumer(Consumer):
    """Inside a gunicorn worker the worker owns the signals; the consumer must not take them over."""

    def _set_signal_handlers(self) -> None:
        pass


def start_embedded_consumer(runtime: Runtime, concurrency: int) -> Callable[[], None]:
    """The consumer inside this process (a gunicorn worker, WTF_EMBEDDED_IN_WEB_WORKER): the free plan's one
    gunicorn worker serves requests and renders, with no interpreter of its own for the consumer (about
    100 MiB less; docs/PERFORMANCE.md "Free plan"). Returns the graceful stop: the running task finishes."""
    # greenlets under gunicorn's gevent worker (the shipped config); threads under any other worker class
    patched = "gevent.monkey" in sys.modules and sys.modules["gevent.monkey"].is_module_patched("threading")
    consumer, stop = _consumer(runtime, concurrency, "greenlet" if patched else "thread", _EmbeddedConsumer)
    consumer.start()

    def shutdown() -> None:
        stop.set()
        consumer.stop(graceful=True)
        consumer.huey.notify_interrupted_tasks()

    return shutdown
