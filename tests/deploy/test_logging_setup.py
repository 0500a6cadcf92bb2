"""Log lines: JSON that parses, one handler however often configured, request and job ids attached."""

from __future__ import annotations

import json
import logging
import threading

import pytest
from flask import Flask

from portal.config import load_settings
from portal.logging_setup import (
    REQUEST_ID_HEADER,
    configure_logging,
    current_request_id,
    init_request_ids,
    job_context,
)

pytestmark = pytest.mark.usefixtures("restore_logging")


def _json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_carry_fields_job_id_and_exception(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(load_settings(log_format="json", log_level="DEBUG"))
    log = logging.getLogger("portal.test")
    log.debug("plain %s", "line", extra={"brand": "watchthefall"})
    with job_context("job-42"):
        log.info("inside the job")
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("render failed")
    log.info("after the job")

    plain, inside, failed, after = _json_lines(capsys.readouterr().out)
    assert plain["message"] == "plain line"
    assert plain["level"] == "DEBUG"
    assert plain["logger"] == "portal.test"
    assert plain["brand"] == "watchthefall"
    assert plain["time"].endswith("+00:00")
    assert "job_id" not in plain
    assert inside["job_id"] == "job-42"
    assert failed["job_id"] == "job-42"
    assert "ValueError: boom" in failed["exception"]
    assert "job_id" not in after


def test_job_id_stays_on_its_own_thread(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(load_settings(log_format="json"))
    log = logging.getLogger("portal.test")
    with job_context("job-a"):
        other = threading.Thread(target=log.info, args=("from another thread",))
        other.start()
        other.join()
    (line,) = _json_lines(capsys.readouterr().out)
    assert "job_id" not in line


def test_configure_twice_keeps_one_handler_and_switches_format(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(load_settings(log_format="json"))
    configure_logging(load_settings(log_format="text", log_level="WARNING"))
    log = logging.getLogger("portal.test")
    log.info("dropped: below WARNING")
    with job_context("job-7"):
        log.warning("disk low")
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert "WARNING" in out[0]
    assert "[job_id=job-7]" in out[0]
    assert out[0].endswith("disk low")


def test_gunicorn_and_huey_loggers_go_through_the_same_handler(capsys: pytest.CaptureFixture[str]) -> None:
    stray = logging.StreamHandler()
    logging.getLogger("gunicorn.error").addHandler(stray)
    logging.getLogger("gunicorn.error").propagate = False
    configure_logging(load_settings(log_format="json"))
    logging.getLogger("gunicorn.error").warning("worker timeout")
    logging.getLogger("huey.consumer").warning("consumer started")
    lines = _json_lines(capsys.readouterr().out)
    assert [line["logger"] for line in lines] == ["gunicorn.error", "huey.consumer"]
    assert stray not in logging.getLogger("gunicorn.error").handlers


@pytest.fixture
def small_app() -> Flask:
    app = Flask("request_ids")
    init_request_ids(app)

    @app.get("/echo")
    def echo() -> dict:
        logging.getLogger("portal.view").info("handling")
        return {"request_id": current_request_id()}

    return app


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("abc-123.def:ghi_9", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("has space", False),
        ("<script>", False),
        ("", False),
        (None, False),
    ],
)
def test_request_id_taken_when_safe_else_made(
    small_app: Flask, capsys: pytest.CaptureFixture[str], sent: str | None, kept: bool
) -> None:
    configure_logging(load_settings(log_format="json"))
    headers = {REQUEST_ID_HEADER: sent} if sent is not None else {}
    response = small_app.test_client().get("/echo", headers=headers)
    returned = response.headers[REQUEST_ID_HEADER]
    assert response.get_json()["request_id"] == returned
    if kept:
        assert returned == sent
    else:
        assert returned != sent
        assert len(returned) == 32
        int(returned, 16)
    view_line, access_line = _json_lines(capsys.readouterr().out)
    assert view_line["request_id"] == returned
    assert access_line["request_id"] == returned
    assert access_line["logger"] == "portal.access"
    assert access_line["status"] == 200
    assert access_line["path"] == "/echo"
    # The thread is clean for its next request.
    assert current_request_id() is None


def test_request_id_on_error_responses(small_app: Flask) -> None:
    response = small_app.test_client().get("/missing", headers={REQUEST_ID_HEADER: "trace-1"})
    assert response.status_code == 404
    assert response.headers[REQUEST_ID_HEADER] == "trace-1"
