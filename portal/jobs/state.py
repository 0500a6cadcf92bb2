"""The job state machine: the one module that moves a job from one status to another.

    queued -> downloading (links only) -> rendering -> completed | failed | cancelled
       ^            |                         |
       +------------+-------------------------+   transient failure or a dead worker (bounded attempts)

The jobs table is the truth and every change is a database transaction, so the web, any number of
workers and the reaper can act on the same job. Functions take a `Database`; they never enqueue (the
caller does, with the ids they return) and know nothing of HTTP. A cancel request is a flag: a queued
job ends at once, a running one when its worker sees the flag; a job whose cancel was asked for never
goes back to the queue.

A run holds its job by a lease (`lease_owner`, a token of that run). Everything a run writes goes through
a conditional write on that token (`fence`, `finish`, `fail`, `wait_in_queue`...), so a run that lost its
lease (frozen past its heartbeat, then resumed) changes nothing. For a queued job, `heartbeat_at` is when
it was last put on the queue: the sweeper's clock (`sweep_queued`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import case, or_, select, update

from portal.database import STAGE_LENGTH, Database, Job, Output, new_id, utc_now
from portal.errors import PortalError, is_transient
from portal.jobs.answer import iso
from portal.jobs.status import FINISHED, RUNNING, STAGE_STATUS, JobStatus, ReviewState
from portal.jobs.webhooks import OUTPUT_APPROVED, OUTPUT_RERENDERED, record_event, record_job_end
from portal.media.options import DEFAULT_FIT, DEFAULT_REFRAME, NO_TRIM, OutputFormat, Reframe, Trim
from portal.storage.objects import OUTPUTS, MediaStorage

log = logging.getLogger("portal.worker")


class JobNotFoundError(PortalError):
    code = "job_not_found"
    status = 404


class JobStateError(PortalError):
    """The job is in a state that does not allow this (e.g. deleting a running job)."""

    code = "job_state"
    status = 409


class JobFinishedError(JobStateError):
    code = "job_finished"


class JobNotRetryableError(JobStateError):
    code = "job_not_retryable"


class JobRunningError(JobStateError):
    code = "job_running"


class SourceGoneError(JobStateError):
    code = "source_gone"


class LeaseLostError(PortalError):
    """This run no longer holds its job (the reaper gave it to another run, or it ended or was deleted
    while this one was stalled): it must write nothing more."""

    code = "lease_lost"


@dataclass(frozen=True)
class NewJob:
    """What a submission asks for: a render (brands, formats) or a fetch of one source."""

    kind: str  # render | fetch
    source_kind: str  # upload | url | library (branded again from a stored library item)
    source_name: str  # the upload's file name or the URL
    source_path: str | None
    brands: list[str]
    preset: str
    fit: str = DEFAULT_FIT
    v3_settings: dict | None = None  # v3's per-render settings (process_brands), applied by the worker
    edits: dict | None = None  # the source's edits (`edits_record`), made once for every output
    webhook_url: str | None = None  # told when the job ends (portal.jobs.webhooks)
    source_id: str | None = None  # its library item
    source_meta: dict | None = None  # what is known of the source already (a library item's title...)
    warnings: list | None = None  # what the submitter is told (portal.library.sources.warnings_for)
    # several formats (DESIGN 4.10): every brand in each; `preset` and `fit` are then the first one's
    formats: tuple[OutputFormat, ...] | None = None
    captions: str | None = None  # an uploaded SRT/WebVTT file's id, "auto" or "platform" (DESIGN 4.13)

    @classmethod
    def rendering(
        cls, source_kind: str, source_name: str, source_path: str | None, brands: list[str],
        formats: Sequence[OutputFormat], **extra,
    ) -> NewJob:  # fmt: skip
        """A render of every brand in every one of `formats` (one format: stored as `preset` and `fit`)."""
        first = formats[0]
        several = tuple(formats) if len(formats) > 1 else None
        return cls("render", source_kind, source_name, source_path, brands, first.preset, first.fit,
                   formats=several, **extra)  # fmt: skip


def edits_record(reframe: Reframe, trim: Trim) -> dict | None:
    """How a job keeps what was asked of its source beyond the fit (None: nothing): `job_edits` reads it."""
    record: dict = {}
    if trim.cuts:
        record["trim"] = {"start": trim.start, "end": trim.end, "end_card": trim.end_card}
    if reframe.anchor is not None:
        record["anchor"] = list(reframe.anchor)
    if reframe.zoom != 1.0:
        record["zoom"] = reframe.zoom
    if reframe.fallback != DEFAULT_REFRAME.fallback:
        record["follow_fallback"] = reframe.fallback
    return record or None


def job_edits(job: Job) -> tuple[Reframe, Trim]:
    """The reframe and trim a job asked for (its formats' fits and `edits_record`): the anchor and zoom
    frame its formats that crop, so the reframe takes the first such format's fit."""
    edits = job.edits or {}
    anchor = edits.get("anchor")
    fit = next((item.fit for item in job.output_formats() if item.fit != "blur"), job.fit)
    reframe = Reframe(
        fit,  # type: ignore[arg-type]
        tuple(anchor) if anchor else None,  # type: ignore[arg-type]
        edits.get("zoom", 1.0),
        edits.get("follow_fallback", DEFAULT_REFRAME.fallback),
    )
    return reframe, Trim(**edits["trim"]) if "trim" in edits else NO_TRIM


def output_edits(job: Job, output: Output, overrides: Mapping) -> tuple[OutputFormat, Reframe, Trim]:
    """How one output is cut and framed when it is rendered again alone (or drawn as its still) with a
    review's `overrides` (DESIGN 4.12): the job's trim and framing, or the override's trim, anchor and zoom.
    A window placed by hand replaces that output's blurred fill or following: it becomes a still crop."""
    reframe, trim = job_edits(job)
    fmt = job.format_of(output)
    reframe = reframe.for_fit(fmt.fit)
    if "trim" in overrides:
        trim = Trim(overrides["trim"].get("start", 0.0), overrides["trim"].get("end"))
    if "anchor" in overrides or "zoom" in overrides:
        anchor = overrides.get("anchor")
        centre = (anchor["x"], anchor["y"]) if anchor else reframe.anchor
        fmt = replace(fmt, fit="crop")
        reframe = Reframe("crop", centre, overrides.get("zoom", reframe.zoom))
    return fmt, reframe, trim


def submit(db: Database, new_jobs: Iterable[NewJob]) -> list[str]:
    """Queue jobs in one transaction (all or none); return their ids for the caller to enqueue.

    Jobs submitted together (several sources in one submission) form a batch: one shared `batch_id`.
    """
    new_jobs = list(new_jobs)
    batch_id = new_id() if len(new_jobs) > 1 else None
    now = utc_now()
    rows = [
        Job(id=new_id(), status=JobStatus.QUEUED, progress=0.0, attempts=0, cancel_requested=False,
            heartbeat_at=now,
            kind=new.kind, source_kind=new.source_kind, source_name=new.source_name,
            source_path=new.source_path, brands=new.brands, preset=new.preset, fit=new.fit,
            formats=[{"preset": f.preset, "fit": f.fit} for f in new.formats] if new.formats else None,
            batch_id=batch_id, v3_settings=new.v3_settings, webhook_url=new.webhook_url,
            source_id=new.source_id, source_meta=new.source_meta, warnings=new.warnings,
            edits=new.edits, captions=new.captions)
        for new in new_jobs
    ]  # fmt: skip
    with db.session() as session:
        session.add_all(rows)
    return [row.id for row in rows]


def lease(db: Database, job_id: str, worker: str) -> bool:
    """Take a queued job for `worker`; False if it is not waiting for one (taken, finished, cancelled)."""
    now = utc_now()
    with db.session() as session:
        first_status = case(
            (Job.source_kind == "url", JobStatus.DOWNLOADING.value), else_=JobStatus.RENDERING.value
        )
        taken = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status == JobStatus.QUEUED, Job.cancel_requested.is_(False))
            .values(status=first_status, stage="starting", lease_owner=worker, heartbeat_at=now,
                    started_at=now, attempts=Job.attempts + 1)
        ).rowcount  # fmt: skip
        if not taken:  # a cancel that raced a requeue: end it here rather than leave it queued forever
            ended = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.QUEUED, Job.cancel_requested.is_(True))
                .values(status=JobStatus.CANCELLED, stage=None, lease_owner=None, finished_at=now)
            ).rowcount
            if ended:
                _ended(db, session, session.get(Job, job_id))
    return taken == 1


