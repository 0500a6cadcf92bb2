"""A job that cannot go on before a given time (its site is paused) waits in `queued`, its stage saying why
and until when, without spending an attempt; on SQLite and on PostgreSQL (whose column is bounded)."""

from __future__ import annotations

from pathlib import Path

from portal.config import load_settings
from portal.database import Database, Job
from portal.jobs import state
from portal.jobs.status import JobStatus
from tests.jobs.conftest import link_job

STAGE = (
    "waiting: www.some-long-site-name.example paused after 5 failures in a row (access_denied); "
    "waiting until 12:34:56 UTC"
)


def check_wait(db: Database) -> None:
    job_id = link_job(db)
    assert state.lease(db, job_id, "worker-a")
    assert state.wait_in_queue(db, job_id, STAGE, holder="worker-a")
    with db.session() as session:
        job = session.get(Job, job_id)
        assert (job.status, job.stage, job.attempts, job.lease_owner) == (JobStatus.QUEUED, STAGE, 0, None)
    assert not state.wait_in_queue(db, job_id, STAGE, holder="worker-a")  # no longer holds it
    state.cancel(db, job_id)  # a waiting job is queued: a cancel ends it at once
    with db.session() as session:
        assert session.get(Job, job_id).status == JobStatus.CANCELLED


def test_a_waiting_job_is_queued_with_its_reason_and_keeps_its_attempts(db: Database) -> None:
    check_wait(db)


def test_the_reason_fits_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    database = Database(load_settings(data_dir=tmp_path, database_url=f"{postgres_url}/postgres"))
    database.upgrade()
    check_wait(database)
