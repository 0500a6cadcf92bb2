"""The queue's task code: Huey carries job ids; the jobs table (and `portal.jobs.state`) is the truth.

Huey delivers at most once, so a worker takes a lease on the job row and renews a heartbeat while it
works; a reaper in every consumer puts jobs with a stale heartbeat back on the queue (bounded attempts),
so a killed worker never leaves a job `rendering` forever; beside it a sweeper puts back on the queue any
job left `queued` with no message (a queue that restarted empty, an enqueue that failed). Cancel is
cooperative: the job's watcher sees the flag and sets the run's cancel event, which stops the download or
kills FFmpeg's process group. A database, queue or bucket that goes away is waited for
(`portal.jobs.outages`); a run that lost its lease writes nothing (`state.fence`).
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
from functools import partial
from pathlib import Path
from typing import TypeVar

from huey import crontab
from huey.consumer import Consumer

from portal.acquire import sites
from portal.acquire.downloader import DownloadCancelledError, DownloadFailedError, DownloadOptions, download
from portal.brands.v3_import import apply_v3_settings
from portal.database import Database, Job, Source, WorkerBeat, utc_now
from portal.errors import DatabaseUnavailableError, PortalError, QueueUnavailableError, WaitInQueue
from portal.jobs import state
from portal.jobs.footprint import python_footprint_mib
from portal.jobs.maintenance import cleanup, disk_status
from portal.jobs.outages import patiently
from portal.jobs.state import job_edits
from portal.jobs.transcripts import AUTO, draws_captions, stored_transcript, transcript_for_render
from portal.jobs.webhooks import start_sender
from portal.library.post_text import post_text_for
from portal.library.sources import describe_picture, learn_from_download, warnings_for
from portal.logging_setup import job_context
from portal.media.errors import EngineError, RenderCancelledError
from portal.media.layers import LayerOverride
from portal.media.options import SourceLimits
from portal.media.plan import job_stem, output_name, temp_name, version_name
from portal.runtime import Runtime
from portal.storage.objects import OUTPUTS, StoredFileMissingError, is_stored_object, job_scratch
from portal.video_processor import RenderedOutput, probe_media, render_source

log = logging.getLogger("portal.worker")
WATCH_SECONDS = 0.5  # how often a running job checks its cancel flag and writes progress
HEARTBEAT_SECONDS = 5.0
REAPER_SECONDS = 10.0
RETRY_DELAY_SECONDS = 5
DISK_RECHECK_SECONDS = 30  # a job waiting for free disk space is looked at again this often
WAITING_FOR_DISK = "waiting for free disk space"
TASK_MODULE = "portal.tasks"
T = TypeVar("T")


def register_tasks(runtime: Runtime) -> Runtime:
    """Put this module's tasks on the runtime's queue (the web enqueues them, a consumer runs them)."""

    # Huey keys a message by the task's module and name: both stay as they were when these were module
    # functions of `portal.tasks`, so messages already queued by a running deployment still run.
    def process(job_id: str) -> None:
        process_job(runtime, job_id)

    def periodic_cleanup() -> None:
        run_cleanup(runtime)

    def rerender(job_id: str, number: int) -> None:
        rerender_output(runtime, job_id, number)

    process.__module__ = periodic_cleanup.__module__ = rerender.__module__ = TASK_MODULE
    runtime.process_job = runtime.huey.task(retries=0, context=False, name="process_job")(process)
    runtime.rerender_output = runtime.huey.task(retries=0, context=False, name="rerender_output")(rerender)
    runtime.huey.periodic_task(crontab(minute="*/30"), name="run_cleanup")(periodic_cleanup)

    return runtime


def process_job(runtime: Runtime, job_id: str) -> None:
    """Run one job to its end: acquire the source, render every brand, record the outputs."""
    with job_context(job_id):
        run = _JobRun(runtime, job_id)
        try:
            leased = patiently(
                lambda: state.lease(runtime.db, job_id, run.holder), f"job {job_id}: lease",
                runtime.settings.outage_wait_s,
            )  # fmt: skip
        except PortalError as exc:  # still queued: the sweeper sends it again once the database is back
            log.warning("job %s: could not be leased (%s); left queued for the sweeper", job_id, exc.message)
            return
        if not leased:
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

    def retrying(self, call: Callable[[], T], what: str) -> T:
        """`call()`, waited for through an outage of a dependency (portal.jobs.outages)."""
        return patiently(call, f"job {self.job_id}: {what}", self.runtime.settings.outage_wait_s)

    def _enqueue_later(self, delay: float) -> None:
        try:
            self.runtime.enqueue(self.job_id, delay=delay)
        except QueueUnavailableError as exc:  # it is queued in the table: the sweeper sends it later
            log.warning("job %s: %s; left to the sweeper", self.job_id, exc.message)

    def run(self) -> None:
        runtime, settings, db = self.runtime, self.runtime.settings, self.runtime.db
        watcher = threading.Thread(target=self._watch, name=f"job-{self.job_id[:8]}", daemon=True)
        watcher.start()
        started = time.monotonic()
        scratch = job_scratch(settings, self.job_id, self.run_id)
        brand_files = contextlib.ExitStack()  # the brands' files this render draws stay until it ends
        try:
            if not disk_status(settings)["ok"]:  # it would only fail halfway: wait, queued, until there is
                raise WaitInQueue(WAITING_FOR_DISK, DISK_RECHECK_SECONDS)
            job = self.retrying(lambda: _read_job(db, self.job_id), "reading the job")
            brands = []
            if job.kind == "render":
                # re-checked now: a brand saved a moment ago in another process is used by this render
                config = self.retrying(
                    lambda: brand_files.enter_context(runtime.brands.pinned(max_age=0)), "reading the brands"
                )
                brands = config.select(job.brands)
            if job.v3_settings:  # process_brands' settings for this render only
                brands = [apply_v3_settings(brand, job.v3_settings) for brand in brands]
            kind, formats, source_kind = job.kind, job.output_formats(), job.source_kind
            reframe, trim = job_edits(job)
            source_name, captions = job.source_name, job.captions
            # links: downloading is 0-30% of a branding job's bar, all of a fetch job's
            self.spans = {"downloading": (0, 30 if kind == "render" else 100), "rendering": (30, 100)}
            if source_kind != "url":
                self.spans["rendering"] = (0, 100)
            if captions == AUTO or (captions is None and draws_captions(brands)):  # may recognize speech:
                # recognition takes the first part of what rendering had
                low, high = self.spans["rendering"]
                self.spans["recognizing"], self.spans["rendering"] = (low, low + 20), (low + 20, high)
            source, site_subtitles = acquire_source(runtime, self, scratch, subtitles=kind == "render")
            # an upload is stored under its id; its outputs are named after the file the user sent (or the
            # library item's title)
            stem = job_stem(Path(source_name).stem if source_kind != "url" else source.stem, self.job_id)
            render_dir = runtime.storage.render_dir(scratch)
            if kind == "fetch":
                rendered = [keep_original(source, render_dir, stem, settings.source_limits)]
            else:
                options = settings.engine_options(service_mb=runtime.service_mb)
                transcript = transcript_for_render(
                    runtime, self.job_id, scratch, source, brands, site_subtitles,
                    self.on_progress, self.cancel,
                )  # fmt: skip
                rendered = render_source(
                    source, brands, render_dir, formats=formats, reframe=reframe, trim=trim,
                    options=options, stem=stem,
                    on_progress=self.on_progress, cancel=self.cancel, transcript=transcript,
                )  # fmt: skip
            # Stored before the job is completed: a reader of a completed job always finds its outputs.
            # Each is stored only while this run still holds the job: a late run never overwrites the
            # outputs of the run that replaced it, nor brings back those of a job deleted meanwhile.
            for output in rendered:
                for path in (output.path, output.cover, output.captions):  # video, cover, sidecar WebVTT
                    if path is not None:
                        self.retrying(partial(self.publish, Path(path)), "storing an output")
            meta = self.retrying(lambda: _read_job(db, self.job_id), "reading the job").source_meta
            post_texts = {brand.id: post_text_for(brand, meta) for brand in brands}
        except state.LeaseLostError:
            pass  # another run has the job (or it is gone): nothing of this one is kept
        except WaitInQueue as wait:
            if self.retrying(
                partial(state.wait_in_queue, db, self.job_id, wait.stage, holder=self.holder),
                "giving it back",
            ):
                log.info("job %s: %s; back in the queue", self.job_id, wait.stage)
                self._enqueue_later(wait.retry_after_s)
        except (RenderCancelledError, DownloadCancelledError):
            self.retrying(
                lambda: state.stop_cancelled(db, self.job_id, holder=self.holder), "recording the cancel"
            )
        except Exception as exc:
            if not isinstance(exc, PortalError):  # a bug: keep the job honest and the worker alive
                log.exception("job %s crashed", self.job_id)
            if self.retrying(
                partial(state.fail, db, self.job_id, exc, settings.max_attempts, holder=self.holder),
                "recording the failure",
            ):
                self._enqueue_later(RETRY_DELAY_SECONDS)
        else:
            if self.retrying(
                partial(state.finish, db, self.job_id, rendered, holder=self.holder, post_texts=post_texts),
                "recording the outputs",
            ):
                db.log("INFO", f"{len(rendered)} outputs in {time.monotonic() - started:.1f} s", self.job_id)
        finally:
            self.done.set()
            watcher.join(timeout=5)
            brand_files.close()
            shutil.rmtree(scratch, ignore_errors=True)

    def publish(self, path: Path) -> str:
        """Store one output, each try only after checking (and renewing) this run's lease."""
        state.fence(self.runtime.db, self.job_id, holder=self.holder)
        return self.runtime.storage.store(path, OUTPUTS)

    def on_progress(self, stage: str, percent: float) -> None:
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
            except PortalError as exc:  # an unreachable database must not stop the render: next tick
                log.warning("job %s: progress write failed: %s", job_id, exc.message)
            except Exception:  # a busy database must not kill the render; the next tick retries
                log.warning("job %s: progress write failed", job_id, exc_info=True)


