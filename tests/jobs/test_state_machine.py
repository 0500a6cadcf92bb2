"""The job state machine against a real database: every transition, and the ones it refuses."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from portal.acquire.downloader import NetworkError, VideoUnavailableError
from portal.database import Database, Job, LogEntry, Output, utc_now
from portal.jobs import state
from portal.jobs.state import NewJob
from portal.jobs.status import JobStatus
from portal.storage.objects import open_storage
from portal.video_processor import RenderedOutput
from tests.jobs.conftest import link_job


def row(db: Database, job_id: str) -> Job:
    with db.session() as session:
        return session.get(Job, job_id)


def test_submit_lease_progress_finish(db: Database, tmp_path: Path) -> None:
    job_id = link_job(db)
    assert row(db, job_id).status == JobStatus.QUEUED
    assert state.lease(db, job_id, "w1") and not state.lease(db, job_id, "w2")  # one worker at a time
    leased = row(db, job_id)
    assert (leased.status, leased.stage, leased.attempts, leased.lease_owner) == (
        "downloading",
        "starting",
        1,
        "w1",
    )

    assert state.progress(db, job_id, "downloading", 12.5, holder="w1") is False
    assert state.progress(db, job_id, "rendering", 40.0, holder="w1") is False
    assert (row(db, job_id).status, row(db, job_id).stage) == ("rendering", "rendering")
    # a stage the state machine does not know is a stage, never a status
    state.progress(db, job_id, "uploading to storage", 90.0, holder="w1")
    assert (row(db, job_id).status, row(db, job_id).stage) == ("rendering", "uploading to storage")

    assert state.finish(
        db, job_id, [RenderedOutput("watchthefall", tmp_path / "a_b.mp4", 2, 2, 1.0, 10)], holder="w1"
    )
    with db.session() as session:
        done = session.get(Job, job_id)
        assert (done.status, done.stage, done.progress, done.lease_owner) == (
            "completed",
            "done",
            100.0,
            None,
        )
        assert [output.filename for output in done.outputs] == ["a_b.mp4"]
    # a write after the end changes nothing and tells the run to stop
    assert state.progress(db, job_id, "rendering", 5.0, holder="w1") and row(db, job_id).status == "completed"


def test_upload_jobs_start_rendering(db: Database) -> None:
    [job_id] = state.submit(db, [NewJob("render", "upload", "clip.mp4", "/x/clip.mp4", ["a"], "square")])
    assert state.lease(db, job_id, "w") and row(db, job_id).status == JobStatus.RENDERING


def test_transient_failure_requeues_until_attempts_run_out(db: Database) -> None:
    job_id = link_job(db)
    state.lease(db, job_id, "w")
    assert state.fail(db, job_id, NetworkError("site down"), max_attempts=2, holder="w") is True
    waiting = row(db, job_id)
    assert (waiting.status, waiting.stage, waiting.error_code) == (
        "queued",
        "waiting to retry",
        "network_error",
    )
    state.lease(db, job_id, "w")
    assert state.fail(db, job_id, NetworkError("site down"), max_attempts=2, holder="w") is False
    assert (row(db, job_id).status, row(db, job_id).error) == ("failed", "site down")


def test_permanent_failure_and_a_bug_both_end_failed_with_a_message(db: Database) -> None:
    first, second = link_job(db), link_job(db)
    for job_id in (first, second):
        state.lease(db, job_id, "w")
    assert (
        state.fail(db, first, VideoUnavailableError("gone\nmore detail"), max_attempts=3, holder="w") is False
    )
    assert state.fail(db, second, KeyError("boom"), max_attempts=3, holder="w") is False
    assert (row(db, first).error_code, row(db, first).error) == ("video_unavailable", "gone")
    assert (row(db, second).status, row(db, second).error_code) == ("failed", "internal_error")


def test_cancel_queued_at_once_running_by_flag_finished_refused(db: Database) -> None:
    queued, running = link_job(db), link_job(db)
    state.cancel(db, queued)
    assert row(db, queued).status == JobStatus.CANCELLED and not state.lease(db, queued, "w")
    state.lease(db, running, "w")
    state.cancel(db, running)
    assert row(db, running).status == JobStatus.DOWNLOADING and state.cancel_requested(db, running)
    assert state.progress(db, running, "downloading", 50.0, holder="w")  # it learns at its next write
    state.stop_cancelled(db, running, holder="w")
    assert row(db, running).status == JobStatus.CANCELLED
    with pytest.raises(state.JobFinishedError):
        state.cancel(db, running)
    with pytest.raises(state.JobNotFoundError):
        state.cancel(db, "nope")


def test_a_cancel_requested_job_never_goes_back_to_the_queue(db: Database) -> None:
    """Issue 10.4: a transient failure after a cancel request ends `cancelled`, not `queued`."""
    job_id = link_job(db)
    state.lease(db, job_id, "w")
    state.cancel(db, job_id)
    assert state.fail(db, job_id, NetworkError("site down"), max_attempts=3, holder="w") is False
    assert row(db, job_id).status == JobStatus.CANCELLED
    state.delete(db, job_id, open_storage(db.settings))  # finished, so it can go


def test_a_queued_job_flagged_for_cancel_ends_when_a_worker_picks_it_up(db: Database) -> None:
    """A cancel that lands between a requeue's read and write leaves `queued` + flag: the lease ends it."""
    job_id = link_job(db)
    with db.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
    assert state.lease(db, job_id, "w") is False
    assert row(db, job_id).status == JobStatus.CANCELLED


