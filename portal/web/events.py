"""Server-Sent Events of jobs' progress: one job (`/api/jobs/<id>/events`) or many on one stream
(`/api/events?jobs=a,b,c`, the dashboard's), until every job followed has ended.

One poller per web process (the EventHub) reads every followed job in one query twice a second and hands
each stream only what changed; a waiting stream is a greenlet blocked on an Event (under the gevent
worker), not a thread and not a query of its own. A stream checks its client's socket every second, so
one whose client left ends within a second instead of at the next write.
"""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import select as sql_select

from portal.database import Database, Job
from portal.jobs.answer import progress_event
from portal.jobs.status import FINISHED
from portal.web.auth import require_api_auth
from portal.web.errors import ApiError
from portal.web.openapi import Content, documented
from portal.web.runtime import runtime
from portal.web.schemas import JobStreamQuery

log = logging.getLogger(__name__)
bp = Blueprint("events", __name__, url_prefix="/api")
POLL_SECONDS = 0.5
HEARTBEAT_SECONDS = 15.0  # a comment line this often keeps proxies from closing a quiet stream
CLIENT_CHECK_SECONDS = 1.0
MAX_JOBS_PER_STREAM = 100


class Subscription:
    """What one stream follows, the last state it was sent of each job, and what changed since."""

    def __init__(self, first: dict[str, dict]) -> None:
        self.last: dict[str, dict | None] = dict(first)
        self.changed: dict[str, dict | None] = {}
        self.wake = threading.Event()
        self._lock = threading.Lock()

    def offer(self, states: dict[str, dict]) -> None:
        with self._lock:
            for job_id, previous in self.last.items():
                state = states.get(job_id)  # None: the job was deleted
                if state != previous:
                    self.last[job_id] = self.changed[job_id] = state
            if self.changed:
                self.wake.set()

    def take(self) -> dict[str, dict | None]:
        with self._lock:
            changed, self.changed = self.changed, {}
            self.wake.clear()
            return changed


class EventHub:
    """One poller for all of a process's streams; it runs only while some stream is open."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._subscriptions: set[Subscription] = set()
        self._lock = threading.Lock()
        self._poller: threading.Thread | None = None

    def snapshot(self, job_ids: list[str]) -> dict[str, dict]:
        with self.db.session() as session:
            jobs = session.scalars(sql_select(Job).where(Job.id.in_(job_ids))).all()
            return {job.id: progress_event(job) for job in jobs}

    def subscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.add(subscription)
            if self._poller is None:
                self._poller = threading.Thread(target=self._poll, name="event-hub", daemon=True)
                self._poller.start()

    @property
    def open_streams(self) -> int:
        return len(self._subscriptions)

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscriptions.discard(subscription)

    def _poll(self) -> None:
        while True:
            time.sleep(POLL_SECONDS)
            with self._lock:
                subscriptions = list(self._subscriptions)
                if not subscriptions:
                    self._poller = None
                    return
            followed = sorted({job_id for sub in subscriptions for job_id in sub.last})
            try:
                states = self.snapshot(followed)
            except Exception:  # a database hiccup: the streams wait for the next round
                log.warning("event hub: reading the jobs' states failed; retrying", exc_info=True)
                continue
            for subscription in subscriptions:
                subscription.offer(states)


def event_hub() -> EventHub:
    """This process's hub (streams and v3's waiting process_brands/fetch share it)."""
    hub = current_app.extensions.get("event_hub")
    if hub is None:
        hub = current_app.extensions.setdefault("event_hub", EventHub(runtime().db))
    return hub


def open_streams(app: Flask) -> int:
    """Streams of this process waiting for changes (the /metrics gauge wtf_event_streams)."""
    hub = app.extensions.get("event_hub")
    return hub.open_streams if hub else 0


def _client_gone(sock: socket.socket | None) -> bool:
    """The client closed its end (or reset it): readable with nothing to read. Without the socket
    (not under gunicorn) the next write finds out instead."""
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and not sock.recv(1, socket.MSG_PEEK)
    except (OSError, ValueError):
        return True


def _event(state: dict) -> str:
    return f"data: {json.dumps(state)}\n\n"


def _stream(hub: EventHub, first: dict[str, dict], order: list[str]) -> Iterator[str]:
    subscription = Subscription(first)
    sock = request.environ.get("gunicorn.socket")
    open_jobs = {job_id for job_id, state in first.items() if state["status"] not in FINISHED}

    def generate() -> Iterator[str]:
        for job_id in order:
            yield _event(first[job_id])
        if not open_jobs:
            return
        hub.subscribe(subscription)
        try:
            last_sent = time.monotonic()
            while open_jobs:
                subscription.wake.wait(CLIENT_CHECK_SECONDS)
                if _client_gone(sock):
                    return
                for job_id, state in subscription.take().items():
                    if state is None:
                        yield f"event: deleted\ndata: {json.dumps({'id': job_id})}\n\n"
                        open_jobs.discard(job_id)
                        continue
                    yield _event(state)
                    if state["status"] in FINISHED:
                        open_jobs.discard(job_id)
                    last_sent = time.monotonic()
                if time.monotonic() - last_sent >= HEARTBEAT_SECONDS:
                    yield ": heartbeat\n\n"
                    last_sent = time.monotonic()
        finally:
            hub.unsubscribe(subscription)

    return generate()


def _response(job_ids: list[str]) -> Response:
    hub = event_hub()
    first = hub.snapshot(job_ids)
    missing = [job_id for job_id in job_ids if job_id not in first]
    if missing:
        raise ApiError(404, "job_not_found", f"no job {', '.join(map(repr, missing[:5]))}")
    response = Response(_stream(hub, first, job_ids), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response


@bp.get("/jobs/<job_id>/events")
@documented(
    {
        200: Content(
            "text/event-stream", "`data:` lines: JSON of id, status, stage, progress", {"type": "string"}
        )
    },
    errors={404: "no such job"},
    tag="jobs",
)
def job_events(job_id: str):
    """`data:` lines with id, status, stage, progress and error on change; a comment every 15 s."""
    require_api_auth()
    return _response([job_id])


@bp.get("/events")
@documented(
    {
        200: Content(
            "text/event-stream", "`data:` lines: JSON of id, status, stage, progress", {"type": "string"}
        )
    },
    query=JobStreamQuery,
    errors={400: "no jobs named, or more than 100"},
    tag="jobs",
)
def many_job_events():
    """One stream for many jobs (`?jobs=a,b,c`, at most 100): the same events, each naming its job
    (`id`), an `event: deleted` when a followed job is deleted; it ends when all have ended."""
    require_api_auth()
    job_ids = list(
        dict.fromkeys(part.strip() for part in request.args.get("jobs", "").split(",") if part.strip())
    )
    if not job_ids:
        raise ApiError(400, "missing_jobs", "name the jobs to follow: /api/events?jobs=ID,ID,...")
    if len(job_ids) > MAX_JOBS_PER_STREAM:
        raise ApiError(400, "too_many_jobs", f"one stream follows at most {MAX_JOBS_PER_STREAM} jobs")
    return _response(job_ids)