def rerender_output(runtime: Runtime, job_id: str, number: int) -> None:
    """Render output `number` of a completed job again alone, with its request's overrides (DESIGN 4.12):
    one decode of the source, one encode, into a new version; the brand's config and the job's other
    outputs are not touched. The run holds the re-render by a lease and renews its heartbeat, as a job's
    run does: the reaper puts it back on the queue if this worker dies, and a run that lost its lease
    stores nothing."""
    with job_context(job_id):
        _RerenderRun(runtime, job_id, number).run()


class _RerenderRun:
    def __init__(self, runtime: Runtime, job_id: str, number: int) -> None:
        self.runtime, self.job_id, self.number = runtime, job_id, number
        self.run_id = secrets.token_hex(4)
        self.holder = f"{runtime.worker_name}/{self.run_id}"
        self.cancel = threading.Event()  # set when the run lost its lease: FFmpeg is stopped
        self.done = threading.Event()
        self.percent: float | None = None

    def run(self) -> None:
        runtime, db, job_id, number = self.runtime, self.runtime.db, self.job_id, self.number
        request = state.lease_rerender(db, job_id, number, self.holder)
        if request is None:
            log.info("job %s output %s: no re-render waits for a run; skipped", job_id, number)
            return
        watcher = threading.Thread(target=self._watch, name=f"rerender-{job_id[:8]}-{number}", daemon=True)
        watcher.start()
        scratch = job_scratch(runtime.settings, job_id, f"rerender-{number}-{self.run_id}")
        try:
            with contextlib.ExitStack() as stack:
                self._render(request, scratch, stack)
        except (state.LeaseLostError, RenderCancelledError):
            pass  # another run has it now (or the job is gone): nothing of this one is kept
        except Exception as exc:
            if not isinstance(exc, PortalError):
                log.exception("job %s: rendering output %s again crashed", job_id, number)
            state.fail_rerender(db, job_id, number, state.error_message(exc), holder=self.holder)
        finally:
            self.done.set()
            watcher.join(timeout=5)
            shutil.rmtree(scratch, ignore_errors=True)

    def _render(self, request: dict, scratch: Path, stack: contextlib.ExitStack) -> None:
        runtime, db, settings, job_id, number = (
            self.runtime, self.runtime.db, self.runtime.settings, self.job_id, self.number
        )  # fmt: skip
        with db.session() as session:
            job = session.get(Job, job_id)
            if job is None:  # deleted since the lease was taken
                raise state.LeaseLostError(f"job {job_id} is gone")
            output = job.outputs[number]
            config = stack.enter_context(runtime.brands.pinned(max_age=0))
            [brand] = config.select([output.brand])
            if job.v3_settings:
                brand = apply_v3_settings(brand, job.v3_settings)
            overrides = request["overrides"] or {}
            fmt, reframe, trim = state.output_edits(job, output, overrides)
            next_version = output.version_list()[-1]["version"] + 1
            base_name = output.version_list()[0]["filename"]
            source_ref = job.source_path
            # the library item's transcript as it is now: an edit made since the job shows in this one
            item = session.get(Source, job.source_id) if job.source_id else None
            stored = stored_transcript(item) if item is not None else None
        source = kept_source(runtime, source_ref, scratch)
        [rendered] = render_source(
            source, [brand], scratch / "out", formats=[fmt], reframe=reframe, trim=trim,
            stem=Path(base_name).stem, options=settings.engine_options(service_mb=runtime.service_mb),
            cover_at=overrides.get("cover_at"),
            overrides=[LayerOverride(**layer) for layer in overrides.get("layers", [])],
            on_progress=self.on_progress, cancel=self.cancel, transcript=stored.cues if stored else (),
        )  # fmt: skip
        name = version_name(base_name, next_version)
        sidecar = str(Path(name).with_suffix(".vtt")) if rendered.captions else None
        names = (name, str(Path(name).with_suffix(".jpg")), sidecar)
        files = ((rendered.path, names[0]), (rendered.cover, names[1]), (rendered.captions, sidecar))
        for path, stored_as in files:
            if stored_as is not None:
                state.fence_rerender(db, job_id, number, holder=self.holder)  # a late run stores nothing
                runtime.storage.store(Path(path), OUTPUTS, stored_as)
        if state.finish_rerender(db, job_id, number, rendered, names, holder=self.holder):
            db.log("INFO", f"output {number} rendered again as version {next_version}", job_id)

    def on_progress(self, stage: str, percent: float) -> None:
        self.percent = percent

    def _watch(self) -> None:
        """Renew the heartbeat (with the progress) while the run works; stop it once its lease is lost."""
        last_beat, written = 0.0, None
        while not self.done.wait(WATCH_SECONDS):
            current = self.percent
            if current == written and time.monotonic() - last_beat < HEARTBEAT_SECONDS:
                continue
            try:
                held = state.rerender_progress(
                    self.runtime.db, self.job_id, self.number, current, holder=self.holder
                )
            except Exception:  # a busy or unreachable database must not stop the render: next tick
                log.warning("job %s: re-render progress write failed", self.job_id, exc_info=True)
                continue
            written, last_beat = current, time.monotonic()
            if not held:
                self.cancel.set()


