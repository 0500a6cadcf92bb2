"""Retention and disk space: what the periodic task and `wtf-portal cleanup` run.

Everything a job owns (its upload, its outputs, its temp files, its log rows) lives as long as its job
row. Rows of finished jobs older than WTF_RETENTION_HOURS go, with their files; then each data folder is
swept for files that no remaining job refers to. A file of a job that is still queued, downloading or
rendering is never touched, whatever its age. A library item (portal.library) is kept as a job is, from
its last use; a pinned one is kept, and its renders with it, until it is unpinned or deleted.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session, selectinload

from portal.database import Job, LogEntry, Output, Source, Upload, utc_now
from portal.errors import PortalError
from portal.jobs.state import JobRunningError
from portal.jobs.status import ACTIVE, JobStatus
from portal.library.sources import last_activity
from portal.media.plan import names_job
from portal.storage.objects import (
    AREAS,
    OUTPUTS,
    MediaStorage,
    StorageError,
    is_stored_object,
    open_storage,
)

if TYPE_CHECKING:
    from portal.config import Settings

log = logging.getLogger(__name__)

# Temp files are scratch: nothing needs them once their job has ended. The grace only keeps the sweep
# away from an upload being received or a job that is just starting (both keep touching their files).
TEMP_GRACE = timedelta(hours=1)


class LowDiskError(PortalError):
    """Free space in the data folder is under WTF_MIN_FREE_DISK_MB; new jobs are refused."""

    code = "low_disk"
    status = 507


@dataclass
class CleanupReport:
    """What one cleanup pass removed (and kept because a job still needs it)."""

    cutoff: datetime
    files_removed: int = 0
    bytes_freed: int = 0
    jobs_removed: int = 0
    logs_removed: int = 0
    uploads_removed: int = 0
    sources_removed: int = 0
    kept_in_use: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cutoff"] = self.cutoff.isoformat()
        return data

    def summary(self) -> str:
        return (
            f"removed {self.files_removed} files ({self.bytes_freed / 1_048_576:.1f} MB), "
            f"{self.jobs_removed} jobs, {self.uploads_removed} uploads, "
            f"{self.sources_removed} library items, {self.logs_removed} log rows; "
            f"kept {self.kept_in_use} in use (older than {self.cutoff.isoformat(timespec='seconds')})"
        )


@dataclass(frozen=True)
class InUse:
    """Files that must survive a sweep: named by a job id, or at/under/above a listed path."""

    job_ids: frozenset[str] = frozenset()
    paths: frozenset[Path] = frozenset()
    objects: frozenset[str] = frozenset()  # refs of stored objects

    @classmethod
    def of(
        cls, job_ids: Iterable[str], paths: Iterable[Path | str | None], objects: Iterable[str] = ()
    ) -> InUse:
        resolved = {Path(p).resolve() for p in paths if p}
        return cls(frozenset(str(j) for j in job_ids), frozenset(resolved), frozenset(objects))

    def protects(self, entry: Path) -> bool:
        if any(_names_job(entry.name, job_id) or names_job(entry.name, job_id) for job_id in self.job_ids):
            return True
        where = entry.resolve()
        return any(where == p or where in p.parents or p in where.parents for p in self.paths)


def _names_job(name: str, job_id: str) -> bool:
    # Named by the whole id (`<id>`, `<id>.mp4`, `<id>_brand.mp4`, `.<id>.part`: a token, not any
    # substring); outputs and their temp files are named by the plan, which says so (`names_job`).
    stripped = name.lstrip(".")
    return stripped == job_id or (
        stripped.startswith(job_id) and stripped[len(job_id) : len(job_id) + 1] in ("_", ".", "-")
    )


def _newest_mtime_and_size(entry: Path) -> tuple[float, int]:
    """A folder is as young as its youngest file; symlinks are measured, never followed."""
    stat = entry.lstat()
    if not entry.is_dir() or entry.is_symlink():
        return stat.st_mtime, stat.st_size
    newest, total = stat.st_mtime, 0
    for root, dirs, files in os.walk(entry, followlinks=False):
        for name in dirs + files:
            try:
                info = os.lstat(os.path.join(root, name))
            except FileNotFoundError:
                continue
            newest = max(newest, info.st_mtime)
            if name in files:
                total += info.st_size
    return newest, total


def _count_files(entry: Path) -> int:
    if not entry.is_dir() or entry.is_symlink():
        return 1
    return sum(len(files) for _root, _dirs, files in os.walk(entry, followlinks=False))


def remove_path(path: Path, report: CleanupReport) -> None:
    """Delete a file or folder (links as links), counting what went; failures are reported, not raised."""
    try:
        _mtime, size = _newest_mtime_and_size(path)
        count = _count_files(path)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return
    except OSError as exc:
        report.errors.append(f"{path}: {exc.strerror or exc}")
        log.warning("cleanup could not remove %s: %s", path, exc)
        return
    report.files_removed += count
    report.bytes_freed += size


def sweep_folder(folder: Path, older_than: datetime, in_use: InUse, report: CleanupReport) -> None:
    """Remove each top-level entry of `folder` last changed before `older_than` and not in use."""
    if not folder.is_dir():
        return
    limit = older_than.timestamp()
    for entry in sorted(folder.iterdir()):
        try:
            newest, _size = _newest_mtime_and_size(entry)
        except FileNotFoundError:
            continue
        if newest >= limit:
            continue
        if in_use.protects(entry):
            report.kept_in_use += 1
            continue
        remove_path(entry, report)


def sweep_data_dir(settings: Settings, in_use: InUse, report: CleanupReport, now: datetime) -> None:
    """Uploads, outputs, downloads and logs after the retention cutoff; temp files after TEMP_GRACE."""
    for folder in (settings.uploads_dir, settings.outputs_dir, settings.downloads_dir, settings.logs_dir):
        sweep_folder(folder, report.cutoff, in_use, report)
    sweep_folder(settings.temp_dir, max(report.cutoff, now - TEMP_GRACE), in_use, report)


@dataclass(frozen=True)
class JobRecord:
    """What retention needs to know of one job row: its state, its age and the files it owns."""

    id: str
    status: str
    last_activity: datetime  # finished_at, else created_at
    paths: tuple[Path, ...] = ()  # its files on this machine's disk
    objects: tuple[str, ...] = ()  # its objects in object storage (refs)
    pinned: bool = False  # a pinned library item, or a render of one: kept whatever its age

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


def _inside(path: Path, folder: Path) -> bool:
    return folder.resolve() in path.resolve().parents


def expire_jobs(
    settings: Settings, jobs: Iterable[JobRecord], report: CleanupReport, storage: MediaStorage | None = None
) -> tuple[list[str], InUse]:
    """Delete the files of finished jobs older than the cutoff; return their ids and what must be kept.

    Kept: every file of an active job, whatever its age, and of a finished job younger than the cutoff
    (its row still offers them for download or retry). Only files inside the data folder, and objects
    of this portal's storage, are ever removed.
    """
    expired, kept = [], []
    for job in jobs:
        (kept if job.active or job.pinned or job.last_activity >= report.cutoff else expired).append(job)
    in_use = InUse.of(
        (job.id for job in kept), (path for job in kept for path in job.paths),
        (ref for job in kept for ref in job.objects),
    )  # fmt: skip
    for job in expired:
        for path in job.paths:
            if _inside(path, settings.data_dir) and not in_use.protects(path):
                remove_path(path, report)
        for ref in job.objects:
            if storage is not None and ref not in in_use.objects:
                remove_object(storage, ref, report)
    return [job.id for job in expired], in_use


def remove_object(storage: MediaStorage, ref: str, report: CleanupReport) -> None:
    """Delete one stored object, counting it; a store that fails is reported, not raised."""
    try:
        freed = storage.delete(ref)
    except StorageError as exc:
        report.errors.append(f"{ref}: {exc}")
        log.warning("cleanup could not remove %s: %s", ref, exc)
        return
    if freed:
        report.files_removed += 1
        report.bytes_freed += freed


def sweep_objects(storage: MediaStorage, in_use: InUse, report: CleanupReport, now: datetime) -> None:
    """Objects older than the cutoff that no remaining job refers to; part uploads a killed process left."""
    for area in AREAS:
        for stored in storage.list(area):
            if stored.modified >= report.cutoff:
                continue
            if stored.ref in in_use.objects:
                report.kept_in_use += 1
                continue
            remove_object(storage, stored.ref, report)
    storage.abort_stale_uploads(now - TEMP_GRACE)


def _existing_parent(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def disk_status(settings: Settings) -> dict[str, Any]:
    """Free space where the data folder lives, against WTF_MIN_FREE_DISK_MB."""
    where = _existing_parent(settings.data_dir)
    free_mb = shutil.disk_usage(where).free // 1_048_576
    return {
        "path": str(where),
        "free_mb": free_mb,
        "min_free_mb": settings.min_free_disk_mb,
        "ok": free_mb >= settings.min_free_disk_mb,
    }


def require_free_disk(settings: Settings) -> None:
    """Refuse new work up front rather than fail halfway through writing an upload or a render."""
    status = disk_status(settings)
    if not status["ok"]:
        raise LowDiskError(
            f"not enough free disk space: {status['free_mb']} MB free in {status['path']}, "
            f"WTF_MIN_FREE_DISK_MB={status['min_free_mb']}; free space or run `wtf-portal cleanup`"
        )


def _split_refs(refs: Iterable[str | None]) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """Files on this machine's disk, and objects in a bucket."""
    present = [ref for ref in refs if ref]
    return (
        tuple(Path(ref) for ref in present if not is_stored_object(ref)),
        tuple(ref for ref in present if is_stored_object(ref)),
    )


