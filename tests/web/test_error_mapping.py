"""One error taxonomy, one handler: domain errors answer with their code and status in each area's shape."""

from __future__ import annotations

import pytest
from flask import Blueprint, Flask, jsonify
from flask.testing import FlaskClient

from portal.acquire.downloader import NetworkError, UrlRefusedError
from portal.brand_loader import BrandConfigError, UnknownBrandError
from portal.errors import PortalError
from portal.jobs.maintenance import LowDiskError
from portal.jobs.state import JobRunningError
from portal.media.errors import RenderError, SourceError
from portal.web.errors import use_error_shape
from tests.web.conftest import AUTH


@pytest.mark.parametrize(("error", "status"), [
    (UnknownBrandError, 422), (BrandConfigError, 503), (LowDiskError, 507), (SourceError, 415),
    (UrlRefusedError, 422), (NetworkError, 502), (JobRunningError, 409),
])  # fmt: skip
def test_every_area_error_is_a_portal_error_with_a_status(error: type[PortalError], status: int) -> None:
    assert issubclass(error, PortalError) and error.status == status and error.code


def _failing_blueprint(name: str, error: Exception) -> Blueprint:
    bp = Blueprint(name, __name__, url_prefix=f"/{name}")
    bp.add_url_rule("/boom", "boom", lambda: (_ for _ in ()).throw(error))
    return bp


def test_api_shape_uses_first_line_and_code(app: Flask, client: FlaskClient) -> None:
    app.register_blueprint(
        _failing_blueprint("probe", RenderError("ffmpeg failed on clip.mp4", "secret\ntail"))
    )
    response = client.get("/probe/boom")
    assert response.status_code == 500
    assert response.json == {"error": {"code": "render_failed", "message": "ffmpeg failed on clip.mp4"}}


def test_a_blueprint_can_answer_in_its_own_shape(app: Flask, client: FlaskClient) -> None:
    """How v3's routes get `{"success": false, "error": ...}` from the same mapping."""
    bp = _failing_blueprint("legacy", UnknownBrandError("unknown brand 'x'"))
    use_error_shape(bp, lambda status, code, message: (jsonify(success=False, error=message), status))
    app.register_blueprint(bp)
    response = client.get("/legacy/boom")
    assert response.status_code == 422 and response.json == {"success": False, "error": "unknown brand 'x'"}
    assert client.get("/api/jobs/nope", headers=AUTH).json["error"]["code"] == "job_not_found"  # API's stays


def test_malformed_json_is_400_naming_the_position(client: FlaskClient) -> None:
    body = '{"url": "https://example.com/v.mp4",\n "brands": ["watchthefall"],,}'
    response = client.post(
        "/api/videos/process", data=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = response.json["error"]
    assert error["code"] == "invalid_json" and "line 2, column 29" in error["message"]


def test_wrong_content_type_is_415_and_a_json_non_object_is_422(client: FlaskClient) -> None:
    path = "/api/videos/process"
    response = client.post(path, data='{"url": "x"}', headers={**AUTH, "Content-Type": "text/plain"})
    assert (response.status_code, response.json["error"]["code"]) == (415, "unsupported_media_type")
    response = client.post(path, json=["not", "an", "object"], headers=AUTH)
    assert (response.status_code, response.json["error"]["code"]) == (422, "invalid_request")


def test_a_broken_brand_config_is_503_for_the_api(app: Flask, client: FlaskClient, tmp_path) -> None:
    broken = tmp_path / "brand_config.json"
    broken.write_text('{"brands": ')
    app.extensions["runtime"].brands.path = broken
    response = client.get("/api/brands", headers=AUTH)
    assert response.status_code == 503 and response.json["error"]["code"] == "brand_config_invalid"
    assert "not valid JSON" in response.json["error"]["message"]


def test_dashboard_form_errors_are_a_readable_page_and_its_script_calls_get_json(client: FlaskClient) -> None:
    page = client.post("/login", data={"key": "x"}, headers={"Accept": "text/html,*/*;q=0.8"})
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert "the form expired; reload the page and try again" in page.text and "Traceback" not in page.text
    scripted = client.post("/login", data={"key": "x"}, headers={"Accept": "*/*"})
    assert scripted.status_code == 400 and scripted.json["error"]["message"].startswith("the form expired")