def kept_source(runtime: Runtime, ref: str | None, scratch: Path) -> Path:
    """The source a finished job rendered, to render one of its outputs again: its stored upload or
    library file, or a link's download while the download cache keeps it."""
    if ref and not is_stored_object(ref) and Path(ref).is_file():  # a link's download on this machine
        return Path(ref)
    try:
        return runtime.storage.local_copy(ref or "", scratch)
    except StoredFileMissingError:
        raise EngineError("this job's source is gone (expired or deleted); submit it again") from None


def acquire_source(
    runtime: Runtime, run: _JobRun, scratch: Path, subtitles: bool = False
) -> tuple[Path, str | None]:
    """The file the engine reads: the one place a job's source becomes a local path; with `subtitles`, also
    a link's subtitles as its site offers them (SRT or WebVTT text, else None).

    An upload or a library item is read where it is stored (fetched into the job's scratch folder from
    object storage); links are downloaded (or reused) and what was learnt is kept on the job (while the
    run holds it) and on its library item, which also keeps the file, a cover and the picture's
    fingerprint: the submitter is then told if the clip was already branded lately.
    """
    job_id = run.job_id
    job = run.retrying(lambda: _read_job(runtime.db, job_id), "reading the job")
    kind, name, path, source_id = job.source_kind, job.source_name, job.source_path, job.source_id
    if kind != "url":
        try:
            fetch = partial(runtime.storage.local_copy, path or "", scratch)
            return run.retrying(fetch, "fetching the upload"), None
        except StoredFileMissingError:
            raise EngineError(
                f"the stored file for job {job_id} is gone (expired or deleted); upload it again"
            ) from None
    settings, site = runtime.settings, sites.site_of(name)
    sites.check_not_paused(runtime.db, site)  # a paused site's jobs wait instead of failing
    run.retrying(runtime.cookies.refresh, "reading the cookies")  # may have come or gone elsewhere
    options = DownloadOptions.from_settings(settings, runtime.cookies.pool(site), runtime.cookies.report)
    try:
        media = download(name, options, run.on_progress, run.cancel, subtitles=subtitles)
    except DownloadFailedError as exc:
        if not isinstance(exc, DownloadCancelledError):
            outcome = partial(sites.record_outcome, runtime.db, settings, site, exc.code, exc.message)
            run.retrying(outcome, "recording the site's health")
        raise
    run.retrying(partial(sites.record_outcome, runtime.db, settings, site), "recording the site's health")
    meta = {key: value for key, value in media.as_dict().items() if key != "path"}
    record = partial(state.fence, runtime.db, job_id, holder=run.holder, source_path=str(media.path),
                     source_meta=meta)  # fmt: skip
    run.retrying(record, "recording the source")
    if source_id:
        run.retrying(partial(_learn_from_download, runtime.db, source_id, meta), "recording the source")
        remember_picture(runtime, job_id, source_id, media.path, media.duration)
    return media.path, media.subtitles