def progress(
    db: Database, job_id: str, stage: str | None = None, percent: float | None = None, *, holder: str
) -> bool:
    """Renew the heartbeat of the job `holder` runs (with its stage and progress, if given).

    True if the run should stop: a cancel was asked, or the run no longer holds the job (it ended, or the
    reaper gave it to another run while this one was stalled: the late run must not feed its heartbeat).
    """
    values: dict = {"heartbeat_at": utc_now()}
    if stage is not None:
        values["stage"] = stage
        if stage in STAGE_STATUS:
            values["status"] = STAGE_STATUS[stage]
    if percent is not None:
        values["progress"] = percent
    with db.session() as session:
        # only while this run holds the job: never overwrite the final status, nor another run's progress
        held = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(RUNNING), Job.lease_owner == holder)
            .values(**values)
        ).rowcount
        return not held or bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def fence(db: Database, job_id: str, *, holder: str, **values) -> None:
    """Check, in one conditional write, that `holder` still runs the job (renewing its heartbeat and
    writing `values` with it); `LeaseLostError` if not. Called before each output is stored and before
    any other write a run makes, so a run that lost its lease stops before it touches anything."""
    with db.session() as session:
        held = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(RUNNING), Job.lease_owner == holder)
            .values(heartbeat_at=utc_now(), **values)
        ).rowcount
    if not held:
        log.warning("job %s: %s no longer holds it; it writes nothing more", job_id, holder)
        raise LeaseLostError(f"job {job_id}: this run lost its lease")


