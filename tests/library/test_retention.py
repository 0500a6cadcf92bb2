"""Retention and the library (DESIGN 4.14): a pinned item, its file, cover and renders survive the sweep
past WTF_RETENTION_HOURS; an unpinned one goes with its files; deleting an item removes its files."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from portal.config import Settings, load_settings
from portal.database import Database, Job, Output, Source
from portal.jobs.maintenance import cleanup, delete_source
from portal.jobs.state import JobRunningError
from portal.library.sources import removal_at
from portal.storage.objects import open_storage

NOW = datetime.now(timezone.utc)


def _ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def _file(path: Path, hours_old: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00" * 64)
    stamp = _ago(hours_old).timestamp()
    os.utime(path, (stamp, stamp))
    return path


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


def _item(database: Database, settings: Settings, name: str, *, pinned: bool, status: str = "completed"):
    """A library item used 48 hours ago, its file and cover, and one render of it with its output."""
    source_file = _file(settings.uploads_dir / f"{name}.mp4", 48)
    cover = _file(settings.uploads_dir / f"{name}.jpg", 48)
    output = _file(settings.outputs_dir / f"{name}-1a2b3c4d_watchthefall.mp4", 48)
    with database.session() as session:
        session.add(Source(id=name, kind="upload", filename=f"{name}.mp4", path=str(source_file),
                           cover=str(cover), pinned=pinned, created_at=_ago(50),
                           used_at=_ago(48)))  # fmt: skip
        session.flush()
        session.add(Job(id=f"job{name}", status=status, source_kind="library", source_name=name,
                        source_path=str(source_file), source_id=name, brands=["watchthefall"],
                        created_at=_ago(49), finished_at=_ago(48) if status == "completed" else None,
                        outputs=[Output(brand="watchthefall", filename=output.name, size_bytes=64, width=320,
                                        height=568, duration=1.0)]))  # fmt: skip
    return source_file, cover, output


def test_a_pinned_item_survives_the_sweep_and_an_unpinned_one_does_not(database, settings) -> None:
    kept = _item(database, settings, "pinned", pinned=True)
    gone = _item(database, settings, "loose", pinned=False)
    with database.session() as session:
        report = cleanup(settings, session)
    assert report.sources_removed == 1 and report.jobs_removed == 1
    assert all(path.exists() for path in kept)
    assert not any(path.exists() for path in gone)
    with database.session() as session:
        assert session.get(Source, "loose") is None and session.get(Job, "jobloose") is None
        pinned = session.get(Source, "pinned")
        assert pinned is not None and session.get(Job, "jobpinned").outputs
        assert removal_at(pinned, settings.retention_hours) is None
        pinned.pinned = False  # unpinned: it shows when it goes, and the next sweep takes it
        assert removal_at(pinned, settings.retention_hours) == _ago(48) + timedelta(hours=24)
    with database.session() as session:
        cleanup(settings, session)
        assert session.get(Source, "pinned") is None
    assert not any(path.exists() for path in kept)


def test_deleting_an_item_removes_its_files_and_renders_but_not_while_one_runs(database, settings) -> None:
    files = _item(database, settings, "done", pinned=True)
    _item(database, settings, "busy", pinned=False, status="rendering")
    storage = open_storage(settings)
    with database.session() as session, pytest.raises(JobRunningError, match="still running"):
        delete_source(session, session.get(Source, "busy"), storage)
    with database.session() as session:
        delete_source(session, session.get(Source, "done"), storage)
    assert not any(path.exists() for path in files)
    with database.session() as session:
        assert session.get(Source, "done") is None and session.get(Job, "jobdone") is None
        assert session.get(Source, "busy") is not None