def _job_record(job: Job, storage: MediaStorage, pinned_sources: set[str]) -> JobRecord:
    refs = [storage.ref(OUTPUTS, name) for output in job.outputs for name in output.stored_names()]
    paths, objects = _split_refs([*refs, job.source_path])
    pinned = job.source_id in pinned_sources
    return JobRecord(job.id, job.status, job.finished_at or job.created_at, paths, objects, pinned)


def _source_record(source: Source) -> JobRecord:
    """A library item as retention sees it: active while a job of it is, kept while pinned."""
    paths, objects = _split_refs([source.path, source.cover])
    active = next((job.status for job in source.jobs if job.status in ACTIVE), JobStatus.COMPLETED)
    return JobRecord(source.id, active, last_activity(source), paths, objects, source.pinned)


def delete_source(session: Session, source: Source, storage: MediaStorage) -> None:
    """Delete a library item on request: its file, cover, renders (outputs and rows) and uploads."""
    running = [job.id for job in source.jobs if job.status in ACTIVE]
    if running:
        raise JobRunningError(f"job {running[0]} of this item is still running; cancel it first")
    refs = [source.path, source.cover]
    for job in source.jobs:
        refs += [storage.ref(OUTPUTS, name) for output in job.outputs for name in output.stored_names()]
        if job.source_path and job.source_kind != "url":  # a link's download cache is retention's to sweep
            refs.append(job.source_path)
    for ref in dict.fromkeys(ref for ref in refs if ref):
        storage.delete(ref)
    job_ids = [job.id for job in source.jobs]
    if job_ids:
        session.execute(delete(LogEntry).where(LogEntry.job_id.in_(job_ids)))
        session.execute(delete(Job).where(Job.id.in_(job_ids)))
    session.execute(delete(Upload).where(Upload.source_id == source.id))
    _forget_sources(session, [source.id])


