"""Process-wide logging: one stdout handler, JSON lines or text, tagged with a request id or a job id.

`configure_logging(settings)` is called once by each entry point (the web app, the worker, the CLI).
The ids live in context variables, so every log call made while a request or a job is being handled
carries them without being passed around; `init_request_ids(app)` and `job_context(job_id)` set them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask, Response

    from portal.config import Settings

REQUEST_ID_HEADER = "X-Request-ID"
# Client-supplied ids end up in every log line: short and plain, or we make our own.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

_request_id: ContextVar[str | None] = ContextVar("wtf_request_id", default=None)
_job_id: ContextVar[str | None] = ContextVar("wtf_job_id", default=None)

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
    "job_id",
}
# Loggers that install their own handlers; routed through ours so every line has one format.
_THIRD_PARTY_LOGGERS = ("gunicorn.error", "gunicorn.access", "huey", "huey.consumer", "werkzeug")
_HANDLER_MARK = "_wtf_portal_handler"


def current_request_id() -> str | None:
    """The id of the HTTP request being handled on this thread, if any."""
    return _request_id.get()


def current_job_id() -> str | None:
    """The id of the job being worked on in this context, if any."""
    return _job_id.get()


class ContextFilter(logging.Filter):
    """Stamp each record with the ids in force where it was made (before any handler thread sees it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        if not hasattr(record, "job_id"):
            record.job_id = _job_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ids, extras, exception text."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "job_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


# Line breaks and other control characters in a message (a decoded request path, a file name, a
# site's error text) would let whoever chose them start a forged log line: they are written escaped.
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """`a\nb` -> `a\\nb`: the text stays on one line and shows what was there."""
    return _CONTROL_CHARS.sub(lambda m: repr(m.group())[1:-1], text)


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal; the ids appear in brackets when set; one line per message
    (control characters escaped; only an exception's traceback, which we write, spans lines)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s%(ids)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        ids = [
            f"{key}={getattr(record, key)}" for key in ("request_id", "job_id") if getattr(record, key, None)
        ]
        record.ids = f" [{' '.join(ids)}]" if ids else ""
        return super().format(record)


def build_handler(log_format: str) -> logging.Handler:
    """A stdout handler with the chosen formatter and the id filter."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    setattr(handler, _HANDLER_MARK, True)
    return handler


def configure_logging(settings: Settings) -> None:
    """Install the one stdout handler on the root logger; calling it again replaces it, never stacks."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    root.addHandler(build_handler(settings.log_format))
    root.setLevel(settings.log_level)
    for name in _THIRD_PARTY_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


@contextlib.contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Tag every log line made inside the block (on this thread or task) with the job id."""
    token = _job_id.set(str(job_id))
    try:
        yield
    finally:
        _job_id.reset(token)


def _accepted_request_id(value: str | None) -> str:
    if value and _SAFE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def init_request_ids(app: Flask) -> None:
    """Take X-Request-ID from the request (if short and safe) or make one; log it; send it back."""
    from flask import g, request

    access_log = logging.getLogger("portal.access")

    @app.before_request
    def _start_request() -> None:
        request_id = _accepted_request_id(request.headers.get(REQUEST_ID_HEADER))
        g.request_id = request_id
        g.request_started = time.perf_counter()
        # threads and greenlets are reused between requests: the token lets teardown restore a clean context.
        g.request_id_token = _request_id.set(request_id)

    @app.after_request
    def _finish_request(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
            started = g.get("request_started", time.perf_counter())
            access_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
        return response

    @app.teardown_request
    def _end_request(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            _request_id.reset(token)
