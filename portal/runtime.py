"""The container of a process: settings, database, queue, storage, brands, cookies, worker name; built once.

The web app keeps one in `app.extensions["runtime"]`; a worker builds one for its consumer. It registers
no tasks: `portal.jobs.tasks.register_tasks` does, so the queue's task code stays in one module.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from huey import Huey, PostgresHuey, RedisHuey, SqliteHuey

from portal.acquire.cookies import UploadedCookies
from portal.brands.store import open_brand_store
from portal.config import Settings
from portal.database import Database
from portal.storage.objects import open_storage

if TYPE_CHECKING:
    from huey.api import TaskWrapper


def make_huey(settings: Settings) -> Huey:
    """SqliteHuey in the data folder by default; RedisHuey or PostgresHuey from WTF_QUEUE_URL."""
    url = settings.effective_queue_url
    if url.startswith(("redis://", "rediss://")):
        return RedisHuey("wtf-portal", url=url)
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

    def enqueue(self, job_id: str, delay: float | None = None) -> None:
        """Put a job id on the queue (at once, or after `delay` seconds)."""
        if self.process_job is None:
            raise RuntimeError(
                "no tasks on this runtime: call portal.jobs.tasks.register_tasks(runtime) first"
            )
        if delay:
            self.process_job.schedule((job_id,), delay=delay)
        else:
            self.process_job(job_id)

    def enqueue_all(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            self.enqueue(job_id)

    def queue_depth(self) -> int:
        return self.huey.pending_count()
