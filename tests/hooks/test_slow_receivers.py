"""A receiver that trickles its answer: the try ends at WTF_WEBHOOK_TIMEOUT_S (its whole deadline, not one
read's), nobody sends the same delivery meanwhile, and the other deliveries go on without waiting."""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

from portal.database import utc_now
from portal.jobs.webhooks import WebhookSender
from tests.hooks.receiver import Receiver
from tests.hooks.test_sender import _database, _delivery, _ended_job

TRICKLE_PAUSE_S = 0.2  # one byte of the answer at a time, each well within a read timeout
TRICKLE_BYTES = 600  # two minutes of answer if nobody cuts it


class Trickler:
    """Reads a request, then sends its answer a byte at a time; notes when its connection is cut."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.requests = 0
        self.cut = threading.Event()
        self.finished = threading.Event()
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"

    def _serve(self) -> None:
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            self.requests += 1
            threading.Thread(target=self._trickle, args=(connection,), daemon=True).start()

    def _trickle(self, connection: socket.socket) -> None:
        with connection:
            connection.recv(65536)
            answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * TRICKLE_BYTES + b"\r\nContent-Length: 0\r\n\r\n"
            try:
                for byte in answer:
                    if self._stop.is_set():
                        return
                    connection.sendall(bytes([byte]))
                    self._stop.wait(TRICKLE_PAUSE_S)
                self.finished.set()
            except OSError:  # the sender shut the connection
                self.cut.set()

    def __enter__(self) -> Trickler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.thread.join()
        self.listener.close()


def test_a_trickled_answer_is_cut_at_the_deadline(tmp_path: Path) -> None:
    database = _database(tmp_path, allow_private_urls=True, webhook_timeout_s=1.5)
    with Trickler() as trickler:
        job_id = _ended_job(database, trickler.url)
        assert WebhookSender(database, database.settings).send_due() == 1
        assert trickler.cut.wait(timeout=30) and not trickler.finished.is_set()
    delivery = _delivery(database, job_id)
    assert delivery.last_error == "no complete answer within 1.5 s (WTF_WEBHOOK_TIMEOUT_S)"
    assert (delivery.status, delivery.attempts) == ("pending", 1)  # tried again later, as any failed try


def test_a_slow_receiver_delays_no_other_delivery_and_is_not_sent_twice(tmp_path: Path) -> None:
    database = _database(tmp_path, allow_private_urls=True, webhook_timeout_s=20)
    with Trickler() as trickler, Receiver() as fast:
        slow_job = _ended_job(database, trickler.url)
        fast_job = _ended_job(database, fast.url)
        sender = WebhookSender(database, database.settings)
        before = utc_now().replace(tzinfo=None)
        assert sender.send_due(wait=False) == 2  # both tries start; neither waits for the other
        fast.wait_for(1)
        while _delivery(database, fast_job).status != "delivered":
            assert not trickler.cut.is_set(), "the fast delivery waited for the slow one"
        assert not trickler.cut.is_set()  # the slow try is still going: the fast one did not wait for it
        # meanwhile another worker's sender finds nothing to send: the claim covers the whole try
        claimed_until = _delivery(database, slow_job).claimed_until.replace(tzinfo=None)
        assert claimed_until >= before + timedelta(seconds=20)  # the claim outlives the try's deadline
        assert WebhookSender(database, database.settings).send_due() == 0
        assert trickler.cut.wait(timeout=120)
        deadline = time.monotonic() + 60  # a bound: the pool thread records the failed try
        while _delivery(database, slow_job).attempts == 0:
            assert time.monotonic() < deadline, "the slow try was never recorded"
            time.sleep(0.05)
    slow = _delivery(database, slow_job)
    assert trickler.requests == 1
    assert slow.last_error == "no complete answer within 20 s (WTF_WEBHOOK_TIMEOUT_S)"
