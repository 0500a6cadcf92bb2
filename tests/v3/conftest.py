"""Fixtures of the v3-compatibility tests: the real app (test client), a finished job, a v3-style client."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.database import Job, Output, new_id, utc_now
from tests.apptools import make_app
from tests.browser.conftest import browser  # noqa: F401  (real Chromium, for the signed-link test)
from tests.conftest import REPO
from tests.download.conftest import site  # noqa: F401  (the loopback site, for link jobs)
from tests.web.server import KEY

AUTH = {"X-Portal-Key": KEY}


@pytest.fixture(scope="module")
def brand_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped brands (tests save brand settings into it)."""
    folder = tmp_path_factory.mktemp("config")
    shutil.copy(REPO / "brand_config.json", folder / "brand_config.json")
    shutil.copytree(REPO / "brands", folder / "brands")
    return folder


@pytest.fixture
def app(tmp_path: Path, brand_dir: Path) -> Flask:
    return make_app(tmp_path / "data", brand_config=brand_dir / "brand_config.json")


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def finished_job(app: Flask, clip: Path) -> Iterator[Job]:
    """A completed job whose output is a real MP4 in the outputs folder (made by FFmpeg, not rendered)."""
    runtime = app.extensions["runtime"]
    job_id = new_id()
    name = f"clip-{job_id[:8]}_watchthefall.mp4"
    shutil.copy(clip, runtime.settings.outputs_dir / name)
    with runtime.db.session() as session:
        job = Job(
            id=job_id, kind="render", status="completed", progress=100.0, source_kind="upload",
            source_name="clip.mp4", brands=["watchthefall"], preset="source", attempts=1,
            cancel_requested=False, started_at=utc_now(), finished_at=utc_now(),
        )  # fmt: skip
        job.outputs.append(
            Output(brand="watchthefall", filename=name, size_bytes=clip.stat().st_size, width=320,
                   height=568, duration=1.0)
        )  # fmt: skip
        session.add(job)
    with runtime.db.session() as session:
        yield session.get(Job, job_id)
