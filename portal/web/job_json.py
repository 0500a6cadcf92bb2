"""How a job is described to HTTP clients: the API's JOB object (DESIGN 4.7) and an event stream's event."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from portal.database import Job
from portal.web.links import signed_download_url


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _error(job: Job) -> dict | None:
    return {"code": job.error_code, "message": job.error} if job.error else None


def describe_job(job: Job, output_url: Callable[[str], str] = signed_download_url) -> dict:
    """The JOB object of the API (DESIGN 4.7); `output_url` makes an output's link from its file name
    (the API's signs with the app's key; a worker describing a job for a webhook has no app)."""
    outputs = [
        {
            "brand": output.brand,
            "filename": output.filename,
            "url": output_url(output.filename),
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
        "webhook_url": job.webhook_url,
        "webhooks": [
            {
                "id": delivery.id,
                "event": delivery.event,
                "url": delivery.url,
                "status": delivery.status,
                "attempts": delivery.attempts,
                "last_status": delivery.last_status,
                "last_error": delivery.last_error,
                "next_try_at": iso(delivery.next_try_at),
                "delivered_at": iso(delivery.delivered_at),
            }
            for delivery in job.deliveries
        ],
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
