"""Job rows as the API and the worker see them: create, describe, cancel, retry, delete.

Shared by the HTTP API and the worker so both speak of a job the same way (DESIGN 4.7's JOB object).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from pathlib import Path

from portal.brand_loader import BrandConfig, BrandConfigError, load_brand_config
from portal.config import Settings
from portal.database import FINISHED_STATUSES, Job, Output
from portal.web.links import signed_download_url


class JobStateError(Exception):
    """The job is in a state that does not allow this (e.g. deleting a running job)."""


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def describe_job(job: Job, *, external_urls: bool = False) -> dict:
    """The JOB object of the API (DESIGN 4.7)."""
    outputs = [
        {
            "brand": output.brand,
            "filename": output.filename,
            "url": signed_download_url(output.filename, external=external_urls),
            "size_bytes": output.size_bytes,
            "width": output.width,
            "height": output.height,
            "duration": output.duration,
            "loudness": output.loudness,
        }
        for output in job.outputs
    ]
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "stage": job.stage,
        "progress": round(job.progress, 1),
        "error": {"code": job.error_code, "message": job.error} if job.error else None,
        "source": {"kind": job.source_kind, "name": job.source_name, **(job.source_meta or {})},
        "brands": job.brands,
        "preset": job.preset,
        "fit": job.fit,
        "attempts": job.attempts,
        "outputs": outputs,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


def progress_event(job: Job) -> dict:
    """What an event stream sends: enough to draw a progress bar and know when to stop."""
    return {
        "id": job.id,
        "status": job.status,
        "stage": job.stage,
        "progress": round(job.progress, 1),
        "error": {"code": job.error_code, "message": job.error} if job.error else None,
    }


def output_paths(job: Job, settings: Settings) -> list[Path]:
    return [settings.outputs_dir / output.filename for output in job.outputs]


def delete_job_files(job: Job, settings: Settings) -> None:
    for path in output_paths(job, settings):
        path.unlink(missing_ok=True)


def reset_for_retry(job: Job) -> None:
    if job.status not in ("failed", "cancelled"):
        raise JobStateError(f"job {job.id} is {job.status}; only failed or cancelled jobs can be retried")
    job.status, job.stage, job.progress = "queued", None, 0.0
    job.error = job.error_code = None
    job.attempts, job.cancel_requested = 0, False
    job.lease_owner = job.heartbeat_at = job.started_at = job.finished_at = None
    job.outputs.clear()


def check_deletable(job: Job) -> None:
    if job.status not in FINISHED_STATUSES:
        raise JobStateError(f"job {job.id} is {job.status}; cancel it before deleting it")


def record_outputs(job: Job, rendered: list, settings: Settings) -> None:
    job.outputs.clear()
    for item in rendered:
        job.outputs.append(
            Output(
                brand=item.brand,
                filename=Path(item.path).name,
                size_bytes=item.size_bytes,
                width=item.width,
                height=item.height,
                duration=item.duration,
                loudness=item.loudness.as_dict() if getattr(item, "loudness", None) else None,
            )
        )


class BrandRegistry:
    """brand_config.json, re-read when the file changes, so edits take effect without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._config: BrandConfig | None = None
        self._checked = 0.0

    def invalidate(self) -> None:
        """Forget the cached config: this process just wrote the file and must not serve the old one."""
        with self._lock:
            self._config = None

    def current(self) -> BrandConfig:
        """The config as the file is now; raises BrandConfigError if it is missing or invalid."""
        with self._lock:
            now = time.monotonic()
            if self._config is not None and now - self._checked < 1.0:
                return self._config
            self._checked = now
            try:
                stat = os.stat(self.path)
            except FileNotFoundError:
                raise BrandConfigError(f"{self.path}: brand config not found") from None
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp or self._config is None:
                self._config = load_brand_config(self.path)
                self._stamp = stamp
            return self._config
