"""Fixtures of the web tests: the app in-process (flaskr's `app`, `client`, `runner`) and a live service.

A view's answer (status, error shape, validation, auth rules) is checked with Flask's test client: the
real app, with its real database and queue, without a server. What needs a real server (event streams,
kill -9, gunicorn's settings, the browser) uses `server`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from portal.app import create_app
from tests.apptools import TEST_SETTINGS
from tests.mediagen import make_clip
from tests.web.server import KEY, Server

AUTH = {"X-Portal-Key": KEY}
_client_addresses = (f"10.9.{n // 250}.{n % 250 + 1}" for n in itertools.count())


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """The app as gunicorn builds it, from the environment, with its own data folder (SQLite, local disk)."""
    for name, value in {**TEST_SETTINGS, "data_dir": tmp_path / "data"}.items():
        monkeypatch.setenv(f"WTF_{name.upper()}", str(value))
    application = create_app()
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A client with an address of its own: the failed-key limit (per address, per process) is not shared."""
    test_client = app.test_client()
    test_client.environ_base["REMOTE_ADDR"] = next(_client_addresses)
    return test_client


@pytest.fixture
def runner(app: Flask) -> CliRunner:
    """`wtf-portal` in-process, with the app's environment (same data folder and database)."""
    return CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One running service per test module (web + embedded consumer, SQLite, local disk)."""
    running = Server(tmp_path_factory.mktemp("data")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough to still be rendering when a test cancels it or kills the server."""
    return make_clip(tmp_path_factory.mktemp("clips") / "long.mp4", width=640, height=1136, duration=20)
