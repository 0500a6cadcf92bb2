"""How a job is described to HTTP clients: the API's JOB object (DESIGN 4.7) and an event stream's event."""

from __future__ import annotations

from datetime import datetime

from portal.database import Job
from portal.web.links import signed_download_url


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _error(job: Job) -> dict | None:
    return {"code": job.error_code, "message": job.error} if job.error else None


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
            "placements": output.placements or [],  # where each overlay at position "auto" went, and why
        }
        for output in job.outputs
    ]
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "stage": job.stage,
        "progress": round(job.progress, 1),
        "error": _error(job),
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
        "error": _error(job),
    }
