"""Fixtures of the hostile-client tests: the real app (test client) and the real service with no worker."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest
import requests
from flask import Flask

from tests.apptools import make_app
from tests.web.server import Server


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path / "data")


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn as deployed, without a queue consumer: submitted jobs stay queued, nothing is fetched."""
    running = Server(tmp_path_factory.mktemp("data"), env={"WTF_EMBEDDED_WORKER": "0"}).start()
    yield running
    running.stop()


class TreeMemory:
    """The peak resident memory of a process and all its descendants, sampled every few ms while in use
    (FFmpeg and probe children included); `growth_mb` is the peak over the first sample."""

    INTERVAL_S = 0.01

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _total_mb(self) -> float:
        total = 0
        for process in [self.root, *self.root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a child that ended between listing and reading
                total += process.memory_info().rss
        return total / (1024 * 1024)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self._total_mb())
            self._stop.wait(self.INTERVAL_S)

    def __enter__(self) -> TreeMemory:
        self.samples.append(self._total_mb())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return max(self.samples) - self.samples[0]

    def report(self) -> str:
        return (
            f"start {self.samples[0]:.0f} MB, peak {max(self.samples):.0f} MB ({len(self.samples)} samples)"
        )


@dataclass
class HealthWatch:
    answered: int = 0
    failures: list[str] = field(default_factory=list)


HEALTHZ_BOUND_S = 1.0  # the bound: the web answers /healthz within a second throughout


@contextlib.contextmanager
def healthz_watch(base_url: str) -> Iterator[HealthWatch]:
    """Ask /healthz over and over while the block runs; every answer must come within HEALTHZ_BOUND_S."""
    watch, stop = HealthWatch(), threading.Event()

    def ask() -> None:
        with requests.Session() as http:
            while not stop.is_set():
                try:
                    response = http.get(f"{base_url}/healthz", timeout=HEALTHZ_BOUND_S)
                    if response.status_code == 200:
                        watch.answered += 1
                    else:
                        watch.failures.append(f"HTTP {response.status_code}")
                except requests.RequestException as exc:
                    watch.failures.append(repr(exc))
                stop.wait(0.05)

    thread = threading.Thread(target=ask, daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        stop.set()
        thread.join()
