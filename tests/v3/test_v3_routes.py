"""v3's routes answer in v3's shapes (Flask test client; the live end-to-end form is in test_v3_client.py)."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from portal.database import Job
from portal.web.auth import session_epoch
from portal.web.v3 import V3_ROUTES
from tests.v3.conftest import AUTH
from tests.web.server import KEY


def _jobs(app: Flask) -> list[Job]:
    with app.extensions["runtime"].db.session() as session:
        return list(session.scalars(select(Job)))


def test_open_probes_answer_without_the_key(client: FlaskClient) -> None:
    test = client.get("/portal/test")
    assert test.status_code == 200
    assert test.json["status"] == "online" and test.json["message"]
    assert "/api/videos/process_brands" in test.json["endpoints"]
    alive = client.get("/__debug_alive")
    assert (alive.status_code, alive.text) == (200, "alive")
    health = client.get("/__debug_health")
    assert health.status_code == 200 and health.json["status"] == "healthy"
    assert health.json["checks"] == {"uploads": "OK", "outputs": "OK", "temp": "OK", "database": "OK"}


def test_portal_test_is_a_readiness_probe(client: FlaskClient, app: Flask) -> None:
    outputs = app.extensions["runtime"].settings.outputs_dir
    outputs.rename(outputs.with_name("outputs-away"))
    outputs.write_text("not a folder")  # unwritable whoever runs the test (root ignores permissions)
    response = client.get("/portal/test")
    assert response.status_code == 503 and response.json["status"] == "offline"
    assert "outputs" in response.json["message"]
    health = client.get("/__debug_health")
    assert health.status_code == 503 and health.json["checks"]["outputs"].startswith("ERROR")


@pytest.mark.parametrize(
    "path",
    ["/api", "/__debug_routes", "/__debug_env", "/__debug_ffmpeg", "/__debug_storage", "/__debug_brands",
     "/api/brands/list", "/api/brands/watchthefall/config"],
)  # fmt: skip
def test_everything_else_wants_the_key_and_says_so_in_v3_shape(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.json["success"] is False and "X-Portal-Key" in response.json["error"]
    assert client.get(path, headers={"Authorization": f"Bearer {KEY}"}).status_code == 200


def test_every_listed_v3_route_is_real(client: FlaskClient, app: Flask) -> None:
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    assert rules >= V3_ROUTES
    assert {"/portal", "/__debug_alive", "/__debug_health", "/__debug_routes", "/__debug_env"} <= rules


def test_route_lists(client: FlaskClient) -> None:
    api = client.get("/api", headers=AUTH).json
    assert api["status"] == "ok"
    listed = {(route["route"], route["method"]) for route in api["endpoints"]}
    assert {("/api/videos/process_brands", "POST"), ("/api/videos/fetch", "POST"),
            ("/api/brands/list", "GET"), ("/api/brands/<name>/config", "POST"),
            ("/api/videos/download/<path:filename>", "GET")} <= listed  # fmt: skip
    assert all(route["description"] for route in api["endpoints"])
    routes = client.get("/__debug_routes", headers=AUTH).json
    assert routes["status"] == "ok"
    assert {"endpoint": "v3.portal_test", "methods": ["GET", "HEAD", "OPTIONS"], "rule": "/portal/test"} in (
        routes["routes"]
    )


def test_diagnostics_in_v3_shape_without_secrets(client: FlaskClient) -> None:
    env = client.get("/__debug_env", headers=AUTH)
    assert env.json["status"] == "ok" and "environment" in env.json
    assert KEY not in env.text and "s" * 32 not in env.text
    ffmpeg = client.get("/__debug_ffmpeg", headers=AUTH).json
    assert ffmpeg["status"] == "ok" and ffmpeg["ffmpeg"]
    storage = client.get("/__debug_storage", headers=AUTH).json
    assert storage["status"] == "ok" and storage["storage"]["folders"]["outputs"]["writable"]
    brands = client.get("/__debug_brands", headers=AUTH).json
    assert brands["status"] == "ok" and brands["count"] == len(brands["brands"]) == 3
    first = brands["brands"][0]
    assert first["name"] == "watchthefall" and first["display_name"] == "WatchTheFall"
    assert first["problems"] == [] and first["assets"][0].endswith("logo.png")
    assert set(first["options"]) >= {"watermark_scale", "watermark_opacity", "logo_scale", "logo_padding"}


def test_dashboard_at_portal_and_root_redirects(client: FlaskClient) -> None:
    assert client.get("/").headers["Location"] == "/portal/"
    for path in ("/portal/", "/portal"):
        assert client.get(path).headers["Location"] == f"/login?next={path}"
    with client.application.app_context():
        epoch = session_epoch()  # a signed-in session carries the current sign-in epoch
    with client.session_transaction() as session:
        session["authenticated"], session["epoch"] = True, epoch
    for path in ("/portal/", "/portal"):
        page = client.get(path)
        assert page.status_code == 200 and "Brand it" in page.text


def test_brand_list_and_config_in_any_case(client: FlaskClient) -> None:
    listed = client.get("/api/brands/list", headers=AUTH).json
    assert listed["success"] is True
    assert {"name": "fallclips", "display_name": "FallClips"} in listed["brands"]
    config = client.get("/api/brands/FallClips/config", headers=AUTH).json
    assert config["success"] is True and config["config"]["brand_name"] == "fallclips"
    assert config["config"]["logo_scale"] == pytest.approx(0.2)
    missing = client.get("/api/brands/nobody/config", headers=AUTH)
    assert missing.status_code == 404 and missing.json["success"] is False


def test_saving_brand_settings_writes_the_brand_config(client: FlaskClient, app: Flask) -> None:
    path = app.extensions["runtime"].settings.brand_config
    before = path.read_text()
    preview = "/api/brands/dailyfails/preview.jpg?preset=vertical"  # what the dashboard's brands page shows
    preview_before = client.get(preview, headers=AUTH).data
    # v3's clients send JSON without always saying so (v3 parsed bodies whatever their Content-Type)
    body = json.dumps(
        {"logo_scale": 0.25, "logo_padding": 36, "watermark_opacity": 0.5, "text_font": "Arial"}
    )
    saved = client.post("/api/brands/DAILYFAILS/config", data=body, headers=AUTH)
    assert saved.status_code == 200, saved.json
    assert saved.json["success"] is True and saved.json["config"]["logo_scale"] == 0.25
    assert saved.json["config"]["logo_padding"] == 36
    written = json.loads(path.read_text())["brands"]["dailyfails"]
    (logo,) = [layer for layer in written["layers"] if layer.get("image", "").endswith("logo.png")]
    assert logo["width"] == 0.25 and logo["margin"] == pytest.approx(36 / 720)
    assert client.get("/api/brands/dailyfails/config", headers=AUTH).json["config"]["logo_scale"] == 0.25
    assert client.get(preview, headers=AUTH).data != preview_before  # the dashboard's preview follows
    after = path.read_text()

    bad = client.post("/api/brands/dailyfails/config", json={"watermark_opacity": 7}, headers=AUTH)
    assert (
        bad.status_code == 400 and bad.json["success"] is False and "watermark_opacity" in bad.json["error"]
    )
    assert client.post("/api/brands/dailyfails/config", data="{", headers=AUTH).status_code == 400
    assert client.post("/api/brands/nobody/config", json={"logo_scale": 0.2}, headers=AUTH).status_code == 404
    assert path.read_text() == after != before
    assert not list(path.parent.glob(".brand_config.*"))  # no temp file left behind


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"brands": ["watchthefall"]}, 400, "URL or source_path is required"),
        ({"url": "https://example.com/v.mp4"}, 400, "At least one brand"),
        ({"url": "https://example.com/v.mp4", "brands": []}, 400, "At least one brand"),
        ({"url": "https://example.com/v.mp4", "brands": ["Nobody"]}, 400, "unknown brand 'Nobody'"),
        ({"source_path": "../portal.db", "brands": ["watchthefall"]}, 400, "file name"),
        ({"source_path": "/etc/passwd", "brands": ["watchthefall"]}, 400, "file name"),
        ({"source_path": "..\\portal.db", "brands": ["watchthefall"]}, 400, "file name"),
        ({"source_path": ".health", "brands": ["watchthefall"]}, 400, "file name"),
        ({"source_path": "never-fetched.mp4", "brands": ["watchthefall"]}, 404, "never-fetched.mp4"),
        ({"url": "http://127.0.0.1/v.mp4", "brands": ["watchthefall"]}, 422, "private"),
        ({"url": "https://example.com/v.mp4", "brands": ["watchthefall"], "logo_scale": -1}, 400,
         "logo_scale"),
        ({"url": "https://example.com/v.mp4", "brands": ["watchthefall"], "watermark_opacity": "lots"}, 400,
         "watermark_opacity"),
        ({"url": "https://example.com/v.mp4", "brands": ["watchthefall"], "logo_padding": 9999}, 400,
         "logo_padding"),
        ({"url": "https://example.com/v.mp4", "brands": ["watchthefall"], "preset": "cinema"}, 400, "preset"),
        ({"url": "https://example.com/v.mp4", "brands": ["watchthefall"], "fit": "stretch"}, 400, "fit"),
        ({"url": "https://example.com/v.mp4", "brands": ["watchthefall"], "fit": ["crop"]}, 400, "fit"),
    ],
)  # fmt: skip
def test_process_brands_refuses_bad_input_and_queues_nothing(
    client: FlaskClient, app: Flask, body: dict, status: int, words: str
) -> None:
    response = client.post("/api/videos/process_brands", json=body, headers=AUTH)
    assert response.status_code == status, response.json
    assert response.json["success"] is False and words in response.json["error"]
    assert _jobs(app) == []


def test_fetch_refuses_bad_input_and_queues_nothing(client: FlaskClient, app: Flask) -> None:
    for body in ({}, {"urls": []}, {"urls": "https://example.com"}, {"urls": [1]}):
        response = client.post("/api/videos/fetch", json=body, headers=AUTH)
        assert response.status_code == 400 and response.json["success"] is False
    refused = client.post("/api/videos/fetch", json={"urls": ["http://10.0.0.1/a.mp4"]}, headers=AUTH)
    assert refused.status_code == 422 and refused.json["success"] is False
    assert _jobs(app) == []


def test_respond_async_queues_the_job_with_its_settings(client: FlaskClient, app: Flask, clip) -> None:
    outputs = app.extensions["runtime"].settings.outputs_dir
    (outputs / "fetched.mp4").write_bytes(clip.read_bytes())
    body = {"source_path": "fetched.mp4", "brands": ["WatchTheFall", "fallclips"], "logo_scale": 0.3,
            "watermark_opacity": 0.5, "text_content": "", "text_font": "Comic Sans", "preset": "portrait",
            "fit": "crop"}  # fmt: skip
    headers = {**AUTH, "Prefer": "wait=5, respond-async"}
    response = client.post("/api/videos/process_brands", json=body, headers=headers)
    assert response.status_code == 202 and response.headers["Preference-Applied"] == "respond-async"
    job = response.json["job"]
    assert response.json["success"] is True and job["status"] == "queued"
    assert job["brands"] == ["watchthefall", "fallclips"] and job["source"]["name"] == "fetched.mp4"
    assert (job["preset"], job["fit"]) == ("portrait", "crop")
    (row,) = _jobs(app)
    assert row.v3_settings == {"logo_scale": 0.3, "watermark_opacity": 0.5, "text_content": ""}
    assert row.source_path == str(outputs / "fetched.mp4")
    assert app.extensions["runtime"].queue_depth() == 1


def test_a_job_that_outlasts_the_wait_answers_202_and_goes_on(tmp_path, brand_dir, clip) -> None:
    from portal.app import create_app
    from portal.config import load_settings

    settings = load_settings(portal_key=KEY, data_dir=tmp_path, brand_config=brand_dir / "brand_config.json",
                             sync_wait_s=1)  # fmt: skip
    app = create_app(settings)
    (settings.outputs_dir / "clip.mp4").write_bytes(clip.read_bytes())
    body = {"source_path": "clip.mp4", "brands": ["watchthefall"]}
    response = app.test_client().post("/api/videos/process_brands", json=body, headers=AUTH)  # no consumer
    assert response.status_code == 202 and response.json["success"] is False
    assert "still working after 1 s" in response.json["error"]
    assert response.json["job"]["status"] == "queued"
    with app.extensions["runtime"].db.session() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 1