def test_retry_and_delete_rules(db: Database, tmp_path: Path) -> None:
    storage = open_storage(db.settings)  # the data folder
    job_id = link_job(db)
    with pytest.raises(state.JobNotRetryableError):
        state.retry(db, job_id, storage)
    with pytest.raises(state.JobRunningError):
        state.delete(db, job_id, storage)
    state.cancel(db, job_id)
    state.retry(db, job_id, storage)
    again = row(db, job_id)
    assert (again.status, again.attempts, again.cancel_requested, again.finished_at) == (
        "queued",
        0,
        False,
        None,
    )

    [upload_job] = state.submit(
        db, [NewJob("render", "upload", "c.mp4", str(tmp_path / "gone.mp4"), ["a"], "source")]
    )
    state.cancel(db, upload_job)
    with pytest.raises(state.SourceGoneError):
        state.retry(db, upload_job, storage)
    assert row(db, upload_job).status == JobStatus.CANCELLED  # the refused retry changed nothing


def test_reap_requeues_fails_or_cancels_stale_jobs(db: Database) -> None:
    requeue, give_up, cancelled, fresh = (link_job(db) for _ in range(4))
    for job_id in (requeue, give_up, cancelled, fresh):
        state.lease(db, job_id, "dead-worker")
    stale = utc_now() - timedelta(minutes=5)
    with db.session() as session:
        session.execute(update(Job).where(Job.id != fresh).values(heartbeat_at=stale))
        session.execute(update(Job).where(Job.id == give_up).values(attempts=3))
        session.execute(update(Job).where(Job.id == cancelled).values(cancel_requested=True))
    assert state.reap(db, stale_after_s=30, max_attempts=3) == [requeue]
    assert (row(db, requeue).status, row(db, requeue).stage) == ("queued", "requeued")
    assert (row(db, give_up).status, row(db, give_up).error_code) == ("failed", "worker_lost")
    assert row(db, cancelled).status == JobStatus.CANCELLED
    assert row(db, fresh).status == JobStatus.DOWNLOADING
    with db.session() as session:
        logged = session.query(LogEntry).filter(LogEntry.job_id == requeue).count()
    assert logged == 1


