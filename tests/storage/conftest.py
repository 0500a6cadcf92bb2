from __future__ import annotations

from collections.abc import Iterator

import pytest

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
