"""Library items (DESIGN 4.14): one row per video sent (a link reuses its row), what is known of it, its
stored file, cover and fingerprint; the warnings a submission of it gets; how it is shown.

Functions take a session or a `Database` and a `MediaStorage`; they know nothing of HTTP or the queue.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from portal.database import Database, Job, Output, Source, utc_now
from portal.errors import PortalError
from portal.library.fingerprints import from_column, index_fingerprint, near_sources
from portal.media.errors import EngineError
from portal.media.ffmpeg import usable_ffmpeg
from portal.media.fingerprint import cover_still, fingerprint_clip
from portal.storage.objects import UPLOADS, MediaStorage

log = logging.getLogger(__name__)
COMPLETED = "completed"  # portal.jobs.status.JobStatus.COMPLETED (the library stands below jobs)


class SourceNotFoundError(PortalError):
    code = "source_not_found"
    status = 404


def link_key(url: str) -> str:
    return hashlib.sha256(url.strip().encode()).hexdigest()


def known_link(session: Session, url: str) -> Source | None:
    """The library item of a link sent before, if any (nothing is made)."""
    return session.scalars(select(Source).where(Source.link_key == link_key(url)).limit(1)).first()


def source_for_link(session: Session, url: str) -> Source:
    """The library item of a link: the one it already has (the same link sent again), or a new one."""
    source = known_link(session, url)
    if source is None:
        source = Source(kind="url", link=url.strip(), link_key=link_key(url), pinned=False)
        session.add(source)
    source.used_at = utc_now()
    session.flush()
    return source


def source_for_upload(session: Session, filename: str, ref: str, duration: float | None) -> Source:
    """A new library item for an uploaded file, stored at `ref`."""
    source = Source(kind="upload", filename=filename, path=ref, duration=duration, pinned=False)
    session.add(source)
    session.flush()
    return source


def get_source(session: Session, source_id: str) -> Source:
    source = session.get(Source, source_id)
    if source is None:
        raise SourceNotFoundError(f"no library item {source_id!r} (deleted, expired or never made)")
    return source


def learn_from_download(session: Session, source_id: str, meta: dict) -> None:
    """What the site told about a link (yt-dlp's title, uploader, page, duration) goes on its item."""
    source = session.get(Source, source_id)
    if source is None:  # deleted while the job was downloading
        return
    source.title = meta.get("title") or source.title
    source.uploader = meta.get("uploader") or source.uploader
    source.original_url = meta.get("original_url") or source.original_url
    source.duration = meta.get("duration") or source.duration


def source_meta(source: Source) -> dict:
    """What a job made from the item knows of its source (the JOB object's `source`, post texts)."""
    meta = {"title": source.title, "uploader": source.uploader, "original_url": source.original_url,
            "duration": source.duration}  # fmt: skip
    return {key: value for key, value in meta.items() if value is not None}


def describe_picture(
    db: Database,
    storage: MediaStorage,
    source_id: str,
    local: Path,
    duration: float,
    ffmpeg_path: str | None,
    *,
    keep_file: bool = True,
) -> bool:
    """Fingerprint the item's picture, make its cover, and keep its file (a copy, unless it is stored
    already or `keep_file` is false): what lets a repost be recognised and "Brand again" run with no new
    download. False when the clip could not be fingerprinted: the item stays, without them (the job or
    the upload goes on; the engine says what is wrong with the file if it fails too)."""
    try:
        binary = usable_ffmpeg(ffmpeg_path)
        fingerprint = fingerprint_clip(local, duration, binary)
    except (EngineError, ValueError) as exc:
        log.warning("library item %s is kept without a fingerprint: %s", source_id, exc)
        return False
    with db.session() as session:
        source = session.get(Source, source_id)
        if source is None:
            return False
        needs_file = keep_file and (source.path is None or not storage.exists(source.path))
        needs_cover = source.cover is None or not storage.exists(source.cover)
    storage.settings.temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wtf-source-", dir=storage.settings.temp_dir) as work:
        cover = path = None
        if needs_cover:
            still = cover_still(local, duration, Path(work) / f"{source_id}.jpg", binary)
            cover = storage.store(still, UPLOADS)
        if needs_file:
            copy = Path(work) / f"{source_id}{local.suffix.lower() or '.mp4'}"
            try:
                os.link(local, copy)
            except OSError:
                shutil.copyfile(local, copy)
            path = storage.store(copy, UPLOADS)
    with db.session() as session:
        source = session.get(Source, source_id)
        if source is None:  # deleted meanwhile: what was just stored belongs to nobody
            for ref in (cover, path):
                if ref:
                    storage.delete(ref)
            return False
        source.cover = cover or source.cover
        source.path = path or source.path
        source.duration = source.duration or duration
        index_fingerprint(session, source, fingerprint)
    return True


def same_clip_sources(session: Session, source: Source) -> set[str]:
    """The item and every item whose picture is the same clip (another link, another upload)."""
    same = {source.id}
    if source.fingerprint is not None:
        same |= set(near_sources(session, from_column(source.fingerprint)))
    return same


def branded_before(
    session: Session, source_ids: set[str], window_days: float, exclude_jobs: Collection[str] = ()
) -> list[dict]:
    """`already_branded` warnings: each brand a render of these items completed for in the window."""
    since = utc_now() - timedelta(days=window_days)
    jobs = session.scalars(
        select(Job)
        .where(Job.source_id.in_(source_ids), Job.kind == "render", Job.status == COMPLETED,
               Job.finished_at >= since, Job.id.not_in(exclude_jobs))
        .order_by(Job.finished_at.desc())
    ).all()  # fmt: skip
    return [
        {"code": "already_branded", "brand": output.brand, "job_id": job.id, "at": _iso(job.finished_at)}
        for job in jobs
        for output in job.outputs
    ]


def warnings_for(
    session: Session, source_id: str | None, window_days: float, exclude_jobs: Collection[str] = ()
) -> list[dict]:
    """What a submission of this item is told: the brands its clip already went to, lately."""
    source = session.get(Source, source_id) if source_id else None
    if source is None:
        return []
    return branded_before(session, same_clip_sources(session, source), window_days, exclude_jobs)


def last_activity(source: Source) -> datetime:
    """When the item was last used: sent, branded again, or a render of it finished."""
    ends = [job.finished_at for job in source.jobs if job.finished_at is not None]
    return max([source.used_at, *ends])


def removal_at(source: Source, retention_hours: float) -> datetime | None:
    """When retention removes the item; None while it is pinned."""
    return None if source.pinned else last_activity(source) + timedelta(hours=retention_hours)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _describe_output(output: Output, output_url: Callable[[str], str]) -> dict:
    return {
        "brand": output.brand,
        "filename": output.filename,
        "url": output_url(output.filename),
        "width": output.width,
        "height": output.height,
        "post_text": output.post_text,
    }


def describe_source(
    source: Source,
    retention_hours: float,
    cover_url: Callable[[Source], str],
    output_url: Callable[[str], str],
) -> dict:
    """The SOURCE object of the API (docs/API.md); `output_url` signs an output's link (as the JOB's)."""
    return {
        "id": source.id,
        "kind": source.kind,
        "title": source.title or (Path(source.filename).stem if source.filename else None),
        "uploader": source.uploader,
        "link": source.link,
        "original_url": source.original_url,
        "filename": source.filename,
        "duration": source.duration,
        "cover_url": cover_url(source) if source.cover else None,
        "stored": source.path is not None,
        "fingerprinted": source.fingerprint is not None,
        "edits": source.edits,
        "transcript": {
            "origin": source.transcript["origin"],
            "cues": len(source.transcript["cues"]),
            "updated_at": source.transcript.get("updated_at"),
        }
        if source.transcript
        else None,
        "pinned": source.pinned,
        "created_at": _iso(source.created_at),
        "used_at": _iso(last_activity(source)),
        "removal_at": _iso(removal_at(source, retention_hours)),
        "renders": [
            {
                "job_id": job.id,
                "status": job.status,
                "brands": job.brands,
                "preset": job.preset,
                "created_at": _iso(job.created_at),
                "finished_at": _iso(job.finished_at),
                "outputs": [_describe_output(output, output_url) for output in job.outputs],
            }
            for job in reversed(source.jobs)
        ],
    }


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_query(
    text: str | None, since: datetime | None, until: datetime | None, after: tuple[datetime, str] | None
) -> Select:
    """Items newest first: every word of `text` in the title, uploader, link or file name; sent in
    [since, until); after a (created_at, id) cursor."""
    query = select(Source).order_by(Source.created_at.desc(), Source.id.desc())
    for word in (text or "").split():
        pattern = _like(word)
        query = query.where(
            or_(*(column.ilike(pattern, escape="\\")
                  for column in (Source.title, Source.uploader, Source.link, Source.original_url,
                                 Source.filename)))
        )  # fmt: skip
    if since is not None:
        query = query.where(Source.created_at >= since)
    if until is not None:
        query = query.where(Source.created_at < until)
    if after is not None:
        created, source_id = after
        query = query.where(
            or_(Source.created_at < created, and_(Source.created_at == created, Source.id < source_id))
        )
    return query
