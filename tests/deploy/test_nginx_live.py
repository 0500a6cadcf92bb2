"""The shipped nginx site, run for real on loopback in front of a streaming upstream.

Event streams pass through as they are written while other paths stay buffered, request ids pass through
(or nginx makes one), an upload over the body limit is refused before it reaches the app, and every
answer carries the app's security headers once, nginx's own answers too.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask, Response
from werkzeug.serving import make_server

from portal.logging_setup import REQUEST_ID_HEADER, current_request_id, init_request_ids
from portal.web.headers import init_security_headers, security_headers
from tests.conftest import require_program
from tests.deploy.deployfiles import nginx_test_config

# The test certificate is self-signed.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Upstream:
    """Streams one event, then holds the response open until the test releases it."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.app = Flask("upstream")
        init_request_ids(self.app)
        init_security_headers(self.app)  # as the portal sends them: nginx must not send them twice

        def held_stream() -> Response:
            def events() -> Iterator[str]:
                yield "data: first\n\n"
                self.release.wait(timeout=30)
                yield "data: last\n\n"

            return Response(events(), mimetype="text/event-stream")

        self.app.add_url_rule("/api/jobs/<job_id>/events", "events", lambda job_id: held_stream())
        self.app.add_url_rule("/api/jobs/<job_id>/log", "log", lambda job_id: held_stream())
        self.app.add_url_rule("/echo", "echo", lambda: {"seen": current_request_id()})
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[str, Upstream]]:
    require_program("nginx", shutil.which("nginx") is not None)
    require_program("openssl", shutil.which("openssl") is not None)
    upstream = Upstream()
    upstream.thread.start()
    https_port = _free_port()
    config = nginx_test_config(
        tmp_path, http_port=_free_port(), https_port=https_port, upstream_port=upstream.port
    )
    nginx = subprocess.Popen(
        ["nginx", "-p", str(tmp_path), "-c", str(config), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"https://127.0.0.1:{https_port}"
    try:
        deadline = time.monotonic() + 30  # a bound for a busy machine (it starts in well under a second)
        while True:
            try:
                requests.get(f"{base}/echo", verify=False, timeout=2)
                break
            except requests.ConnectionError:
                assert nginx.poll() is None, nginx.stderr.read().decode() if nginx.stderr else ""
                assert time.monotonic() < deadline, "nginx did not answer in 30 s"
                time.sleep(0.05)
        yield base, upstream
    finally:
        upstream.release.set()
        nginx.terminate()
        nginx.wait(timeout=10)
        upstream.server.shutdown()


def _first_event(url: str, read_timeout: float) -> bytes:
    with requests.get(url, stream=True, verify=False, timeout=(5, read_timeout)) as response:
        assert response.status_code == 200
        received = b""
        for byte in response.iter_content(chunk_size=1):
            received += byte
            if received.endswith(b"\n\n"):
                return received
    return received


def test_events_arrive_while_the_stream_is_still_open(proxied: tuple[str, Upstream]) -> None:
    base, _upstream = proxied
    # The upstream holds the stream after the first event: it can only arrive if nginx does not buffer.
    assert _first_event(f"{base}/api/jobs/3f2a9c/events", read_timeout=20) == b"data: first\n\n"


def test_other_paths_stay_buffered(proxied: tuple[str, Upstream]) -> None:
    base, upstream = proxied
    # Proof that the test above can fail: the same held stream on a buffered path yields nothing yet.
    with pytest.raises(requests.exceptions.ReadTimeout):
        _first_event(f"{base}/api/jobs/3f2a9c/log", read_timeout=1.0)
    upstream.release.set()


def test_request_id_passes_through_or_nginx_makes_one(proxied: tuple[str, Upstream]) -> None:
    base, _upstream = proxied
    sent = requests.get(
        f"{base}/echo", headers={REQUEST_ID_HEADER: "client-trace-7"}, verify=False, timeout=5
    )
    assert sent.json()["seen"] == "client-trace-7"
    assert sent.headers[REQUEST_ID_HEADER] == "client-trace-7"

    made = requests.get(f"{base}/echo", verify=False, timeout=5)
    nginx_id = made.json()["seen"]
    assert len(nginx_id) == 32 and int(nginx_id, 16) >= 0
    assert made.headers[REQUEST_ID_HEADER] == nginx_id


def _oversized_upload_answer(base: str) -> bytes:
    """The head of nginx's answer to an upload that declares 600 MB (none of it is sent)."""
    with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1]))) as raw:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(
                b"POST /api/uploads HTTP/1.1\r\nHost: localhost\r\nContent-Type: video/mp4\r\n"
                + f"Content-Length: {600 * 1_048_576}\r\n\r\n".encode()
            )
            return tls.recv(4096).split(b"\r\n\r\n", 1)[0]


def test_oversized_upload_refused_before_the_app(proxied: tuple[str, Upstream]) -> None:
    base, _upstream = proxied
    status_line = _oversized_upload_answer(base).split(b"\r\n", 1)[0]
    assert status_line.endswith(b"413 Request Entity Too Large")


def test_security_headers_once_on_every_answer(proxied: tuple[str, Upstream]) -> None:
    base, _upstream = proxied
    proxied_answer = requests.get(f"{base}/echo", verify=False, timeout=5)
    for name, value in security_headers().items():
        assert proxied_answer.raw.headers.getlist(name) == [value], name
    # nginx's own answer (the app never sees the request) carries them too
    head = _oversized_upload_answer(base).decode().split("\r\n")[1:]
    own = [tuple(line.split(": ", 1)) for line in head]
    for name, value in security_headers().items():
        assert [v for n, v in own if n.lower() == name.lower()] == [value], name
