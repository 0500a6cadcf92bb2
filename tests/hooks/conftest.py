"""Fixtures for the OpenAPI and webhook tests: the real app in-process, and the real service live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.app import create_app
from portal.config import load_settings
from tests.conftest import REPO
from tests.web.server import KEY

SECRET = "webhook-secret-0123456789"


def make_app(data_dir: Path, **settings: object) -> Flask:
    """The app as `portal.app:app` builds it, on its own data folder."""
    defaults: dict = {"portal_key": KEY, "secret_key": "s" * 32, "webhook_secret": SECRET}
    return create_app(
        load_settings(data_dir=data_dir, brand_config=REPO / "brand_config.json", **{**defaults, **settings})
    )


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return make_app(tmp_path)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    with app.test_client() as test_client:
        yield test_client
