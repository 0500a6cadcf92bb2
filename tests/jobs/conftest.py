from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from portal.config import load_settings
from portal.database import Database
from portal.jobs.state import NewJob, submit


@pytest.fixture
def db(tmp_path: Path) -> Database:
    """A real database (SQLite in a temp folder), migrated as the service migrates it."""
    database = Database(load_settings(data_dir=tmp_path / "data"))
    database.upgrade()
    return database


def link_job(db: Database, url: str = "https://example.com/v.mp4") -> str:
    [job_id] = submit(db, [NewJob("render", "url", url, None, ["watchthefall"], "source")])
    return job_id


@dataclass
class DownSite:
    """A loopback site that answers every request 503 (a transient failure), counting them."""

    url: str = ""
    hits: int = 0
    seen: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def down_site() -> Iterator[DownSite]:
    site = DownSite()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            site.hits += 1
            site.seen.set()
            self.send_error(503)

        do_HEAD = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.url = f"http://127.0.0.1:{server.server_address[1]}/clip.mp4"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield site
    server.shutdown()
