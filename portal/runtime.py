"""The container of a process: settings, database, queue, storage, brands, cookies, worker name; built once.

The web app keeps one in `app.extensions["runtime"]`; a worker builds one for its consumer. It registers
no tasks: `portal.jobs.tasks.register_tasks` does, so the queue's task code stays in one module.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import psycopg
import redis
from huey import Huey, PostgresHuey, RedisHuey, SqliteHuey

from portal.acquire.cookies import UploadedCookies
from portal.brands.store import open_brand_store
from portal.config import Settings
from portal.database import Database
from portal.errors import QueueUnavailableError
from portal.storage.objects import open_storage

if TYPE_CHECKING:
    from huey.api import TaskWrapper

# What each queue backend raises when its server is down or gone: the queue is unavailable, not broken.
QUEUE_ERRORS = (redis.RedisError, psycopg.Error, sqlite3.Error, OSError)
# Redis that does not answer fails a call instead of hanging it (the consumer's blocking read waits 1 s
# for a message, well inside the read timeout).
REDIS_CONNECT_TIMEOUT_S, REDIS_READ_TIMEOUT_S = 3, 10


def make_huey(settings: Settings) -> Huey:
    """SqliteHuey in the data folder by default; RedisHuey or PostgresHuey from WTF_QUEUE_URL."""
    url = settings.effective_queue_url
    if url.startswith(("redis://", "rediss://")):
        pool = redis.ConnectionPool.from_url(
            url, socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S, socket_timeout=REDIS_READ_TIMEOUT_S
        )
        return RedisHuey("wtf-portal", connection_pool=pool)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresHuey("wtf-portal", dsn=url)
    path = Path(urlparse(url).path) if url.startswith("sqlite:") else settings.data_dir / "queue.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey("wtf-portal", filename=str(path))


class Runtime:
    """Settings, database, queue, brands and media storage of this process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings)
        self.huey = make_huey(settings)
        self.storage = open_storage(settings)
        self.brands = open_brand_store(settings, self.storage)
        self.cookies = UploadedCookies(settings, self.storage, self.db)
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"
        # MiB the service's Python processes hold, measured when a consumer starts (portal.jobs.footprint);
        # the engine's memory budget counts it (0 until then: a web process alone renders nothing)
        self.service_mb = 0.0
        self.process_job: TaskWrapper | None = None  # set by portal.jobs.tasks.register_tasks
        self.rerender_output: TaskWrapper | None = None  # (job id, output number); set there too

    def enqueue(self, job_id: str, delay: float | None = None) -> None:
        """Put a job id on the queue (at once, or after `delay` seconds)."""
        if self.process_job is None:
            raise RuntimeError(
                "no tasks on this runtime: call portal.jobs.tasks.register_tasks(runtime) first"
            )
        try:
            if delay:
                self.process_job.schedule((job_id,), delay=delay)
            else:
                self.process_job(job_id)
        except QUEUE_ERRORS as exc:
            raise _unavailable(exc) from exc

    def enqueue_all(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self.enqueue(job_id)

    def queue_depth(self) -> int:
        try:
            return self.huey.pending_count()
        except QUEUE_ERRORS as exc:
            raise _unavailable(exc) from exc

    def enqueue_rerender(self, job_id: str, number: int) -> None:
        """Put a re-render of one output on the queue."""
        if self.rerender_output is None:
            raise RuntimeError(
                "no tasks on this runtime: call portal.jobs.tasks.register_tasks(runtime) first"
            )
        try:
            self.rerender_output(job_id, number)
        except QUEUE_ERRORS as exc:
            raise _unavailable(exc) from exc

    def _queued_tasks(self, name: str) -> list[tuple]:
        """The arguments of the messages of task `name` on the queue, now or scheduled for later."""
        try:
            tasks = [*self.huey.pending(), *self.huey.scheduled()]
        except QUEUE_ERRORS as exc:
            raise _unavailable(exc) from exc
        return [tuple(task.args) for task in tasks if task.name == name and task.args]

    def queued_job_ids(self) -> set[str]:
        """The job ids the queue holds a message for (the sweeper's view)."""
        return {str(args[0]) for args in self._queued_tasks("process_job")}

    def queued_rerenders(self) -> set[tuple[str, int]]:
        """The (job id, output number) of each re-render the queue holds a message for."""
        return {
            (str(args[0]), int(args[1])) for args in self._queued_tasks("rerender_output") if len(args) > 1
        }


def _unavailable(exc: Exception) -> QueueUnavailableError:
    text = str(exc).strip().splitlines()
    return QueueUnavailableError(f"the queue is unreachable: {text[0] if text else type(exc).__name__}")
