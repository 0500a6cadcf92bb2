"""Cancel reaches a job wherever it is (issue 10.4): in a download's retries, in the watcher, in the queue."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from sqlalchemy import event

from portal.acquire.downloader import DownloadCancelledError, DownloadOptions, download
from portal.config import load_settings
from portal.database import Job
from portal.jobs import state, tasks
from portal.jobs.status import JobStatus
from portal.jobs.tasks import register_tasks
from portal.runtime import Runtime
from tests.conftest import REPO
from tests.jobs.conftest import DownSite, link_job


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    settings = load_settings(
        data_dir=tmp_path / "data", brand_config=REPO / "brand_config.json", allow_private_urls=True
    )
    settings.ensure_dirs()
    rt = register_tasks(Runtime(settings))
    rt.db.upgrade()
    return rt


def test_cancel_stops_a_download_between_its_retries(down_site: DownSite, tmp_path: Path) -> None:
    cancel = threading.Event()
    options = DownloadOptions(cache_dir=tmp_path, allow_private_urls=True, retries=3)
    threading.Thread(target=lambda: down_site.seen.wait(30) and cancel.set(), daemon=True).start()
    with pytest.raises(DownloadCancelledError):
        download(down_site.url, options, cancel=cancel)  # without the cancel: NetworkError after 3 tries


def test_cancel_during_download_ends_cancelled_and_is_not_requeued(
    runtime: Runtime, down_site: DownSite
) -> None:
    job_id = link_job(runtime.db, down_site.url)
    worker = threading.Thread(target=tasks.process_job, args=(runtime, job_id))
    worker.start()
    assert down_site.seen.wait(30)
    state.cancel(runtime.db, job_id)
    worker.join(60)
    assert not worker.is_alive()
    with runtime.db.session() as session:
        job = session.get(Job, job_id)
        assert (job.status, job.stage, job.lease_owner) == (JobStatus.CANCELLED, None, None)
    # only the submission's own message (never run by a consumer here); no retry was scheduled
    assert runtime.huey.scheduled_count() == 0


def test_watcher_sees_cancel_at_its_next_tick_and_never_writes_an_empty_update(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a download makes no progress the watcher has nothing to write; it must still look at the flag."""
    monkeypatch.setattr(tasks, "HEARTBEAT_SECONDS", 3600.0)  # after the first beat, no beat is due
    statements: list[str] = []
    event.listen(runtime.db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    job_id = link_job(runtime.db)
    run = tasks._JobRun(runtime, job_id)
    state.lease(runtime.db, job_id, run.holder)
    watcher = threading.Thread(target=run._watch, daemon=True)
    watcher.start()
    try:
        while not any(s.startswith("SELECT jobs.cancel_requested") for s in statements[1:]):
            assert watcher.is_alive()
            run.done.wait(0.1)
        state.cancel(runtime.db, job_id)
        assert run.cancel.wait(30)
    finally:
        run.done.set()
        watcher.join(5)
    updates = [s for s in statements if s.startswith("UPDATE jobs")]
    assert updates and not [s for s in updates if re.match(r"UPDATE jobs SET\s+WHERE", s)]
