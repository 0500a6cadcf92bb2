"""The gunicorn worker class: gevent, so an idle, slow or streaming client costs a greenlet, not a thread.

gunicorn's gthread worker gives each connection a thread as soon as its first bytes arrive; 16 clients
that send half a header and wait held all 16 threads. Under this worker a waiting client is a few KB of
greenlet, with two bounds so none waits forever:

- the request line and headers must arrive within HEADER_TIMEOUT_S of the connection (or of the
  previous response on a kept-alive one); otherwise the connection is closed without an answer;
- every read of a body and every write of a response waits at most IO_IDLE_TIMEOUT_S for the client
  (a 500 MB upload may take long, but never stall that long between two packets).

gunicorn's own error answers (a malformed request line, a header too large, a URI too long) are JSON in
the API's shape instead of gunicorn's HTML page; the attacker-supplied text is not echoed back.
"""

from __future__ import annotations

import json

import gevent
from gunicorn import util
from gunicorn.workers.ggevent import GeventWorker

HEADER_TIMEOUT_S = 10.0
IO_IDLE_TIMEOUT_S = 60.0

_ERROR_MESSAGES = {
    400: "the request line or its headers are malformed",
    403: "the request was refused",
    414: "the request line is too long",
    417: "the Expect header is not supported",
    431: "the request headers are too large or too many",
    500: "the server hit an unexpected error; see its logs",
    501: "the transfer coding is not supported",
}


def _json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """Replaces gunicorn.util.write_error in this worker: same status, a JSON body, no echo of the input."""
    code = reason.lower().replace(" ", "_")
    body = json.dumps({"error": {"code": code, "message": _ERROR_MESSAGES.get(status_int, reason)}})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, (head + body).encode("latin1"))


class PortalGeventWorker(GeventWorker):
    """gunicorn's gevent worker with bounded header and I/O waits and JSON error answers."""

    def init_process(self) -> None:
        util.write_error = _json_error  # gunicorn's workers call util.write_error for their own errors
        super().init_process()

    def timeout_ctx(self):
        # gunicorn wraps each wait for a request's line and headers in this (silent: the socket closes)
        return gevent.Timeout(HEADER_TIMEOUT_S, False)

    def handle(self, listener, client, addr) -> None:
        client.settimeout(IO_IDLE_TIMEOUT_S)  # gunicorn's own handle() would make it wait forever
        super(GeventWorker, self).handle(listener, client, addr)
