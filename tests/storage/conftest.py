from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mediagen import make_clip
from tests.storage.s3server import S3Server, moto_server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """An S3-compatible server with one empty bucket; boto3 in this process points at it."""
    s3_server.reset()
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1 s upload (a real MP4 made by FFmpeg)."""
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", duration=1)
