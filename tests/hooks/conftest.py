"""Fixtures for the OpenAPI and webhook tests: the real app in-process, and the real service live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests import apptools
from tests.download.conftest import site  # noqa: F401  (the loopback site, for link jobs)

SECRET = "webhook-secret-0123456789"


def make_app(data_dir: Path, **settings: object) -> Flask:
    """The app as `portal.app:app` builds it, on its own data folder."""
    return apptools.make_app(data_dir, **{"webhook_secret": SECRET, **settings})


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as test_client:
        yield test_client
