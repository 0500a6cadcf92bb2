"""Fixtures shared by every test area."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI") == "true"


def require_program(name: str, found: bool) -> None:
    """Skip with a reason naming the missing program; in CI a missing program is a failure."""
    if found:
        return
    message = f"{name} is not installed (.ci/run installs it with apt-get)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's WTF_* settings."""
    for name in list(os.environ):
        if name.startswith("WTF_") or name in ("FFMPEG_PATH", "PORT"):
            monkeypatch.delenv(name, raising=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_postgres_user() -> list[str]:
    # initdb and postgres refuse to run as root; CI runs as root.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def postgres_server_bin() -> Path | None:
    """Where initdb and pg_ctl are: on PATH, or in Debian's versioned folder (not on PATH by default)."""
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1, a free port, trust auth for user wtf."""
    with running_postgres() as url:
        yield url


@contextlib.contextmanager
def running_postgres() -> Iterator[str]:
    """The server behind `postgres_url` (also for benchmarks, which run outside pytest)."""
    server_bin = postgres_server_bin()
    require_program("initdb", server_bin is not None and (server_bin / "pg_ctl").exists())
    require_program("pg_dump", shutil.which("pg_dump") is not None and shutil.which("pg_restore") is not None)
    home = Path(tempfile.mkdtemp(prefix="wtf-pg-"))
    home.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    data = home / "data"
    run = [*_as_postgres_user()]
    initdb, pg_ctl = str(server_bin / "initdb"), str(server_bin / "pg_ctl")
    subprocess.run([*run, initdb, "-D", str(data), "-A", "trust", "-U", "wtf", "--no-sync"], check=True,
                   capture_output=True)  # fmt: skip
    port = free_port()
    options = f"-h 127.0.0.1 -p {port} -k {home} -c fsync=off"
    subprocess.run([*run, pg_ctl, "-D", str(data), "-o", options, "-l", str(home / "log"), "-w", "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield f"postgresql://wtf@127.0.0.1:{port}"
    finally:
        subprocess.run([*run, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1 and a free port, no persistence."""
    with running_redis() as url:
        yield url


@contextlib.contextmanager
def running_redis() -> Iterator[str]:
    """The server behind `redis_url` (also for benchmarks)."""
    require_program("redis-server", shutil.which("redis-server") is not None)
    port = free_port()
    home = Path(tempfile.mkdtemp(prefix="wtf-redis-"))
    server = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(home)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1 s portrait clip with sound (a real MP4 made by FFmpeg), one per test module."""
    from tests.mediagen import make_clip

    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", duration=1)
