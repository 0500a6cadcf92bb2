"""`wtf-portal` service commands in-process (flaskr's `runner`), on the same data folder as the app."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from click.testing import CliRunner
from flask import Flask

from portal.commands.cli import main
from portal.database import Job, utc_now
from portal.jobs import state
from portal.jobs.state import NewJob
from portal.media.plan import job_stem, output_name, temp_name


def test_cleanup_keeps_a_running_jobs_files_by_the_names_the_plan_gives(
    app: Flask, runner: CliRunner
) -> None:
    rt = app.extensions["runtime"]
    [job_id] = state.submit(rt.db, [NewJob("render", "upload", "clip.mp4", None, ["watchthefall"], "source")])
    assert state.lease(rt.db, job_id, "worker-1")
    stem = job_stem("My holiday clip", job_id)
    outputs = rt.settings.outputs_dir
    done = outputs / output_name(stem, "watchthefall")  # one brand finished, one still being written
    partial = outputs / temp_name(output_name(stem, "fallclips"), "run1")
    stray = outputs / "someone-elses_watchthefall.mp4"
    ten_days_ago = time.time() - 10 * 86400
    for path in (done, partial, stray):
        path.write_bytes(b"x")
        os.utime(path, (ten_days_ago, ten_days_ago))

    result = runner.invoke(main, ["cleanup", "--older-than", "1"])
    assert result.exit_code == 0, result.output
    assert done.exists() and partial.exists() and not stray.exists()
    assert "kept 2 in use" in result.output

    state.fail(
        rt.db, job_id, RuntimeError("stopped"), max_attempts=1, holder="worker-1"
    )  # finished: retention applies again
    with rt.db.session() as session:
        session.get(Job, job_id).finished_at = utc_now() - timedelta(days=9)
    assert runner.invoke(main, ["cleanup", "--older-than", "1"]).exit_code == 0
    assert not done.exists() and not partial.exists()


def test_service_commands_answer_usage_errors_in_one_line(runner: CliRunner) -> None:
    result = runner.invoke(main, ["worker", "--concurrency", "0"])
    assert result.exit_code == 2 and result.output.startswith("wtf-portal: ")
    assert len(result.output.strip().splitlines()) == 1