def test_a_worker_that_lost_its_lease_cannot_end_the_job(db: Database, tmp_path: Path) -> None:
    """A worker the reaper gave up on comes back late: the job is another worker's now (or already ended),
    so its result, failure or cancel is dropped and the job ends exactly once (one webhook, one record)."""
    job_id = link_job(db)
    state.lease(db, job_id, "slow-worker")
    with db.session() as session:
        session.execute(
            update(Job).where(Job.id == job_id).values(heartbeat_at=utc_now() - timedelta(minutes=5))
        )
    assert state.reap(db, stale_after_s=30, max_attempts=3) == [job_id]
    assert state.lease(db, job_id, "other-worker")
    state.progress(db, job_id, "rendering", 40.0, holder="other-worker")

    # the late run's heartbeat neither renews the job nor overwrites its progress; it is told to stop
    assert state.progress(db, job_id, "downloading", 90.0, holder="slow-worker") is True
    assert (row(db, job_id).stage, row(db, job_id).progress) == ("rendering", 40.0)

    late = [RenderedOutput("watchthefall", tmp_path / "late_b.mp4", 2, 2, 1.0, 10)]
    assert state.finish(db, job_id, late, holder="slow-worker") is False
    assert state.fail(db, job_id, NetworkError("site down"), max_attempts=3, holder="slow-worker") is False
    state.stop_cancelled(db, job_id, holder="slow-worker")
    taken = row(db, job_id)
    assert (taken.status, taken.lease_owner) == (JobStatus.RENDERING, "other-worker")

    mine = [RenderedOutput("watchthefall", tmp_path / "mine_b.mp4", 2, 2, 1.0, 10)]
    assert state.finish(db, job_id, mine, holder="other-worker")
    assert state.finish(db, job_id, late, holder="other-worker") is False  # ended once, never twice
    with db.session() as session:
        done = session.get(Job, job_id)
        assert (done.status, [output.filename for output in done.outputs]) == ("completed", ["mine_b.mp4"])


def completed_job(db: Database, tmp_path: Path) -> str:
    job_id = link_job(db)
    state.lease(db, job_id, "w1")
    made = [RenderedOutput(brand, tmp_path / f"clip_{brand}.mp4", 2, 2, 1.0, 10) for brand in ("a", "b")]
    assert state.finish(db, job_id, made, holder="w1")
    return job_id


def rerender_of(db: Database, job_id: str, number: int) -> tuple[dict | None, list[int]]:
    """The output's re-render request and its versions' numbers."""
    with db.session() as session:
        output = session.get(Job, job_id).outputs[number]
        return output.rerender, [version["version"] for version in output.version_list()]


def make_stale(db: Database) -> None:
    with db.session() as session:
        session.execute(
            update(Output)
            .where(Output.rerender_lease.is_not(None))
            .values(rerender_heartbeat_at=utc_now() - timedelta(minutes=5))
        )