def _learn_from_download(db: Database, source_id: str, meta: dict) -> None:
    with db.session() as session:
        learn_from_download(session, source_id, meta)


def remember_picture(
    runtime: Runtime, job_id: str, source_id: str, local: Path, duration: float | None
) -> None:
    """Keep a downloaded clip in the library (file, cover, fingerprint) and warn if it was branded lately."""
    settings = runtime.settings
    duration = duration or probe_media(local, settings.source_limits).duration
    if describe_picture(runtime.db, runtime.storage, source_id, local, duration, settings.ffmpeg_path):
        with runtime.db.session() as session:
            job = session.get(Job, job_id)
            job.warnings = warnings_for(session, source_id, settings.repost_window_days, {job_id})


def _read_job(db: Database, job_id: str) -> Job:
    with db.session() as session:
        return session.get(Job, job_id)


def keep_original(source: Path, outputs_dir: Path, stem: str, limits: SourceLimits) -> RenderedOutput:
    """A fetch job's output: the downloaded file itself, linked (or copied) into the outputs folder."""
    info = probe_media(source, limits)
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
    """Requeue jobs and re-renders whose worker stopped beating; fail them after WTF_MAX_ATTEMPTS."""
    settings = runtime.settings
    requeued = state.reap(runtime.db, settings.heartbeat_stale_s, settings.max_attempts)
    rerenders = state.reap_rerenders(runtime.db, settings.heartbeat_stale_s, settings.max_attempts)
    runtime.enqueue_all(requeued)  # if the queue is down now, the sweeper sends them later
    for job_id, number in rerenders:
        runtime.enqueue_rerender(job_id, number)
    return requeued


