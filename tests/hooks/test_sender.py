"""The sender against a real loopback receiver and a real SQLite database: signing, retries, giving up."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from portal.config import load_settings
from portal.database import Database, Job, WebhookDelivery, new_id
from portal.jobs.webhooks import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSender,
    record_job_end,
    signature_valid,
)
from tests.hooks.receiver import Receiver

SECRET = "webhook-secret-0123456789"


def _database(tmp_path: Path, **settings) -> Database:
    database = Database(load_settings(data_dir=tmp_path, webhook_secret=SECRET, **settings))
    database.upgrade()
    return database


def _ended_job(database: Database, url: str, status: str = "completed") -> str:
    with database.session() as session:
        job = Job(id=new_id(), kind="render", status=status, progress=100.0, source_kind="url",
                  source_name="https://example.com/v.mp4", brands=["a"], preset="source", attempts=1,
                  cancel_requested=False, webhook_url=url)  # fmt: skip
        session.add(job)
        session.flush()
        record_job_end(session, job, database.settings)
        return job.id


def _delivery(database: Database, job_id: str) -> WebhookDelivery:
    with database.session() as session:
        (delivery,) = session.query(WebhookDelivery).filter_by(job_id=job_id).all()
        return delivery


def test_a_delivery_is_signed_and_sent_once(tmp_path: Path) -> None:
    database = _database(tmp_path, allow_private_urls=True)
    with Receiver() as receiver:
        job_id = _ended_job(database, receiver.url)
        sender = WebhookSender(database, database.settings)
        assert sender.send_due() == 1
        assert sender.send_due() == 0  # delivered: nothing is due any more
        (got,) = receiver.received
    body = json.loads(got.body)
    assert body["event"] == "job.completed"
    assert (body["job"]["id"], body["job"]["status"]) == (job_id, "completed")
    assert got.headers["Content-Type"] == "application/json"
    assert signature_valid(SECRET, got.headers[TIMESTAMP_HEADER], got.body, got.headers[SIGNATURE_HEADER])
    assert not signature_valid("another-secret-0123456", got.headers[TIMESTAMP_HEADER], got.body,
                               got.headers[SIGNATURE_HEADER])  # fmt: skip
    delivery = _delivery(database, job_id)
    assert got.headers[DELIVERY_HEADER] == delivery.id
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("delivered", 1, 200)


def test_failed_tries_follow_the_schedule_then_give_up(tmp_path: Path) -> None:
    database = _database(tmp_path, allow_private_urls=True, webhook_retry_delays="0,0")
    with Receiver(then=503) as receiver:
        job_id = _ended_job(database, receiver.url, status="failed")
        sender = WebhookSender(database, database.settings)
        tried = [sender.send_due() for _ in range(4)]
    assert tried == [1, 1, 1, 0]  # the first try and one after each of the two delays
    assert len(receiver.received) == 3
    delivery = _delivery(database, job_id)
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("failed", 3, 503)
    assert delivery.last_error == "HTTP 503" and delivery.next_try_at is None


def test_a_retry_waits_for_its_delay(tmp_path: Path) -> None:
    database = _database(tmp_path, allow_private_urls=True, webhook_retry_delays="3600")
    with Receiver(statuses=[500]) as receiver:
        job_id = _ended_job(database, receiver.url)
        sender = WebhookSender(database, database.settings)
        assert [sender.send_due(), sender.send_due()] == [1, 0]
    delivery = _delivery(database, job_id)
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
    assert (delivery.next_try_at - delivery.created_at).total_seconds() >= 3600


def test_no_answer_is_a_failed_try(tmp_path: Path) -> None:
    database = _database(tmp_path, allow_private_urls=True, webhook_retry_delays="60")
    with Receiver() as receiver:
        url = receiver.url
    job_id = _ended_job(database, url)  # the receiver is gone: connection refused
    WebhookSender(database, database.settings).send_due()
    delivery = _delivery(database, job_id)
    assert (delivery.status, delivery.attempts, delivery.last_status) == ("pending", 1, None)
    assert "refused" in delivery.last_error.lower()


def test_a_redirect_is_not_followed(tmp_path: Path) -> None:
    database = _database(tmp_path, allow_private_urls=True, webhook_retry_delays="60")
    with Receiver() as target:

        class Redirect(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.send_response(307)
                self.send_header("Location", target.url)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            job_id = _ended_job(database, f"http://127.0.0.1:{server.server_address[1]}/")
            WebhookSender(database, database.settings).send_due()
        finally:
            server.shutdown()
            server.server_close()
        assert target.received == []
    delivery = _delivery(database, job_id)
    assert (delivery.status, delivery.last_status) == ("pending", 307)


@pytest.mark.parametrize("allowed", [False, True])
def test_a_private_target_is_refused_at_send_time_unless_allowed(tmp_path: Path, allowed: bool) -> None:
    database = _database(tmp_path, allow_private_urls=allowed, webhook_retry_delays="60")
    with Receiver() as receiver:
        job_id = _ended_job(database, receiver.url)
        WebhookSender(database, database.settings).send_due()
        assert len(receiver.received) == (1 if allowed else 0)
    delivery = _delivery(database, job_id)
    if allowed:
        assert delivery.status == "delivered"
    else:
        assert delivery.status == "pending" and "private" in delivery.last_error
