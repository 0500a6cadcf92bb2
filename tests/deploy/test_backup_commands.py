"""The SQLite backup commands of docs/DEPLOYMENT.md copy what a live WAL database holds (and cp does not)."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, require_program


def _documented_sqlite_commands() -> list[str]:
    text = (REPO / "docs" / "DEPLOYMENT.md").read_text(encoding="utf-8")
    return re.findall(r"^sqlite3 \S+ (\".*\")$", text, flags=re.MULTILINE)


@pytest.fixture
def live_wal_database(tmp_path: Path):
    """A WAL database with committed rows still in the -wal file, and a writer holding it open."""
    path = tmp_path / "portal.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # keep the rows in the WAL, as a busy server would
    writer.execute("CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT)")
    writer.executemany("INSERT INTO jobs VALUES (?, ?)", [(f"job{i}", "completed") for i in range(50)])
    yield path
    writer.close()


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as reader:
        try:
            return reader.execute("SELECT count(*) FROM jobs").fetchone()[0]
        except sqlite3.DatabaseError:
            return 0


def test_documented_sqlite_backups_hold_every_row(live_wal_database: Path, tmp_path: Path) -> None:
    require_program("sqlite3", shutil.which("sqlite3") is not None)
    commands = _documented_sqlite_commands()
    assert len(commands) == 2, "docs/DEPLOYMENT.md shows .backup and VACUUM INTO"
    for number, quoted in enumerate(commands):
        target = tmp_path / f"backup{number}.db"
        sql = quoted.strip('"').replace("/backups/portal-$(date +%F).db", str(target))
        subprocess.run(["sqlite3", str(live_wal_database), sql], check=True, capture_output=True, text=True)
        assert _rows(target) == 50

    # What the docs warn against: the main file alone misses what is still in the WAL.
    copied = tmp_path / "copied.db"
    shutil.copyfile(live_wal_database, copied)
    assert _rows(copied) < 50
