"""A submission's webhook_url: refused without a secret, refused for private targets unless allowed."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.hooks.conftest import make_app
from tests.web.server import KEY

AUTH = {"X-Portal-Key": KEY}
HOOK = "http://127.0.0.1:9/hook"


def _client(tmp_path: Path, **settings) -> FlaskClient:
    return make_app(tmp_path, **settings).test_client()


def _jobs(client: FlaskClient) -> list[dict]:
    return client.get("/api/jobs", headers=AUTH).get_json()["jobs"]


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/api/videos/process", {"url": "http://127.0.0.1:9/clip.mp4", "brands": "all"}),
        ("/api/videos/fetch", {"urls": ["http://127.0.0.1:9/clip.mp4"]}),  # v3's route and shape
        ("/api/videos/process_brands", {"url": "http://127.0.0.1:9/clip.mp4", "brands": ["watchthefall"]}),
    ],
)
def test_without_a_secret_a_webhook_is_refused(tmp_path: Path, path: str, payload: dict) -> None:
    client = _client(tmp_path, webhook_secret=None, allow_private_urls=True)
    answer = client.post(path, json={**payload, "webhook_url": HOOK}, headers=AUTH)
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    if isinstance(error, dict):  # the API's shape
        assert error["code"] == "webhooks_disabled"
    else:  # v3's: {"success": false, "error": "..."}
        assert "WTF_WEBHOOK_SECRET" in error
    assert _jobs(client) == []  # nothing queued


def test_a_private_webhook_is_refused_unless_allowed(tmp_path: Path) -> None:
    # the source is a public address literal (the check needs no DNS); only the webhook is private
    payload = {"url": "http://93.184.215.14/clip.mp4", "brands": "all", "webhook_url": HOOK}
    refused = _client(tmp_path / "strict").post("/api/videos/process", json=payload, headers=AUTH)
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["code"] == "url_refused" and "webhook_url" in error["message"]

    allowed = _client(tmp_path / "open", allow_private_urls=True)
    answer = allowed.post("/api/videos/process", json=payload, headers=AUTH)
    assert answer.status_code == 202, answer.get_json()
    job = answer.get_json()["job"]
    assert job["webhook_url"] == HOOK and job["webhooks"] == []


def test_a_multipart_submission_takes_a_webhook_field(tmp_path: Path) -> None:
    client = _client(tmp_path)
    answer = client.post(
        "/api/videos/process", headers=AUTH,
        data={"brands": "all", "webhook_url": "file:///etc/passwd", "file": (io.BytesIO(b"?"), "x.mp4")},
    )  # fmt: skip
    assert answer.status_code == 422
    assert answer.get_json()["error"]["code"] == "url_refused"
    assert list((tmp_path / "uploads").iterdir()) == []  # refused before the file was stored
