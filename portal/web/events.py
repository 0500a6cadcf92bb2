"""Server-Sent Events of a job's progress, until the job ends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from flask import Blueprint, Response, stream_with_context

from portal.database import Job
from portal.jobs import progress_event
from portal.web.auth import require_api_auth
from portal.web.errors import ApiError
from portal.web.runtime import runtime

bp = Blueprint("events", __name__, url_prefix="/api")
POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0


def _snapshot(job_id: str) -> dict | None:
    with runtime().db.session() as session:
        job = session.get(Job, job_id)
        return progress_event(job) if job else None


@bp.get("/jobs/<job_id>/events")
def job_events(job_id: str):
    """`data:` lines with status, stage and progress on change; a comment every 15 s keeps proxies open."""
    require_api_auth()
    first = _snapshot(job_id)
    if first is None:
        raise ApiError(404, "job_not_found", f"no job {job_id!r}")
    rt = runtime()

    def stream() -> Iterator[str]:
        last, last_sent = None, time.monotonic()
        state = first
        while state is not None:
            if state != last:
                yield f"data: {json.dumps(state)}\n\n"
                last, last_sent = state, time.monotonic()
                if state["status"] in ("completed", "failed", "cancelled"):
                    return
            elif time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
                yield ": heartbeat\n\n"
                last_sent = time.monotonic()
            time.sleep(POLL_SECONDS)
            with rt.db.session() as session:
                job = session.get(Job, job_id)
                state = progress_event(job) if job else None

    response = Response(stream_with_context(stream()), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response
