"""Fixtures of the hostile-client tests: the real app (test client) and the real service with no worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from portal.app import create_app
from portal.config import load_settings
from tests.conftest import REPO
from tests.mediagen import make_clip
from tests.web.server import KEY, Server


def make_app(data_dir: Path, **overrides: object) -> Flask:
    defaults = {"portal_key": KEY, "secret_key": "s" * 32, "brand_config": REPO / "brand_config.json"}
    settings = load_settings(**{**defaults, "data_dir": data_dir, **overrides})
    app = create_app(settings)
    app.config["SESSION_COOKIE_SECURE"] = False  # the test client speaks http
    return app


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path / "data")


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn as deployed, without a queue consumer: submitted jobs stay queued, nothing is fetched."""
    running = Server(tmp_path_factory.mktemp("data"), env={"WTF_EMBEDDED_WORKER": "0"}).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", duration=1)
