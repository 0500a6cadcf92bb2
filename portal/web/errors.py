"""Every error answer comes from here: a `PortalError` (or an HTTP or validation error) in, one shape out.

The API's shape is `{"error": {"code": ..., "message": ...}}` with the error's status. A blueprint can
answer in its own shape (`use_error_shape`): v3's routes say `{"success": false, "error": "..."}`, the
dashboard's pages show a readable page to a browser. Views raise; they never build error answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Request,
    current_app,
    has_request_context,
    jsonify,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue
from flask.wrappers import Response
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from portal.errors import DependencyUnavailableError, PortalError

log = logging.getLogger(__name__)
ErrorShape = Callable[[int, str, str], ResponseReturnValue]


class ApiError(PortalError):
    """An error of the request itself that no domain module raises (a bad cursor, a missing file field)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code = status, code
        self.headers = headers or {}  # e.g. Retry-After on a 429


MESSAGE_MAX_CHARS = 500  # messages quote what the client sent (a brand name, a link): never all of it


def api_error_shape(status: int, code: str, message: str) -> Response:
    """The API's error answer (DESIGN 4.7)."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def page_or_api_shape(status: int, code: str, message: str) -> Response:
    """A page with the message for a browser's navigation or form post; the API's JSON for scripts."""
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        if code in _outage_codes():  # a dependency is down: a banner that retries, not an error page
            retry = DependencyUnavailableError.retry_after_s
            page = render_template("unavailable.html", message=message, retry_after=retry)
        else:
            page = render_template("error.html", message=message)
        response = current_app.make_response(page)
        response.status_code = status
        return response
    return api_error_shape(status, code, message)


def _outage_codes() -> set[str]:
    """The codes of the errors that say a dependency is down (database, queue, bucket)."""
    found, kinds = set(), [DependencyUnavailableError]
    while kinds:
        kind = kinds.pop()
        if kind.transient:  # not a file that is missing from a reachable store
            found.add(kind.code)
        kinds.extend(kind.__subclasses__())
    return found


def use_error_shape(bp: Blueprint, shape: ErrorShape) -> None:
    """Answer errors raised in `bp`'s views in `shape` instead of the API's."""
    bp.record_once(lambda state: state.app.extensions.setdefault("error_shapes", {}).update({bp.name: shape}))


def error_response(status: int, code: str, message: str) -> Response:
    """The error in the shape of the blueprint that is answering (the API's outside any blueprint)."""
    if len(message) > MESSAGE_MAX_CHARS:
        message = message[: MESSAGE_MAX_CHARS - 1] + "…"
    shapes = current_app.extensions.get("error_shapes", {})
    shape = shapes.get(request.blueprint) if has_request_context() else None
    return current_app.make_response((shape or api_error_shape)(status, code, message))


def validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


class PortalRequest(Request):
    """Flask's request, with a body that is not JSON answered as the API's 415 or 400 `invalid_json`."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:  # the Content-Type is not JSON
            raise ApiError(
                415, "unsupported_media_type", "send JSON (Content-Type: application/json)"
            ) from None
        if isinstance(e, json.JSONDecodeError):
            where = f"line {e.lineno}, column {e.colno}"
            raise ApiError(400, "invalid_json", f"the body is not valid JSON: {e.msg} at {where}") from None
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {e}") from None


def register_error_handlers(app: Flask) -> None:
    app.request_class = PortalRequest

    @app.errorhandler(PortalError)
    def _portal_error(exc: PortalError):
        if exc.status >= 500:  # the service's side, so operators see it (no traceback: raised on purpose)
            log.warning("%s answered %s: %s", request.path, exc.code, exc.message)
        response = error_response(exc.status, exc.code, exc.message)
        if exc.retry_after_s:  # a dependency that is down, say: the client may try again then
            response.headers["Retry-After"] = str(exc.retry_after_s)
        response.headers.update(getattr(exc, "headers", {}))
        return response

    @app.errorhandler(ValidationError)
    def _invalid(exc: ValidationError):
        return error_response(422, "invalid_request", validation_message(exc))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        if exc.code == 413:
            limit = request.max_content_length or app.config["MAX_CONTENT_LENGTH"]
            size = f"{limit // 1_048_576} MB" if limit >= 1_048_576 else f"{limit // 1024} KB"
            whole = limit == app.config["MAX_CONTENT_LENGTH"]
            kind = "request" if whole else "body (only multipart uploads may be larger)"
            message = f"the {kind} is larger than the limit of {size}"
        else:
            message = exc.description or exc.name
        return error_response(exc.code or 500, code, message)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "the server hit an unexpected error; see its logs")