def sweep_queued(db: Database, older_than_s: float, on_queue: Callable[[], set[str]]) -> list[str]:
    """Queued jobs that no queue message carries (`on_queue()` lists those that have one, read only when
    some job has waited that long) and that were put on the queue more than `older_than_s` ago: their
    message was lost (a queue restarted empty, a worker that took it and could not reach the database) or
    never sent (the queue was down). Each is claimed by one conditional write (so two sweepers do not
    both send it) and returned to be enqueued."""
    cutoff = utc_now() - timedelta(seconds=older_than_s)
    waiting = or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < cutoff)
    claimed = []
    with db.session() as session:
        candidates = session.scalars(
            select(Job.id).where(Job.status == JobStatus.QUEUED, Job.cancel_requested.is_(False), waiting)
        ).all()
        carried = on_queue() if candidates else set()
        for job_id in candidates:
            if job_id in carried:
                continue
            if session.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == JobStatus.QUEUED, waiting)
                .values(heartbeat_at=utc_now())
            ).rowcount:
                claimed.append(job_id)
    for job_id in claimed:
        log.warning("job %s: queued with no message on the queue; sent again", job_id)
    return claimed


def cancel_requested(db: Database, job_id: str) -> bool:
    with db.session() as session:
        return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def finish(
    db: Database, job_id: str, rendered: list, *, holder: str, post_texts: dict[str, str | None] | None = None
) -> bool:
    """The run made its outputs (`RenderedOutput`s): record them, with each brand's post text; the job is
    completed.

    False (nothing written) if `holder` no longer holds the job: the reaper gave it to another worker.
    """
    with db.session() as session:
        job = _held(session, job_id, holder)
        if job is None:
            return False
        job.outputs.clear()
        for item in rendered:
            job.outputs.append(
                Output(brand=item.brand, preset=item.preset, filename=Path(item.path).name,
                       size_bytes=item.size_bytes,
                       width=item.width, height=item.height, duration=item.duration,
                       loudness=item.loudness.as_dict() if item.loudness else None,
                       placements=list(getattr(item, "placements", ())),
                       post_text=(post_texts or {}).get(item.brand), edits=getattr(item, "edits", None),
                       cover_filename=Path(item.cover).name if getattr(item, "cover", None) else None,
                       cover_at=getattr(item, "cover_at", None),
                       captions_filename=Path(item.captions).name if item.captions else None)
            )  # fmt: skip
        job.progress = 100.0
        _end(db, session, job, JobStatus.COMPLETED)
    return True