def _forget_sources(session: Session, source_ids: list[str]) -> None:
    """Delete library items' rows (their fingerprint bands go with them); the jobs and uploads that stay
    no longer name them."""
    for table in (Job, Upload):
        session.execute(update(table).where(table.source_id.in_(source_ids)).values(source_id=None))
    session.execute(delete(Source).where(Source.id.in_(source_ids)))


def _still_stored(storage: MediaStorage, ref: str) -> bool:
    try:
        return storage.exists(ref) if is_stored_object(ref) else Path(ref).exists()
    except StorageError:
        return True  # unknown while the store is down: keep the row


def cleanup(
    settings: Settings,
    session: Session,
    now: datetime | None = None,
    *,
    older_than_hours: float | None = None,
    storage: MediaStorage | None = None,
) -> CleanupReport:
    """One retention pass: expired jobs with their files and log rows, stray files, orphaned uploads.

    Safe to run from several workers at once: rows go by bulk statements (no stale-row errors) and files
    that another pass removed first are skipped. With object storage the bucket is swept the same way
    (each process's data folder then holds only its own scratch files, swept as before).
    """
    now = now or utc_now()
    storage = storage or open_storage(settings)
    hours = settings.retention_hours if older_than_hours is None else older_than_hours
    report = CleanupReport(cutoff=now - timedelta(hours=hours))
    sources = session.scalars(select(Source).options(selectinload(Source.jobs))).all()
    pinned = {source.id for source in sources if source.pinned}
    jobs = session.scalars(select(Job).options(selectinload(Job.outputs))).all()
    records = [_job_record(job, storage, pinned) for job in jobs] + [_source_record(s) for s in sources]
    expired, in_use = expire_jobs(settings, records, report, storage)
    source_ids = {source.id for source in sources}
    expired_sources = [record_id for record_id in expired if record_id in source_ids]
    expired = [record_id for record_id in expired if record_id not in source_ids]
    sweep_data_dir(settings, in_use, report, now)
    if not storage.in_data_dir:
        try:
            sweep_objects(storage, in_use, report, now)
        except StorageError as exc:  # the store is down: the next pass sweeps it
            report.errors.append(str(exc))

    if expired:
        report.logs_removed += session.execute(delete(LogEntry).where(LogEntry.job_id.in_(expired))).rowcount
        session.execute(delete(Output).where(Output.job_id.in_(expired)))
        report.jobs_removed = session.execute(delete(Job).where(Job.id.in_(expired))).rowcount
    if expired_sources:
        _forget_sources(session, expired_sources)
        report.sources_removed = len(expired_sources)
    # Log rows live as long as their job; rows of no (remaining) job go after the cutoff.
    orphaned = or_(LogEntry.job_id.is_(None), LogEntry.job_id.not_in(select(Job.id)))
    report.logs_removed += session.execute(
        delete(LogEntry).where(LogEntry.time < report.cutoff, orphaned)
    ).rowcount
    # An upload whose file the sweep removed (or that vanished) is no longer offered; the grace keeps
    # away from one being written right now.
    settled = now - TEMP_GRACE
    for upload in session.scalars(select(Upload).where(Upload.created_at < settled)):
        if not _still_stored(storage, upload.path):
            session.delete(upload)
            report.uploads_removed += 1
    log.info("cleanup: %s", report.summary())
    return report
