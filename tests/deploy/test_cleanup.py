"""Retention on a real database: expired jobs go with their files and log rows; running jobs keep theirs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from portal.config import Settings, load_settings
from portal.database import Database, Job, LogEntry, Output, Upload
from portal.jobs.maintenance import cleanup

NOW = datetime.now(timezone.utc)


def _file(path: Path, hours_old: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00" * 64)
    stamp = (NOW - timedelta(hours=hours_old)).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def _ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = load_settings(data_dir=tmp_path / "data", retention_hours=24)
    settings.ensure_dirs()
    return settings


@pytest.fixture
def database(settings: Settings) -> Database:
    database = Database(settings)
    database.upgrade()
    return database


def _job(session, job_id: str, status: str, hours_old: float, source: Path | None, *outputs: Path) -> None:
    finished = _ago(hours_old) if status in ("completed", "failed", "cancelled") else None
    session.add(
        Job(
            id=job_id, status=status, source_kind="upload", source_name="clip.mp4",
            source_path=str(source) if source else None, brands=["watchthefall"],
            created_at=_ago(hours_old + 1), finished_at=finished,
            outputs=[
                Output(brand="b", filename=path.name, size_bytes=64, width=320, height=568, duration=1.0)
                for path in outputs
            ],
        )
    )  # fmt: skip


@pytest.fixture
def populated(settings: Settings, database: Database) -> dict[str, Path]:
    files = {
        "old_source": _file(settings.uploads_dir / "old.mp4", 50),
        "old_output": _file(settings.outputs_dir / "old-aaaa1111_watchthefall.mp4", 49),
        "running_source": _file(settings.uploads_dir / "running.mp4", 500),
        "running_partial": _file(settings.outputs_dir / ".running-bbbb2222_watchthefall.mp4.part", 0),
        "queued_source": _file(settings.uploads_dir / "queued.mp4", 300),
        "young_source": _file(settings.uploads_dir / "young.mp4", 60),
        "young_output": _file(settings.outputs_dir / "young-cccc3333_watchthefall.mp4", 30),
        "unused_upload": _file(settings.uploads_dir / "never-used.mp4", 40),
        "fresh_upload": _file(settings.uploads_dir / "fresh.mp4", 0.1),
        "stale_temp": _file(settings.temp_dir / "upload-x.part", 3),
    }
    with database.session() as session:
        _job(session, "old", "completed", 30, files["old_source"], files["old_output"])
        _job(session, "running", "rendering", 400, files["running_source"])
        _job(session, "queued", "queued", 200, files["queued_source"])
        _job(session, "young", "completed", 2, files["young_source"], files["young_output"])
        for upload_id, key in (
            ("u-unused", "unused_upload"),
            ("u-fresh", "fresh_upload"),
            ("u-old", "old_source"),
        ):
            session.add(
                Upload(id=upload_id, filename=files[key].name, path=str(files[key]), size=64, media={},
                       created_at=_ago(48 if key != "fresh_upload" else 0.1))
            )  # fmt: skip
        session.add_all(
            [
                LogEntry(time=_ago(31), level="INFO", job_id="old", message="rendered"),
                LogEntry(time=_ago(399), level="INFO", job_id="running", message="started long ago"),
                LogEntry(time=_ago(100), level="INFO", job_id=None, message="service started"),
                LogEntry(time=_ago(1), level="INFO", job_id=None, message="service restarted"),
            ]
        )
    return files


def test_cleanup_removes_the_expired_and_keeps_what_jobs_need(
    settings: Settings, database: Database, populated: dict[str, Path]
) -> None:
    with database.session() as session:
        report = cleanup(settings, session, NOW)

    gone = {"old_source", "old_output", "unused_upload", "stale_temp"}
    for key, path in populated.items():
        assert path.exists() == (key not in gone), key
    with database.session() as session:
        assert sorted(session.scalars(select(Job.id))) == ["queued", "running", "young"]
        assert session.scalars(select(Output.filename)).all() == [populated["young_output"].name]
        assert sorted(session.scalars(select(Upload.id))) == ["u-fresh"]
        assert sorted(session.scalars(select(LogEntry.message))) == ["service restarted", "started long ago"]
    assert report.jobs_removed == 1
    assert report.uploads_removed == 2
    assert report.logs_removed == 2
    assert report.files_removed == 4
    assert report.errors == []


def test_cleanup_twice_is_harmless(
    settings: Settings, database: Database, populated: dict[str, Path]
) -> None:
    with database.session() as session:
        cleanup(settings, session, NOW)
    with database.session() as session:
        again = cleanup(settings, session, NOW)
    assert (again.files_removed, again.jobs_removed, again.logs_removed, again.uploads_removed) == (
        0,
        0,
        0,
        0,
    )


def test_cleanup_command_with_older_than(
    settings: Settings, database: Database, populated: dict[str, Path]
) -> None:
    env = {**os.environ, "WTF_DATA_DIR": str(settings.data_dir), "WTF_RETENTION_HOURS": "10000"}
    result = subprocess.run(
        [sys.executable, "-m", "portal", "cleanup", "--older-than", "1"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "removed" in result.stdout and "1 jobs" not in result.stdout  # "old" and "young" both expired
    assert "2 jobs" in result.stdout
    assert not populated["young_output"].exists()
    assert populated["running_source"].exists() and populated["queued_source"].exists()

    bad = subprocess.run(
        [sys.executable, "-m", "portal", "cleanup", "--older-than", "-3"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