def stop_cancelled(db: Database, job_id: str, *, holder: str) -> None:
    """The run stopped because a cancel was asked for."""
    with db.session() as session:
        job = _held(session, job_id, holder)
        if job is not None:
            _end(db, session, job, JobStatus.CANCELLED)


def error_message(exc: BaseException) -> str:
    if isinstance(exc, PortalError):
        return exc.message
    text = str(exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__


def fail(db: Database, job_id: str, exc: BaseException, max_attempts: int, *, holder: str) -> bool:
    """The run failed. A transient failure with attempts left goes back to the queue (True: enqueue it
    again); a job whose cancel was asked for ends cancelled instead; anything else ends failed."""
    code, message = getattr(exc, "code", "internal_error"), error_message(exc)
    with db.session() as session:
        job = _held(session, job_id, holder)
        if job is None:
            return False
        transient = is_transient(exc)
        if transient and not job.cancel_requested and job.attempts < max_attempts:
            job.status, job.stage, job.lease_owner = JobStatus.QUEUED, "waiting to retry", None
            job.heartbeat_at = utc_now()
            job.error, job.error_code = message, code
            outcome = JobStatus.QUEUED
        else:
            outcome = JobStatus.CANCELLED if transient and job.cancel_requested else JobStatus.FAILED
            _end(db, session, job, outcome, *((code, message) if outcome == JobStatus.FAILED else ()))
    if outcome == JobStatus.QUEUED:
        db.log("WARNING", f"transient failure, retrying: {message}", job_id)
    elif outcome == JobStatus.FAILED:
        detail = getattr(exc, "stderr_tail", "")
        db.log("ERROR", f"{message}\n{detail}".strip(), job_id)
    return outcome == JobStatus.QUEUED


def wait_in_queue(db: Database, job_id: str, stage: str, *, holder: str) -> bool:
    """The run gives its job back, unstarted, to wait in `queued` with `stage` saying why and until when
    (a paused site, free disk); the attempt is not counted, and the caller enqueues it for then. False
    if `holder` no longer held it. A cancel asked meanwhile ends it when a worker next picks it up."""
    with db.session() as session:
        job = _held(session, job_id, holder)
        if job is None:
            return False
        job.status, job.stage, job.lease_owner = JobStatus.QUEUED, stage[:STAGE_LENGTH], None
        job.attempts, job.started_at, job.heartbeat_at = job.attempts - 1, None, utc_now()
    db.log("INFO", stage, job_id)
    return True


def _held(session, job_id: str, holder: str) -> Job | None:
    """The job if `holder` still runs it. A worker the reaper gave up on (stale heartbeat) may come back
    after the job was requeued or ended: its late result must not end the job a second time."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is not None and job.status in RUNNING and job.lease_owner == holder:
        return job
    log.warning("job %s: %s no longer holds it; its result is dropped", job_id, holder)
    return None


def _end(
    db: Database, session, job: Job, status: JobStatus, code: str | None = None, message: str | None = None
) -> None:
    job.status, job.error_code, job.error = status, code, message
    job.stage = "done" if status == JobStatus.COMPLETED else None
    job.finished_at, job.lease_owner = utc_now(), None
    _ended(db, session, job)
    log.info("job %s %s", job.id, status.value, extra={"status": status.value})


def _ended(db: Database, session, job: Job) -> None:
    """Every end of a job passes here, in the transaction that ends it: its webhook is owed from now."""
    record_job_end(session, job, db.settings)


def _get(session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise JobNotFoundError(f"no job {job_id!r}")
    return job


def cancel(db: Database, job_id: str) -> None:
    """Stop a job: a queued one at once, a running one as soon as its worker sees the flag."""
    with db.session() as session:
        job = _get(session, job_id)
        if job.status in FINISHED:
            raise JobFinishedError(f"job {job_id} is already {job.status}")
        job.cancel_requested = True
        if job.status == JobStatus.QUEUED:
            job.status, job.stage, job.finished_at = JobStatus.CANCELLED, None, utc_now()
            _ended(db, session, job)


class OutputNotFoundError(PortalError):
    code = "output_not_found"
    status = 404


def job_output(job: Job, number: int) -> Output:
    """The job's output `number` (0-based, as listed in the JOB object), or OutputNotFoundError."""
    if not 0 <= number < len(job.outputs):
        raise OutputNotFoundError(f"job {job.id} has no output {number} (it has {len(job.outputs)})")
    return job.outputs[number]


def review(db: Database, job_id: str, wanted: ReviewState, number: int | None = None) -> None:
    """Set the review state of one output of a completed job (`number`), or of all its outputs; an output
    that becomes approved owes an `output.approved` webhook."""
    with db.session() as session:
        job = _get(session, job_id)
        _completed(job, "reviewed")
        if number is not None:
            job_output(job, number)  # that it exists
        numbers = range(len(job.outputs)) if number is None else [number]
        changed = []
        for index in numbers:
            output = job.outputs[index]
            if output.review != wanted:
                output.review, output.reviewed_at = wanted, utc_now()
                changed.append(index)
        if wanted == ReviewState.APPROVED:
            for index in changed:
                record_event(session, job, db.settings, OUTPUT_APPROVED, index)


RERENDER_QUEUED, RERENDER_RUNNING, RERENDER_FAILED = "queued", "rendering", "failed"
# A re-render is owed (queued or rendering) exactly while its output's `rerender_heartbeat_at` is set, and a
# run holds it by `rerender_lease`, its token: like a job's run, every write of a re-render's run is a
# conditional write on that token, so a run the reaper gave up on (killed, or frozen and resumed late)
# changes nothing.
RERENDER_OWED = Output.rerender_heartbeat_at.is_not(None)


def _completed(job: Job, doing: str) -> None:
    if job.status != JobStatus.COMPLETED:
        raise JobStateError(f"job {job.id} is {job.status}; only a completed job's outputs are {doing}")


def _set_output(session, output_id: int, *conditions, **values) -> bool:
    """One conditional write of an output row (it locks the row until the transaction ends)."""
    statement = update(Output).where(Output.id == output_id, *conditions).values(**values)
    return bool(session.execute(statement.execution_options(synchronize_session=False)).rowcount)


def request_rerender(db: Database, job_id: str, number: int, overrides: dict, requested_by: str) -> None:
    """Ask for output `number` of a completed job to be rendered again alone with `overrides` (the caller
    enqueues it); 409 while one is already queued or rendering."""
    with db.session() as session:
        job = _get(session, job_id)
        _completed(job, "rendered again")
        output = job_output(job, number)
        request = {"status": RERENDER_QUEUED, "progress": 0.0, "error": None, "attempts": 0,
                   "requested_by": requested_by, "overrides": overrides}  # fmt: skip
        # conditional: of two requests at once, one is queued and the other refused
        if not _set_output(
            session, output.id, Output.rerender_heartbeat_at.is_(None),
            rerender=request, rerender_lease=None, rerender_heartbeat_at=utc_now(), rerender_attempts=0,
        ):  # fmt: skip
            raise JobStateError(f"output {number} of job {job_id} is already being rendered again")


def _output_at(session, job_id: str, number: int) -> Output | None:
    return session.scalars(
        select(Output).where(Output.job_id == job_id).order_by(Output.id).offset(number).limit(1)
    ).first()


def lease_rerender(db: Database, job_id: str, number: int, holder: str) -> dict | None:
    """Take the queued re-render of output `number` for the run `holder`: its request (overrides...), or
    None if none waits for a run (done, failed, taken by another run, or the job deleted)."""
    with db.session() as session:
        output = _output_at(session, job_id, number)
        if output is None or not _set_output(
            session, output.id, RERENDER_OWED, Output.rerender_lease.is_(None),
            rerender_lease=holder, rerender_heartbeat_at=utc_now(),
            rerender_attempts=Output.rerender_attempts + 1,
        ):  # fmt: skip
            return None
        session.refresh(output)
        output.rerender = {
            **output.rerender,
            "status": RERENDER_RUNNING,
            "attempts": output.rerender_attempts,
        }
        return output.rerender


def _held_output(session, job_id: str, number: int, holder: str) -> Output | None:
    """The output if `holder` still runs its re-render, the heartbeat renewed in the same conditional
    write; None (and the run must write nothing more) if the reaper gave it to another run, or it ended,
    or the job was deleted."""
    output = _output_at(session, job_id, number)
    if output is None or not _set_output(
        session, output.id, Output.rerender_lease == holder, rerender_heartbeat_at=utc_now()
    ):
        log.warning("job %s output %s: %s no longer holds its re-render; it writes nothing", job_id, number,
                    holder)  # fmt: skip
        return None
    session.refresh(output)
    return output


def rerender_progress(
    db: Database, job_id: str, number: int, percent: float | None = None, *, holder: str
) -> bool:
    """Renew the heartbeat of the re-render `holder` runs (with its progress, if given). False if the run
    no longer holds it: it must stop."""
    with db.session() as session:
        output = _held_output(session, job_id, number, holder)
        if output is not None and percent is not None:
            output.rerender = {**output.rerender, "progress": round(percent, 1)}
        return output is not None


def fence_rerender(db: Database, job_id: str, number: int, *, holder: str) -> None:
    """`LeaseLostError` unless `holder` still runs the re-render: checked before each file is stored."""
    with db.session() as session:
        if _held_output(session, job_id, number, holder) is None:
            raise LeaseLostError(f"job {job_id}, output {number}: this re-render lost its lease")


def finish_rerender(
    db: Database,
    job_id: str,
    number: int,
    rendered,
    stored_names: tuple[str, str, str | None],
    *,
    holder: str,
) -> bool:
    """The new version (a `RenderedOutput`, stored as `stored_names`: video, cover, sidecar WebVTT or None)
    becomes the output's current one, pending review; the older ones stay listed (and stored) until the job
    is deleted.

    False (nothing written) if `holder` no longer runs the re-render.
    """
    with db.session() as session:
        output = _held_output(session, job_id, number, holder)
        if output is None:
            return False
        request = output.rerender or {}
        versions = output.version_list()
        versions.append({
            "version": versions[-1]["version"] + 1,
            "filename": stored_names[0], "cover_filename": stored_names[1],
            "captions_filename": stored_names[2],
            "requested_by": request.get("requested_by"), "overrides": request.get("overrides"),
            "created_at": iso(utc_now()),
        })  # fmt: skip
        output.versions, output.rerender = versions, None
        output.rerender_lease = output.rerender_heartbeat_at = None
        output.filename, output.cover_filename, output.cover_at = (
            stored_names[0],
            stored_names[1],
            rendered.cover_at,
        )
        output.captions_filename = stored_names[2]
        output.size_bytes, output.duration = rendered.size_bytes, rendered.duration
        output.width, output.height = rendered.width, rendered.height
        output.loudness = rendered.loudness.as_dict() if rendered.loudness else None
        output.placements, output.edits = list(rendered.placements), rendered.edits
        output.review, output.reviewed_at = ReviewState.PENDING, None
        record_event(session, output.job, db.settings, OUTPUT_RERENDERED, number)
    return True


def _rerender_failed(output: Output, message: str) -> None:
    output.rerender = {**output.rerender, "status": RERENDER_FAILED, "error": message}
    output.rerender_lease = output.rerender_heartbeat_at = None  # owed no more: it may be asked again


def fail_rerender(db: Database, job_id: str, number: int, message: str, *, holder: str) -> None:
    """The re-render `holder` runs failed: it says why, and may be asked for again."""
    with db.session() as session:
        output = _held_output(session, job_id, number, holder)
        if output is not None:
            _rerender_failed(output, message)


def reap_rerenders(db: Database, stale_after_s: float, max_attempts: int) -> list[tuple[str, int]]:
    """Re-renders whose run stopped beating (its worker died): back in the queue ((job id, output number)
    returned for the caller to enqueue), or failed with the reason after `max_attempts` runs."""
    now = utc_now()
    stale = (
        Output.rerender_lease.is_not(None),
        Output.rerender_heartbeat_at < now - timedelta(seconds=stale_after_s),
    )
    requeued, given_up = [], []
    with db.session() as session:
        for output in session.scalars(select(Output).where(*stale)).all():
            # conditional on the lease seen stale: a run that beat meanwhile keeps it
            held_by = Output.rerender_lease == output.rerender_lease
            if not _set_output(
                session, output.id, held_by, *stale, rerender_lease=None, rerender_heartbeat_at=now
            ):
                continue
            session.refresh(output)
            where = (output.job_id, output.job.outputs.index(output))
            if output.rerender_attempts >= max_attempts:
                tries = output.rerender_attempts
                _rerender_failed(
                    output, f"the worker stopped {tries} times while rendering it again; giving up"
                )
                given_up.append(where)
            else:
                output.rerender = {**output.rerender, "status": RERENDER_QUEUED, "progress": 0.0}
                requeued.append(where)
    for job_id, number in requeued:
        log.warning("job %s output %s: re-render heartbeat stale, requeued", job_id, number)
        db.log("WARNING", f"output {number}: the worker rendering it again stopped; requeued", job_id)
    for job_id, number in given_up:
        db.log("ERROR", f"output {number}: the worker rendering it again stopped too often; failed", job_id)
    return requeued


def sweep_queued_rerenders(
    db: Database, older_than_s: float, on_queue: Callable[[], set[tuple[str, int]]]
) -> list[tuple[str, int]]:
    """Queued re-renders that no queue message carries (`on_queue()`), put on the queue more than
    `older_than_s` ago (their message was lost, or never sent): claimed by one conditional write each and
    returned to be enqueued, as `sweep_queued` does for jobs."""
    waiting = (
        Output.rerender_lease.is_(None),
        Output.rerender_heartbeat_at < utc_now() - timedelta(seconds=older_than_s),
    )
    claimed = []
    with db.session() as session:
        candidates = session.scalars(select(Output).where(*waiting)).all()
        carried = on_queue() if candidates else set()
        for output in candidates:
            where = (output.job_id, output.job.outputs.index(output))
            if where not in carried and _set_output(
                session, output.id, *waiting, rerender_heartbeat_at=utc_now()
            ):
                claimed.append(where)
    for job_id, number in claimed:
        log.warning(
            "job %s output %s: re-render queued with no message on the queue; sent again", job_id, number
        )
    return claimed


def retry(db: Database, job_id: str, storage: MediaStorage) -> None:
    """Make a failed or cancelled job queued again, as new (the caller enqueues it)."""
    with db.session() as session:
        job = _get(session, job_id)
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise JobNotRetryableError(
                f"job {job.id} is {job.status}; only failed or cancelled jobs can be retried"
            )
        if job.source_kind != "url" and not storage.exists(job.source_path or ""):
            raise SourceGoneError("the uploaded file has expired; upload it again")
        job.status, job.stage, job.progress = JobStatus.QUEUED, None, 0.0
        job.error = job.error_code = None
        job.attempts, job.cancel_requested, job.heartbeat_at = 0, False, utc_now()
        job.lease_owner = job.started_at = job.finished_at = None
        job.outputs.clear()


def delete(db: Database, job_id: str, storage: MediaStorage) -> None:
    """Delete a finished job, its output files and its row."""
    with db.session() as session:
        job = _get(session, job_id)
        if job.status not in FINISHED:
            raise JobRunningError(f"job {job.id} is {job.status}; cancel it before deleting it")
        for output in job.outputs:
            for name in output.stored_names():
                storage.delete(storage.ref(OUTPUTS, name))
        session.delete(job)


def reap(db: Database, stale_after_s: float, max_attempts: int) -> list[str]:
    """Jobs whose worker stopped beating: requeued (ids returned for the caller to enqueue), failed after
    `max_attempts`, or cancelled if that was asked for."""
    now = utc_now()
    stale_before = now - timedelta(seconds=stale_after_s)
    requeued = []
    with db.session() as session:
        stale = session.scalars(
            select(Job).where(
                Job.status.in_(RUNNING), or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_before)
            )
        ).all()
        for job in stale:
            if job.cancel_requested:  # its worker died before it could honour the cancel
                job.status, job.stage, job.lease_owner, job.finished_at = JobStatus.CANCELLED, None, None, now
            elif job.attempts >= max_attempts:
                job.status, job.error_code = JobStatus.FAILED, "worker_lost"
                job.error = f"the worker stopped {job.attempts} times while running this job; giving up"
                job.finished_at, job.lease_owner = now, None
            else:
                job.status, job.stage, job.lease_owner = JobStatus.QUEUED, "requeued", None
                job.heartbeat_at = now
                requeued.append(job.id)
            if job.status in FINISHED:
                _ended(db, session, job)
    for job_id in requeued:
        log.warning("job %s: worker heartbeat stale, requeued", job_id)
        db.log("WARNING", "worker heartbeat stale; job requeued", job_id)
    return requeued
