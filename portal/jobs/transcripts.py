"""Where a job's transcript is kept (DESIGN 4.13): one row per job's source, read by every render of it.

Every write goes through `save_transcript`, which checks the cues against the clip's length, so a
transcript in the database is always one the renderer can burn in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.brand_loader import Brand
from portal.database import Database, Job, Transcript, Upload
from portal.errors import PortalError
from portal.media.binary import locate_ffmpeg
from portal.media.recognize import recognize
from portal.media.transcript import Cue, checked_cues, cues_from_json, parse_subtitles
from portal.runtime import Runtime
from portal.storage.objects import StoredFileMissingError

AUTO = "auto"  # a job's `captions`: recognize the clip's speech


class ClipLengthUnknownError(PortalError):
    """A link not yet downloaded: its length, which cues are checked against, is not known yet."""

    code = "clip_length_unknown"
    status = 409


def _job(session: Session, job_id: str) -> Job:
    from portal.jobs.state import JobNotFoundError

    job = session.get(Job, job_id)
    if job is None:
        raise JobNotFoundError(f"no job {job_id!r}")
    return job


def clip_duration(session: Session, job: Job) -> float | None:
    """The length in seconds of the job's source: a downloaded link's or an upload's probe, else None."""
    known = (job.source_meta or {}).get("duration")
    if known is None and job.source_kind == "upload":
        upload = session.scalars(select(Upload).where(Upload.path == job.source_path)).first()
        known = (upload.media or {}).get("duration") if upload is not None else None
    return float(known) if known is not None else None


def load_transcript(db: Database, job_id: str) -> tuple[list[Cue], str] | None:
    """The job's cues and where they came from (file, edit, recognition), or None without a transcript."""
    with db.session() as session:
        _job(session, job_id)
        row = session.get(Transcript, job_id)
        return (cues_from_json(row.cues), row.origin) if row is not None else None


def save_transcript(db: Database, job_id: str, cues: list[Cue], origin: str) -> list[Cue]:
    """Check the cues against the clip and store them as the job's one transcript (replacing any)."""
    with db.session() as session:
        job = _job(session, job_id)
        duration = clip_duration(session, job)
        if duration is None:
            raise ClipLengthUnknownError(
                f"job {job_id}: its link is not downloaded yet, so its length is unknown; try again later"
            )
        cues = checked_cues(cues, duration)
        session.merge(Transcript(job_id=job_id, cues=[cue.as_dict() for cue in cues], origin=origin))
    return cues


def transcript_for_render(
    runtime: Runtime,
    job_id: str,
    scratch: Path,
    source: Path,
    brands: Sequence[Brand],
    on_progress: Callable[[str, float], None],
    cancel: threading.Event,
) -> list[Cue]:
    """The cues a render of the job burns in: its stored transcript (an edit wins over everything), else
    what the submission asked for, made now and stored so later edits start from it: the clip's speech
    recognized ("auto", spelled as the brands' glossaries say), or the SRT/WebVTT file it named (checked
    now: a link's length is known once it is here). None if the job asked for no captions."""
    found = load_transcript(runtime.db, job_id)
    if found is not None:
        return found[0]
    with runtime.db.session() as session:
        wanted = session.get(Job, job_id).captions
        upload = session.get(Upload, wanted) if wanted and wanted != AUTO else None
        ref = upload.path if upload is not None else None
    if wanted == AUTO:
        options = runtime.settings.engine_options()
        cues = recognize(
            locate_ffmpeg(options.ffmpeg_path), source, engine=runtime.settings.captions_engine,
            glossary=[word for brand in brands for word in brand.glossary],
            on_fraction=lambda fraction: on_progress("recognizing", fraction * 100), cancel=cancel,
            timeout=options.timeout_s,
        )  # fmt: skip
        return save_transcript(runtime.db, job_id, cues, "recognition") if cues else []
    if ref is None:
        return []
    try:
        text = runtime.storage.local_copy(ref, scratch).read_text(encoding="utf-8-sig")
    except StoredFileMissingError:
        raise CaptionsFileMissingError(f"job {job_id}: its captions file is gone; upload it again") from None
    return save_transcript(runtime.db, job_id, parse_subtitles(text), "file")


class CaptionsFileMissingError(PortalError):
    code = "captions_missing"
    status = 409
