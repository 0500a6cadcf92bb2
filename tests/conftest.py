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
    with PostgresServer.started() as server:
        yield server.url


class PostgresServer:
    """A throwaway PostgreSQL that a test can stop and start again (same port, same data)."""

    def __init__(self) -> None:
        server_bin = postgres_server_bin()
        require_program("initdb", server_bin is not None and (server_bin / "pg_ctl").exists())
        require_program(
            "pg_dump", shutil.which("pg_dump") is not None and shutil.which("pg_restore") is not None
        )
        self.home = Path(tempfile.mkdtemp(prefix="wtf-pg-"))
        self.home.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
        self.data = self.home / "data"
        self.pg_ctl = str(server_bin / "pg_ctl")
        self.port = free_port()
        subprocess.run([*_as_postgres_user(), str(server_bin / "initdb"), "-D", str(self.data), "-A", "trust",
                        "-U", "wtf", "--no-sync"], check=True, capture_output=True)  # fmt: skip

    @property
    def url(self) -> str:
        return f"postgresql://wtf@127.0.0.1:{self.port}"

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.home} -c fsync=off"
        subprocess.run([*_as_postgres_user(), self.pg_ctl, "-D", str(self.data), "-o", options, "-l",
                        str(self.home / "log"), "-w", "start"], check=True, capture_output=True)  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """`fast`: clients are disconnected and the server shuts down cleanly; `immediate`: as a crash."""
        subprocess.run([*_as_postgres_user(), self.pg_ctl, "-D", str(self.data), "-m", mode, "stop"],
                       capture_output=True)  # fmt: skip

    @classmethod
    @contextlib.contextmanager
    def started(cls) -> Iterator[PostgresServer]:
        server = cls()
        try:
            server.start()
            yield server
        finally:
            server.stop("immediate")
            shutil.rmtree(server.home, ignore_errors=True)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1 and a free port, no persistence."""
    with running_redis() as url:
        yield url


@contextlib.contextmanager
def running_redis() -> Iterator[str]:
    """The server behind `redis_url` (also for benchmarks)."""
    with RedisServer.started() as server:
        yield server.url


class RedisServer:
    """A throwaway redis-server that a test can kill and start again on the same port, keeping its data
    (`persistent`: an append-only file written on every command) or coming back empty."""

    def __init__(self, persistent: bool = False) -> None:
        require_program("redis-server", shutil.which("redis-server") is not None)
        self.persistent = persistent
        self.port = free_port()
        self.home = Path(tempfile.mkdtemp(prefix="wtf-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else [
            "--appendonly", "no"]  # fmt: skip
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", *persistence,
             "--dir", str(self.home)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        """SIGKILL, as a crash or a platform's restart stops it."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)

    @classmethod
    @contextlib.contextmanager
    def started(cls, persistent: bool = False) -> Iterator[RedisServer]:
        server = cls(persistent)
        try:
            server.start()
            yield server
        finally:
            if server.process is not None:
                server.process.terminate()
                server.process.wait(timeout=10)
            shutil.rmtree(server.home, ignore_errors=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1 s portrait clip with sound (a real MP4 made by FFmpeg), one per test module."""
    from tests.mediagen import make_clip

    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", duration=1)
