from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mediagen import make_clip
from tests.web.server import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One running service per test module (web + embedded consumer, SQLite, local disk)."""
    running = Server(tmp_path_factory.mktemp("data")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", duration=1)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough to still be rendering when a test cancels it or kills the server."""
    return make_clip(tmp_path_factory.mktemp("clips") / "long.mp4", width=640, height=1136, duration=20)
