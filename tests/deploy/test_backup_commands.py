"""The SQLite backup commands of docs/DEPLOYMENT.md copy what a live WAL database holds (and cp does not)."""

from __future__ import annotations

import os
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


def _documented_postgres_commands() -> tuple[str, str]:
    text = (REPO / "docs" / "DEPLOYMENT.md").read_text(encoding="utf-8")
    dump = re.search(r"^(pg_dump --format=custom .*)$", text, flags=re.MULTILINE)
    restore = re.search(r"^(pg_restore .*?)\s+# restore$", text, flags=re.MULTILINE)
    assert dump and restore, "docs/DEPLOYMENT.md shows pg_dump and pg_restore"
    return dump[1], restore[1]


def test_documented_postgres_backup_and_restore(postgres_url: str, tmp_path: Path) -> None:
    import psycopg

    with psycopg.connect(f"{postgres_url}/postgres", autocommit=True) as admin:
        admin.execute("CREATE DATABASE wtf")
        admin.execute("CREATE DATABASE restored")
    with psycopg.connect(f"{postgres_url}/wtf") as source:
        source.execute("CREATE TABLE jobs (id text PRIMARY KEY, status text)")
        source.execute("INSERT INTO jobs SELECT 'job' || n, 'completed' FROM generate_series(1, 50) AS n")

    dump, restore = _documented_postgres_commands()
    shell = {**os.environ, "WTF_DATABASE_URL": f"{postgres_url}/wtf"}
    subprocess.run(["bash", "-c", dump], cwd=tmp_path, env=shell, check=True, capture_output=True)
    (dump_file,) = tmp_path.glob("wtf-*.dump")
    restore = re.sub(r"wtf-\S+\.dump", str(dump_file), restore)
    shell["WTF_DATABASE_URL"] = f"{postgres_url}/restored"
    subprocess.run(["bash", "-c", restore], cwd=tmp_path, env=shell, check=True, capture_output=True)

    with psycopg.connect(f"{postgres_url}/restored") as restored:
        assert restored.execute("SELECT count(*) FROM jobs").fetchone()[0] == 50
