"""Fixtures of the hostile-client tests: the real app (test client) and the real service with no worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
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
