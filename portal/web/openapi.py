"""The OpenAPI 3.1 document of the API (`GET /api/openapi.json`) and a page that shows it (`GET /api/docs`).

Views say what they take and answer with `@documented(...)`, naming the same pydantic models that validate
their requests and shape their answers; this module walks the app's URL map and assembles the document
with apispec from those models' JSON Schemas. Nothing here is a second, hand-written copy of a shape.
A test checks that every /api route is described (tests/hooks/test_openapi.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from apispec import APISpec
from flask import Blueprint, Flask, current_app, render_template
from markupsafe import Markup
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from werkzeug.routing import Rule

from portal import __version__
from portal.web.auth import require_api_auth
from portal.web.schemas import ErrorAnswer, V3ErrorAnswer

bp = Blueprint("openapi", __name__, url_prefix="/api")
V3_TAG = "v3"
SECURITY_SCHEMES = {
    "PortalKey": {"type": "apiKey", "in": "header", "name": "X-Portal-Key"},
    "Bearer": {"type": "http", "scheme": "bearer", "description": "the portal key as a bearer token"},
}
# Statuses every operation can answer, besides its own: the key is checked first, then the body.
AUTH_ERRORS = {401: "no key, or a wrong one", 429: "too many wrong keys from this client; wait a minute"}
BODY_ERRORS = {400: "the body is not valid JSON", 415: "the body is not JSON (or multipart where allowed)",
               422: "a field is missing or wrong"}  # fmt: skip
_PATH_ARGUMENT = re.compile(r"<(?:(?P<converter>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Content:
    """An answer that no model shapes: a file, a picture, an event stream, a diagnostics report."""

    media_type: str
    description: str
    schema: dict = field(default_factory=lambda: {"type": "string", "format": "binary"})


def json_report(description: str) -> Content:
    """A JSON object whose fields are for people to read (diagnostics), not a contract for scripts."""
    return Content("application/json", description, {"type": "object"})


# an answer: a model, one of several models, something else, or no body
Answer = type[BaseModel] | tuple[type[BaseModel], ...] | Content | None


@dataclass(frozen=True)
class Operation:
    responses: dict[int, Answer]
    body: type[BaseModel] | None = None
    form: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: dict[int, str] = field(default_factory=dict)
    tag: str | None = None
    open: bool = False
    v3: bool = False


def documented(
    responses: dict[int, Answer],
    *,
    body: type[BaseModel] | None = None,
    form: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    errors: dict[int, str] | None = None,
    tag: str | None = None,
    open: bool = False,
    v3: bool = False,
) -> Callable[[View], View]:
    """Describe a view for the OpenAPI document: its answers by status, what it takes, its own errors.

    `body` is a JSON body, `form` a multipart one (a `bytes` field is a file), `query` the query string;
    `open` means no key is needed; `v3` marks the predecessor's routes (tag `v3`, `x-v3: true`).
    """
    operation = Operation(responses, body, form, query, errors or {}, tag, open, v3)

    def describe(view: View) -> View:
        view.openapi_operation = operation  # type: ignore[attr-defined]
        return view

    return describe


def operation_of(app: Flask, rule: Rule) -> Operation | None:
    return getattr(app.view_functions[rule.endpoint], "openapi_operation", None)


def described_rules(app: Flask) -> Iterable[tuple[Rule, Operation]]:
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        operation = operation_of(app, rule)
        if operation is not None:
            yield rule, operation


def _components(operations: list[Operation]) -> tuple[dict[tuple[type[BaseModel], str], str], dict]:
    """Every model's JSON Schema, as OpenAPI components; request models in pydantic's validation mode."""
    wanted: set[tuple[type[BaseModel], JsonSchemaMode]] = {(ErrorAnswer, "serialization")}
    for operation in operations:
        for model in (operation.body, operation.form, operation.query):
            if model is not None:
                wanted.add((model, "validation"))
        for answer in operation.responses.values():
            models = answer if isinstance(answer, tuple) else (answer,)
            wanted.update((model, "serialization") for model in models if isinstance(model, type))
        if operation.v3:
            wanted.add((V3ErrorAnswer, "serialization"))
    ordered = sorted(wanted, key=lambda item: (item[0].__name__, item[1]))
    keys, schema = models_json_schema(ordered, ref_template="#/components/schemas/{model}")
    names = {key: value["$ref"].rsplit("/", 1)[1] for key, value in keys.items()}
    return names, schema.get("$defs", {})


def _ref(names: dict, model: type[BaseModel], mode: str) -> dict:
    return {"$ref": f"#/components/schemas/{names[(model, mode)]}"}


def _path_and_parameters(rule: Rule) -> tuple[str, list[dict]]:
    parameters = []

    def path_template(match: re.Match) -> str:
        schema: dict[str, Any] = {"type": "integer"} if match["converter"] == "int" else {"type": "string"}
        parameters.append({"name": match["name"], "in": "path", "required": True, "schema": schema})
        return "{" + match["name"] + "}"

    return _PATH_ARGUMENT.sub(path_template, rule.rule), parameters


def _query_parameters(component: dict) -> list[dict]:
    required = set(component.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": schema,
         **({"description": schema["description"]} if "description" in schema else {})}
        for name, schema in component["properties"].items()
    ]  # fmt: skip


def _first_doc_line(model: type[BaseModel]) -> str:
    return (model.__doc__ or model.__name__).strip().splitlines()[0]


def _summary(view: Callable) -> tuple[str, str]:
    lines = (view.__doc__ or "").strip().splitlines()
    return (lines[0] if lines else view.__name__.replace("_", " ")), "\n".join(lines[1:]).strip()


def _operation_dict(app: Flask, rule: Rule, operation: Operation, names: dict) -> dict:
    view = app.view_functions[rule.endpoint]
    summary, description = _summary(view)
    error_model = _ref(names, V3ErrorAnswer if operation.v3 else ErrorAnswer, "serialization")
    responses: dict[str, dict] = {}
    for status, answer in operation.responses.items():
        if isinstance(answer, Content):
            responses[str(status)] = {
                "description": answer.description,
                "content": {answer.media_type: {"schema": answer.schema}},
            }
        elif answer is None:
            responses[str(status)] = {"description": "no body"}
        else:
            models = answer if isinstance(answer, tuple) else (answer,)
            refs = [_ref(names, model, "serialization") for model in models]
            responses[str(status)] = {
                "description": " or ".join(_first_doc_line(model) for model in models),
                "content": {"application/json": {"schema": refs[0] if len(refs) == 1 else {"oneOf": refs}}},
            }
    errors = {**({} if operation.open else AUTH_ERRORS),
              **(BODY_ERRORS if operation.body or operation.form else {}), **operation.errors}  # fmt: skip
    for status, why in errors.items():
        responses[str(status)] = {
            "description": why,
            "content": {"application/json": {"schema": error_model}},
        }
    responses["default"] = {
        "description": "any other error, in the same shape",
        "content": {"application/json": {"schema": error_model}},
    }
    result: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_"),
        "summary": summary,
        "tags": [V3_TAG if operation.v3 else operation.tag or rule.endpoint.split(".")[0]],
        "responses": responses,
    }
    if description:
        result["description"] = description
    if operation.open:
        result["security"] = []
    if operation.v3:
        result["x-v3"] = True
    if operation.body is not None:
        result["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(names, operation.body, "validation")}},
        }
    if operation.form is not None:
        multipart = {"multipart/form-data": {"schema": _ref(names, operation.form, "validation")}}
        if operation.body is not None:
            result["requestBody"]["content"].update(multipart)
        else:
            result["requestBody"] = {"required": True, "content": multipart}
    return result


def build_document(app: Flask) -> dict:
    """The OpenAPI 3.1 document of every described route of `app`."""
    described = list(described_rules(app))
    names, schemas = _components([operation for _rule, operation in described])
    spec = APISpec(
        title="WatchTheFall Orchestrator API",
        version=__version__,
        openapi_version="3.1.0",
        info={
            "description": "One source video in, one ready-to-post MP4 per brand out. Send the portal key "
            "as `X-Portal-Key` or `Authorization: Bearer`. Routes tagged `v3` keep the predecessor's "
            'paths and shapes for its clients (their errors are `{"success": false, "error"}`).'
        },
        security=[{"PortalKey": []}, {"Bearer": []}],
    )
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    for name, schema in sorted(schemas.items()):
        spec.components.schema(name, schema)
    paths: dict[str, dict[str, dict]] = {}
    parameters: dict[str, list[dict]] = {}
    for rule, operation in described:
        path, path_parameters = _path_and_parameters(rule)
        parameters[path] = path_parameters
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation_dict = _operation_dict(app, rule, operation, names)
            if operation.query is not None:
                component = schemas[names[(operation.query, "validation")]]
                operation_dict["parameters"] = _query_parameters(component)
            paths.setdefault(path, {})[method.lower()] = operation_dict
    for path, operations in paths.items():
        spec.path(path=path, operations=operations, parameters=parameters[path])
    return spec.to_dict()


def document() -> dict:
    """This app's document, built once (the routes do not change while it runs)."""
    if "openapi_document" not in current_app.extensions:
        current_app.extensions["openapi_document"] = build_document(current_app)
    return current_app.extensions["openapi_document"]