def test_a_rerender_whose_worker_died_is_run_again_and_the_late_run_is_refused(
    db: Database, tmp_path: Path
) -> None:
    """A re-render holds a lease like a job's run: the reaper gives a stale one to a new run, the late
    run (frozen past its heartbeat, then resumed) can neither renew it, store, fail nor finish it."""
    job_id = completed_job(db, tmp_path)
    state.request_rerender(db, job_id, 1, {"cover_at": 0.5}, "key")
    with pytest.raises(state.JobStateError):  # one at a time
        state.request_rerender(db, job_id, 1, {}, "key")
    assert state.lease_rerender(db, job_id, 1, "dead/1")["status"] == "rendering"
    assert state.lease_rerender(db, job_id, 1, "other/1") is None  # one run at a time
    assert state.rerender_progress(db, job_id, 1, 40.0, holder="dead/1")
    assert state.reap_rerenders(db, stale_after_s=30, max_attempts=3) == []  # it beats: not stale
    make_stale(db)
    assert state.reap_rerenders(db, stale_after_s=30, max_attempts=3) == [(job_id, 1)]
    assert rerender_of(db, job_id, 1)[0]["status"] == "queued"
    with pytest.raises(state.JobStateError):  # still owed: a second ask is refused, not run twice
        state.request_rerender(db, job_id, 1, {}, "key")

    assert state.lease_rerender(db, job_id, 1, "new/2")["attempts"] == 2
    assert state.rerender_progress(db, job_id, 1, 90.0, holder="dead/1") is False  # told to stop
    with pytest.raises(state.LeaseLostError):
        state.fence_rerender(db, job_id, 1, holder="dead/1")
    late = RenderedOutput("b", tmp_path / "late.mp4", 2, 2, 1.0, 10, cover_at=0.5)
    assert not state.finish_rerender(
        db, job_id, 1, late, ("late_v2.mp4", "late_v2.jpg", None), holder="dead/1"
    )
    state.fail_rerender(db, job_id, 1, "boom", holder="dead/1")
    assert rerender_of(db, job_id, 1)[0]["status"] == "rendering"

    state.fence_rerender(db, job_id, 1, holder="new/2")
    mine = RenderedOutput("b", tmp_path / "mine.mp4", 2, 2, 1.0, 10, cover_at=0.5)
    assert state.finish_rerender(
        db, job_id, 1, mine, ("clip_b_v2.mp4", "clip_b_v2.jpg", None), holder="new/2"
    )
    # a late finish after the new version is in: refused too, the versions stay as they are
    assert not state.finish_rerender(
        db, job_id, 1, late, ("late_v2.mp4", "late_v2.jpg", None), holder="dead/1"
    )
    assert rerender_of(db, job_id, 1) == (None, [1, 2])
    with db.session() as session:
        output = session.get(Job, job_id).outputs[1]
        assert (output.filename, output.rerender_lease, output.rerender_heartbeat_at) == (
            "clip_b_v2.mp4",
            None,
            None,
        )
    assert rerender_of(db, job_id, 0) == (None, [1])  # the other output untouched
    state.request_rerender(db, job_id, 1, {}, "key")  # done: it may be asked for again


def test_a_rerender_fails_with_the_reason_after_its_attempts(db: Database, tmp_path: Path) -> None:
    job_id = completed_job(db, tmp_path)
    state.request_rerender(db, job_id, 0, {}, "key")
    for attempt in range(1, 3):
        assert state.lease_rerender(db, job_id, 0, f"w/{attempt}")
        make_stale(db)
        assert state.reap_rerenders(db, stale_after_s=30, max_attempts=2) == (
            [(job_id, 0)] if attempt < 2 else []
        )
    request, versions = rerender_of(db, job_id, 0)
    assert (request["status"], request["attempts"], versions) == ("failed", 2, [1])
    assert "stopped 2 times" in request["error"]
    assert state.lease_rerender(db, job_id, 0, "w/3") is None  # a stray message runs nothing
    state.request_rerender(db, job_id, 0, {}, "key")  # failed: it may be asked for again
    assert rerender_of(db, job_id, 0)[0]["status"] == "queued"


def test_a_queued_rerender_with_no_message_is_sent_again(db: Database, tmp_path: Path) -> None:
    job_id = completed_job(db, tmp_path)
    state.request_rerender(db, job_id, 1, {}, "key")
    assert state.sweep_queued_rerenders(db, 30, set) == []  # just asked: its message may be on its way
    with db.session() as session:
        asked = Output.rerender_heartbeat_at.is_not(None)
        session.execute(
            update(Output).where(asked).values(rerender_heartbeat_at=utc_now() - timedelta(minutes=5))
        )
    assert state.sweep_queued_rerenders(db, 30, lambda: {(job_id, 1)}) == []  # carried: not sent twice
    assert state.sweep_queued_rerenders(db, 30, set) == [(job_id, 1)]
    assert state.sweep_queued_rerenders(db, 30, set) == []  # claimed: its clock starts again
