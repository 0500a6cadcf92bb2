"""Faults a test can inject on loopback: a TCP proxy in front of a server that can be cut (connections
refused and the open ones dropped, as an unreachable host) or made to hang (connections accepted, never
answered, as a store that is overloaded), and restored; and a static site for link jobs."""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.conftest import free_port

OPEN, CUT, HANG = "open", "cut", "hang"


class TcpProxy:
    """127.0.0.1:`port` -> 127.0.0.1:`target`, with `cut()`, `hang()` and `restore()`."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self.mode = OPEN
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut(self) -> None:
        """Unreachable: new connections are refused and the open ones are dropped."""
        self.mode = CUT
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._drop_all()

    def hang(self) -> None:
        """Connections are accepted and never answered (the open ones are dropped first)."""
        self.mode = HANG
        self._drop_all()

    def restore(self) -> None:
        self.mode = OPEN
        if self._listener is None:
            self.start()

    def _drop_all(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _track(self, *sockets: socket.socket) -> None:
        with self._lock:
            self._sockets.update(sockets)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            self._track(client)
            if self.mode == HANG:
                continue  # held open, never read, never answered
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._track(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    for sock in (source, sink):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def static_site(root: Path) -> Iterator[str]:
    """The files of `root` over HTTP on 127.0.0.1 (direct links for link jobs); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass
