"""Auth and every error case: JSON errors with fitting statuses, nothing lost, no tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.web.server import KEY, Server


def error_of(response: requests.Response) -> tuple[int, str]:
    assert response.headers["Content-Type"].startswith("application/json"), response.text
    return response.status_code, response.json()["error"]["code"]


def test_auth_header_bearer_none_wrong(server: Server) -> None:
    url = f"{server.url}/api/jobs"
    assert requests.get(f"{server.url}/api/test", timeout=5).status_code == 200  # open
    assert error_of(requests.get(url, timeout=5)) == (401, "unauthorized")
    assert error_of(requests.get(url, headers={"X-Portal-Key": "wrong"}, timeout=5)) == (401, "unauthorized")
    assert requests.get(url, headers={"X-Portal-Key": KEY}, timeout=5).status_code == 200
    assert requests.get(url, headers={"Authorization": f"Bearer {KEY}"}, timeout=5).status_code == 200
    assert requests.get(url, headers={"Authorization": f"Basic {KEY}"}, timeout=5).status_code == 401
    assert requests.get(f"{server.url}/api/debug/env", timeout=5).status_code == 401


@pytest.mark.parametrize(("payload", "expected"), [
    ({"upload_id": "x", "brands": ["nope"]}, (422, "unknown_brand")),
    ({"upload_id": "x", "brands": ["watchthefall"], "preset": "cinema"}, (422, "invalid_request")),
    ({"upload_id": "0" * 32, "brands": ["watchthefall"]}, (404, "upload_not_found")),
    ({"brands": ["watchthefall"]}, (422, "invalid_request")),
    ({"url": "http://127.0.0.1/v.mp4", "brands": "all"}, (422, "url_refused")),
    ({"urls": ["ftp://example.com/v.mp4"], "brands": "all"}, (422, "url_refused")),
    ({"upload_id": "x", "brands": []}, (422, "invalid_request")),
])  # fmt: skip
def test_process_errors(server: Server, payload: dict, expected: tuple) -> None:
    assert error_of(server.call("POST", "/api/videos/process", json=payload)) == expected


def test_not_json_and_unknown_things(server: Server) -> None:
    assert error_of(server.call("POST", "/api/videos/process", data="hello")) == (
        415,
        "unsupported_media_type",
    )
    assert error_of(server.call("GET", "/api/jobs/nope")) == (404, "job_not_found")
    assert error_of(server.call("GET", "/api/jobs", params={"status": "weird"})) == (400, "bad_status")
    assert error_of(server.call("GET", "/api/jobs", params={"cursor": "!!"})) == (400, "bad_cursor")
    assert error_of(server.call("POST", "/api/jobs/nope/cancel")) == (404, "job_not_found")
    assert error_of(server.call("GET", "/api/nothing-here"))[0] == 404
    refused = server.call("POST", "/api/videos/fetch", json={"urls": ["https://example.com"]})
    assert refused.status_code == 422 and refused.json()["success"] is False  # fetch answers in v3's shape


def test_uploads_are_probed_before_acceptance(server: Server, tmp_path: Path) -> None:
    photo = tmp_path / "holiday.mp4"
    Image.new("RGB", (64, 64), "red").save(photo, format="PNG")
    with photo.open("rb") as handle:
        response = server.call("POST", "/api/uploads", files={"file": ("holiday.mp4", handle)})
    assert error_of(response) == (415, "still_image")
    assert "holiday.mp4" in response.json()["error"]["message"]
    assert list((server.data_dir / "uploads").iterdir()) == []
    assert error_of(server.call("POST", "/api/uploads", data={"nothing": "here"})) == (400, "missing_file")


def test_downloads_never_leave_the_outputs_folder(server: Server) -> None:
    for name in ("../portal.db", "..%2Fportal.db", "%2E%2E/portal.db", "/etc/passwd"):
        response = requests.get(
            f"{server.url}/api/videos/download/{name}", headers={"X-Portal-Key": KEY}, timeout=5
        )
        assert response.status_code == 404 and b"SQLite" not in response.content


def test_upload_over_the_limit_is_413(tmp_path_factory: pytest.TempPathFactory) -> None:
    small = Server(tmp_path_factory.mktemp("small"), env={"WTF_MAX_UPLOAD_MB": "1"}).start()
    try:
        response = small.call("POST", "/api/uploads", files={"file": ("big.mp4", b"\0" * (2 * 1_048_576))})
        assert error_of(response)[0] == 413
    finally:
        small.stop()


def test_failed_attempts_are_rate_limited(server: Server) -> None:
    url = f"{server.url}/api/jobs"
    codes = [requests.get(url, headers={"X-Portal-Key": f"bad{i}"}, timeout=5).status_code for i in range(12)]
    assert codes[:5] == [401] * 5 and codes[-1] == 429
    limited = requests.get(url, headers={"X-Portal-Key": "bad-again"}, timeout=5)
    assert error_of(limited) == (429, "too_many_attempts")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # the right key is never refused, whatever was sent from the same address before
    assert requests.get(url, headers={"X-Portal-Key": KEY}, timeout=5).status_code == 200
