"""Slow, idle and streaming clients against gunicorn as deployed (issue 10, items 1, 2 and 12)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from tests.web.server import KEY, Server

# gthread's pool was 16 threads: this many half-sent requests used to stop the server.
HALF_HEADERS = 64


@contextlib.contextmanager
def half_headers(server: Server, count: int) -> Iterator[list[socket.socket]]:
    """Connections that send the start of a request and then nothing."""
    held = []
    try:
        for _ in range(count):
            conn = socket.create_connection(("127.0.0.1", server.port))
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: portal\r\n")
            held.append(conn)
        yield held
    finally:
        for conn in held:
            conn.close()


def _metric(server: Server, name: str) -> float:
    for line in server.call("GET", "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def _wait_for(check, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def test_half_sent_requests_neither_block_the_server_nor_stay_forever(idle_server: Server) -> None:
    with half_headers(idle_server, HALF_HEADERS) as held:
        # every probe and API call answers while they wait
        assert requests.get(f"{idle_server.url}/healthz", timeout=10).json() == {"status": "ok"}
        assert idle_server.call("GET", "/api/jobs").status_code == 200
        # the header deadline closes them: the server ends each connection without an answer
        for conn in held:
            conn.settimeout(60)
            assert conn.recv(100) == b""


def test_gunicorns_own_errors_are_json_and_do_not_echo_the_request(idle_server: Server) -> None:
    too_long = requests.get(f"{idle_server.url}/{'a' * 9000}", timeout=10)
    assert too_long.status_code == 414 and too_long.headers["Content-Type"] == "application/json"
    assert too_long.json()["error"]["code"] == "uri_too_long" and "aaaa" not in too_long.text
    with socket.create_connection(("127.0.0.1", idle_server.port)) as conn:
        conn.sendall(b"<script>alert(1)</script>\r\n\r\n")
        conn.settimeout(10)
        answer = conn.recv(4096).decode()
    head, _, body = answer.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 400") and "Content-Type: application/json" in head
    assert '"code": "bad_request"' in body and "script" not in body


def _queued_job(server: Server, clip: Path) -> str:
    return server.process_upload(clip, ["watchthefall"])["id"]


def test_one_stream_follows_many_jobs_and_a_left_client_is_noticed(idle_server: Server, clip: Path) -> None:
    jobs = [_queued_job(idle_server, clip) for _ in range(3)]
    url = f"{idle_server.url}/api/events?jobs={','.join(jobs)}"
    with requests.get(url, headers={"X-Portal-Key": KEY}, stream=True, timeout=30) as response:
        assert response.status_code == 200 and response.headers["X-Accel-Buffering"] == "no"
        lines = response.iter_lines(decode_unicode=True)
        first = [next(line for line in lines if line.startswith("data:")) for _ in jobs]
        assert [f'"id": "{job}"' in line for job, line in zip(jobs, first, strict=True)] == [True] * 3
        assert all('"status": "queued"' in line for line in first)
        assert _wait_for(lambda: _metric(idle_server, "wtf_event_streams") == 1)
        # a job cancelled while followed: its end arrives on the same stream
        assert idle_server.call("POST", f"/api/jobs/{jobs[1]}/cancel").status_code == 202
        ended = next(line for line in lines if line.startswith("data:") and jobs[1] in line)
        assert '"status": "cancelled"' in ended
    # the client left (the jobs are still queued): the server notices without writing to it
    assert _wait_for(lambda: _metric(idle_server, "wtf_event_streams") == 0, seconds=10)  # < a heartbeat


def test_stream_of_many_refuses_unknown_and_too_many_jobs(idle_server: Server) -> None:
    assert idle_server.call("GET", "/api/events?jobs=nope").status_code == 404
    assert idle_server.call("GET", "/api/events").status_code == 400
    many = ",".join(f"j{i}" for i in range(101))
    assert idle_server.call("GET", f"/api/events?jobs={many}").json()["error"]["code"] == "too_many_jobs"


def test_a_forged_line_in_a_path_stays_on_one_log_line(idle_server: Server) -> None:
    idle_server.call("GET", "/api/jobs/x%0aFAKE%20ERROR%20forged")
    log = (idle_server.data_dir / "server.log").read_text()
    assert "x\\nFAKE ERROR forged" in log
    assert not any(line.startswith("FAKE ERROR") for line in log.splitlines())