@bp.app_template_filter("operations_by_tag")
def operations_by_tag(doc: dict) -> list[tuple[str, list[tuple[str, str, dict]]]]:
    """The document's operations grouped by tag, for the page; v3's last."""
    groups: dict[str, list[tuple[str, str, dict]]] = {}
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method != "parameters":
                groups.setdefault(operation["tags"][0], []).append((method, path, operation))
    return sorted(groups.items(), key=lambda group: (group[0] == V3_TAG, group[0]))


@bp.app_template_filter("schema_text")
def schema_text(schema: dict) -> Markup:
    """A JSON Schema in a few words, with links to the named schemas it uses."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return Markup('<a href="#schema-{0}">{0}</a>').format(name)
    for combinator in ("anyOf", "oneOf", "allOf"):
        if combinator in schema:
            return Markup(" | ").join(schema_text(part) for part in schema[combinator])
    if "const" in schema:
        return Markup("<code>{}</code>").format(json.dumps(schema["const"]))
    if "enum" in schema:
        return Markup(" | ").join(Markup("<code>{}</code>").format(json.dumps(v)) for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return Markup("array of {}").format(schema_text(schema.get("items", {})))
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return Markup("object of {}").format(schema_text(schema["additionalProperties"]))
    return Markup("{}{}").format(kind, f" ({schema['format']})" if "format" in schema else "")


@bp.before_request
def _authenticate() -> None:
    require_api_auth()


@bp.get("/openapi.json")
@documented({200: Content("application/json", "the OpenAPI 3.1 document")}, tag="docs")
def openapi_json():
    """This document."""
    return document()


@bp.get("/docs")
@documented({200: Content("text/html", "the document as a page")}, tag="docs")
def docs_page():
    """The document as a page for people (served from the package, no outside scripts)."""
    return render_template("api_docs.html", doc=document())
