"""The real app for in-process tests (Flask's test client), shared by the test areas."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.app import create_app
from portal.config import load_settings
from tests.conftest import REPO
from tests.web.server import KEY, Server

# What every in-process app of the tests is given (tests/web passes the same through the environment).
TEST_SETTINGS: dict[str, object] = {
    "portal_key": KEY,
    "secret_key": "s" * 32,
    "brand_config": REPO / "brand_config.json",
}


def make_app(data_dir: Path, **overrides: object) -> Flask:
    """The app as `portal.app:app` builds it, on its own data folder, with these settings changed."""
    app = create_app(load_settings(**{**TEST_SETTINGS, "data_dir": data_dir, **overrides}))
    app.config["SESSION_COOKIE_SECURE"] = False  # the test client speaks http
    return app


def signed_in_client(app: Flask) -> FlaskClient:
    """A test client signed in to the dashboard, as a browser is: session cookie and CSRF token."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["csrf_token"] = "t"  # the token the login page would have put in its form
    client.environ_base["HTTP_X_CSRF_TOKEN"] = "t"
    assert client.post("/login", data={"key": KEY}).status_code == 302
    client.get("/brands")  # the page a browser edits from: it holds the session's CSRF token
    with client.session_transaction() as session:
        client.environ_base["HTTP_X_CSRF_TOKEN"] = session["csrf_token"]
    return client


POST_TEXT = "{title} | via @{uploader}\n{url}\n{brand} {hashtags}"


def brand_config_with_post_text(folder: Path) -> Path:
    """The shipped brands as version 2, each with POST_TEXT and a hashtag, their logos copied beside it."""
    shutil.copytree(REPO / "brands", folder / "brands")
    data = json.loads((REPO / "brand_config.json").read_text())
    data["version"] = 2
    for brand in data["brands"].values():
        brand.update(post_text=POST_TEXT, hashtags=["fails"])
    path = folder / "brand_config.json"
    path.write_text(json.dumps(data))
    return path


def post_text_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The live service with `brand_config_with_post_text` and links from loopback allowed (a module
    fixture's body: the library's tests, API and browser, share it)."""
    config = brand_config_with_post_text(tmp_path_factory.mktemp("config"))
    env = {"WTF_BRAND_CONFIG": str(config), "WTF_ALLOW_PRIVATE_URLS": "1"}
    running = Server(tmp_path_factory.mktemp("data"), env=env).start()
    yield running
    running.stop()