def sweep_queued_jobs(runtime: Runtime) -> list[str]:
    """Send again the queued jobs that no queue message carries (WTF_SWEEP_QUEUED_AFTER_S). Cheap (one
    query; the queue is read only when a job has waited that long) and harmless when doubled: only one
    run can lease a job."""
    after_s = runtime.settings.sweep_queued_after_s
    claimed = state.sweep_queued(runtime.db, after_s, runtime.queued_job_ids)
    runtime.enqueue_all(claimed)
    for job_id, number in state.sweep_queued_rerenders(runtime.db, after_s, runtime.queued_rerenders):
        runtime.enqueue_rerender(job_id, number)
    return claimed


def run_cleanup(runtime: Runtime) -> None:
    """Periodic retention sweep (also `wtf-portal cleanup`)."""
    with runtime.db.session() as session:
        cleanup(runtime.settings, session, storage=runtime.storage)


def _beat_and_reap(runtime: Runtime, stop: threading.Event) -> None:
    # Heartbeats could not be written while the database was unreachable, for any worker: after it comes
    # back, running jobs get a whole heartbeat_stale_s to renew theirs before any of them counts as stale.
    reachable_since: float | None = None
    while True:
        try:
            with runtime.db.session() as session:
                session.merge(WorkerBeat(name=runtime.worker_name, seen_at=utc_now()))
            reachable_since = reachable_since or time.monotonic()
            if time.monotonic() - reachable_since >= runtime.settings.heartbeat_stale_s:
                reap_stale_jobs(runtime)
            sweep_queued_jobs(runtime)
        except PortalError as exc:  # a dependency is down: the next pass tries again
            if isinstance(exc, DatabaseUnavailableError):
                reachable_since = None
            log.warning("reaper pass: %s", exc.message)
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
