"""GET /api/openapi.json: OpenAPI 3.1, every /api route, the error shape, both keys; and its page."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from portal.jobs.answer import JobOut
from portal.web.openapi import build_document, operation_of
from tests.web.server import KEY

AUTH = {"X-Portal-Key": KEY}


def test_every_api_route_is_described(app: Flask) -> None:
    undescribed = [
        rule.rule for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api") and operation_of(app, rule) is None
    ]  # fmt: skip
    assert undescribed == []


def test_the_document_is_valid_openapi_3_1_with_every_operation(app: Flask, client: FlaskClient) -> None:
    answer = client.get("/api/openapi.json", headers=AUTH)
    assert answer.status_code == 200
    document = answer.get_json()
    validate(document)  # openapi-spec-validator picks the 3.1 schema from the `openapi` field
    assert document["openapi"] == "3.1.0"
    expected = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules() if rule.rule.startswith("/api")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }  # fmt: skip
    described = {(path, method) for path, item in document["paths"].items() for method in item
                 if method != "parameters"}  # fmt: skip
    assert expected <= described


def test_keys_and_errors_are_described(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json", headers={"Authorization": f"Bearer {KEY}"}).get_json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["PortalKey"] == {"type": "apiKey", "in": "header", "name": "X-Portal-Key"}
    assert schemes["Bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"PortalKey": []}, {"Bearer": []}]
    assert document["paths"]["/api/test"]["get"]["security"] == []  # the one open route
    error = document["components"]["schemas"]["ErrorAnswer"]
    assert error["required"] == ["error"]
    detail = document["components"]["schemas"][error["properties"]["error"]["$ref"].rsplit("/", 1)[1]]
    assert set(detail["required"]) == {"code", "message"}
    get_job = document["paths"]["/api/jobs/{job_id}"]["get"]["responses"]
    assert get_job["404"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorAnswer")


def test_the_job_object_is_the_model_that_shapes_answers(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json", headers=AUTH).get_json()
    assert document["components"]["schemas"]["JobOut"] == _component(JobOut)
    body = document["paths"]["/api/videos/process"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    request_schema = document["components"]["schemas"][
        body["application/json"]["schema"]["$ref"].rsplit("/")[-1]
    ]
    assert "webhook_url" in request_schema["properties"]


def _component(model) -> dict:
    schema = model.model_json_schema(mode="serialization", ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


def test_the_document_needs_the_key(client: FlaskClient) -> None:
    answer = client.get("/api/openapi.json")
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "unauthorized"


def test_the_page_shows_every_operation_without_outside_resources(app: Flask, client: FlaskClient) -> None:
    page = client.get("/api/docs", headers=AUTH)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    with app.test_request_context():
        document = build_document(app)
    for path, item in document["paths"].items():
        for method in set(item) - {"parameters"}:
            assert f"{method.upper()} {path}" in html
    assert 'id="schema-JobOut"' in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing from a CDN
