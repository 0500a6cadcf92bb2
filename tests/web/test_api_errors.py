"""Auth and every error case, in-process: JSON errors with fitting statuses, nothing lost, no tracebacks."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from PIL import Image
from werkzeug.test import TestResponse

from portal.app import create_app
from tests.web.conftest import AUTH, KEY


def error_of(response: TestResponse) -> tuple[int, str]:
    assert response.mimetype == "application/json", response.text
    return response.status_code, response.json["error"]["code"]


def test_auth_header_bearer_none_wrong(client: FlaskClient) -> None:
    assert client.get("/api/test").status_code == 200  # open
    assert error_of(client.get("/api/jobs")) == (401, "unauthorized")
    assert error_of(client.get("/api/jobs", headers={"X-Portal-Key": "wrong"})) == (401, "unauthorized")
    assert client.get("/api/jobs", headers=AUTH).status_code == 200
    assert client.get("/api/jobs", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.get("/api/jobs", headers={"Authorization": f"Basic {KEY}"}).status_code == 401
    assert client.get("/api/debug/env").status_code == 401


@pytest.mark.parametrize(("payload", "expected"), [
    ({"upload_id": "x", "brands": ["nope"]}, (422, "unknown_brand")),
    ({"upload_id": "x", "brands": ["watchthefall"], "preset": "cinema"}, (422, "invalid_request")),
    ({"upload_id": "0" * 32, "brands": ["watchthefall"]}, (404, "upload_not_found")),
    ({"brands": ["watchthefall"]}, (422, "invalid_request")),
    ({"url": "http://127.0.0.1/v.mp4", "brands": "all"}, (422, "url_refused")),
    ({"urls": ["ftp://example.com/v.mp4"], "brands": "all"}, (422, "url_refused")),
    ({"upload_id": "x", "brands": []}, (422, "invalid_request")),
])  # fmt: skip
def test_process_errors(client: FlaskClient, payload: dict, expected: tuple) -> None:
    assert error_of(client.post("/api/videos/process", json=payload, headers=AUTH)) == expected


def test_not_json_and_unknown_things(client: FlaskClient) -> None:
    not_json = client.post("/api/videos/process", data="hello", headers=AUTH)
    assert error_of(not_json) == (415, "unsupported_media_type")
    assert error_of(client.get("/api/jobs/nope", headers=AUTH)) == (404, "job_not_found")
    assert error_of(client.get("/api/jobs?status=weird", headers=AUTH)) == (400, "bad_status")
    assert error_of(client.get("/api/jobs?cursor=!!", headers=AUTH)) == (400, "bad_cursor")
    assert error_of(client.post("/api/jobs/nope/cancel", headers=AUTH)) == (404, "job_not_found")
    assert error_of(client.get("/api/nothing-here", headers=AUTH))[0] == 404
    refused = client.post("/api/videos/fetch", json={"urls": ["https://example.com"]}, headers=AUTH)
    assert refused.status_code == 422 and refused.json["success"] is False  # fetch answers in v3's shape


def test_uploads_are_probed_before_acceptance(app: Flask, client: FlaskClient, tmp_path: Path) -> None:
    photo = tmp_path / "holiday.mp4"
    Image.new("RGB", (64, 64), "red").save(photo, format="PNG")
    with photo.open("rb") as handle:
        response = client.post("/api/uploads", data={"file": (handle, "holiday.mp4")}, headers=AUTH)
    assert error_of(response) == (415, "still_image")
    assert "holiday.mp4" in response.json["error"]["message"]
    assert list(app.extensions["runtime"].settings.uploads_dir.iterdir()) == []
    assert error_of(client.post("/api/uploads", data={"nothing": "here"}, headers=AUTH)) == (
        400,
        "missing_file",
    )


def test_downloads_never_leave_the_outputs_folder(client: FlaskClient) -> None:
    for name in ("../portal.db", "..%2Fportal.db", "%2E%2E/portal.db", "/etc/passwd"):
        response = client.get(f"/api/videos/download/{name}", headers=AUTH, follow_redirects=True)
        assert response.status_code == 404 and b"SQLite" not in response.data


def test_upload_over_the_limit_is_413(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WTF_MAX_UPLOAD_MB", "1")  # on top of the `app` fixture's environment
    small = create_app().test_client()
    big = io.BytesIO(b"\0" * (2 * 1_048_576))
    response = small.post("/api/uploads", data={"file": (big, "big.mp4")}, headers=AUTH)
    assert error_of(response)[0] == 413


def test_failed_attempts_are_rate_limited(client: FlaskClient) -> None:
    codes = [client.get("/api/jobs", headers={"X-Portal-Key": f"bad{i}"}).status_code for i in range(12)]
    assert codes[:5] == [401] * 5 and codes[-1] == 429
    limited = client.get("/api/jobs", headers={"X-Portal-Key": "bad-again"})
    assert error_of(limited) == (429, "too_many_attempts")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # the right key is never refused, whatever was sent from the same address before
    assert client.get("/api/jobs", headers=AUTH).status_code == 200


def test_brands_preview_and_diagnostics(client: FlaskClient) -> None:
    brands = client.get("/api/brands", headers=AUTH).json["brands"]
    assert [b["id"] for b in brands] == ["watchthefall", "fallclips", "dailyfails"]
    preview = client.get("/api/brands/watchthefall/preview.jpg?preset=square", headers=AUTH)
    assert preview.status_code == 200 and preview.data[:3] == b"\xff\xd8\xff"
    assert client.get("/api/brands/nope/preview.jpg", headers=AUTH).status_code == 404

    env = client.get("/api/debug/env", headers=AUTH)
    assert env.json["environment"]["WTF_PORTAL_KEY"] == "***" and KEY not in env.text
    assert client.get("/api/debug/ffmpeg", headers=AUTH).json["ok"] is True
    assert client.get("/api/debug/storage", headers=AUTH).json["folders"]["outputs"]["writable"] is True
    assert client.get("/api/debug/brands", headers=AUTH).json["ok"] is True
    assert client.get("/readyz").json["status"] == "ready"
    assert client.get("/metrics").status_code == 401
    metrics = client.get("/metrics", headers=AUTH).text
    assert 'wtf_jobs{status="completed"}' in metrics and "wtf_http_request_seconds_bucket" in metrics
