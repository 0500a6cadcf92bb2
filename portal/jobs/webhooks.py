"""Webhooks (DESIGN 4.7): when a job ends, its `webhook_url` is told, signed, retried and never lost.

The delivery is written in the same transaction as the job's end (an outbox row), so the promise survives
any crash after the job ended; a sender thread in every worker process claims due rows, POSTs them and
records the answer. A claim expires, so a sender killed mid-try is replaced by the next one: delivery is
at least once, and the `X-WTF-Delivery` id lets a receiver drop a repeat.

A try has one deadline, WTF_WEBHOOK_TIMEOUT_S, for all of it (connect, send, read): a receiver that
trickles its answer a byte at a time has its connection cut when the deadline passes. The claim outlives
that deadline, so no other sender tries the same delivery meanwhile. Tries run in a small pool of threads:
a slow receiver holds one thread, and the other deliveries go on in the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from datetime import timedelta
from http.client import HTTPConnection, HTTPSConnection
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from portal import __version__
from portal.acquire.downloader import UrlRefusedError, check_url, policed_connections
from portal.config import Settings
from portal.database import Database, Job, WebhookDelivery, utc_now
from portal.errors import PortalError
from portal.jobs.answer import JobOut, describe_job
from portal.jobs.status import JobStatus
from portal.logging_setup import job_context
from portal.storage.links import signed_link, signer_for

log = logging.getLogger(__name__)

EVENTS = {status: f"job.{status}" for status in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)}
# about one output of a finished job (DESIGN 4.12); the body adds `output`, its number in the JOB object
OUTPUT_APPROVED = "output.approved"
OUTPUT_RERENDERED = "output.rerendered"
TIMESTAMP_HEADER = "X-WTF-Timestamp"
SIGNATURE_HEADER = "X-WTF-Signature"
DELIVERY_HEADER = "X-WTF-Delivery"
EVENT_HEADER = "X-WTF-Event"
POLL_SECONDS = 1.0  # how soon a sender notices a new or due delivery
CLAIM_MARGIN_SECONDS = 30.0  # a claim outlives a try's deadline by this much (recording the answer)
BATCH = 20
SENDER_THREADS = 4  # tries at once per process: that many slow receivers at a time delay the others
RESPONSE_READ_LIMIT = 65_536  # a receiver's answer is read (so the connection closes cleanly), not kept


class WebhooksDisabledError(PortalError):
    """A webhook was asked for, but WTF_WEBHOOK_SECRET is not set, so nothing could be signed."""

    code = "webhooks_disabled"
    status = 422


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=HEX`: HMAC-SHA256 of `TIMESTAMP.BODY` with the shared secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_valid(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver checks (constant time); docs/API.md shows the same in ten lines."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def check_target(url: str | None, settings: Settings) -> None:
    """A submission's webhook_url (if any): webhooks must be on and the URL policy must allow the target."""
    if url is None:
        return
    if not settings.webhook_secret:
        raise WebhooksDisabledError(
            "webhooks are off on this server: the operator has not set WTF_WEBHOOK_SECRET"
        )
    try:
        check_url(url, settings.allow_private_urls)
    except UrlRefusedError as exc:
        raise UrlRefusedError(f"webhook_url: {exc}") from None


def record_job_end(session: Session, job: Job, settings: Settings) -> WebhookDelivery | None:
    """Owe one delivery for this job's end, in the caller's transaction; None if the job has no webhook."""
    return record_event(session, job, settings, EVENTS[job.status])


def record_event(
    session: Session, job: Job, settings: Settings, event: str, output: int | None = None
) -> WebhookDelivery | None:
    """Owe one delivery of `event` about the job (or its output number `output`), in the caller's
    transaction; None if the job has no webhook.

    The body is fixed now (the JOB object as GET /api/jobs/ID shows it at that moment, checked by the same
    model), so every try sends and signs the same bytes; its output links are signed like the API's.
    """
    if not job.webhook_url:
        return None
    signer = signer_for(settings)
    try:
        described = describe_job(job, lambda name: signed_link(signer, name))
        job_object = JobOut.model_validate(described).model_dump(mode="json")
    except Exception:  # a bug here must not keep the job from ending (it would be run again and again)
        log.exception("job %s: no webhook delivery, the job could not be described", job.id)
        return None
    body = {"event": event, "job": job_object, **({"output": output} if output is not None else {})}
    delivery = WebhookDelivery(
        job_id=job.id,
        event=event,
        url=job.webhook_url,
        body=json.dumps(body, separators=(",", ":")),
        status="pending",
        attempts=0,
        next_try_at=utc_now(),
    )
    session.add(delivery)
    return delivery


def max_tries(settings: Settings) -> int:
    return 1 + len(settings.webhook_retry_delays_s)


class WebhookSender:
    """Claims due deliveries, POSTs them and records each try; one per worker process."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._pool = ThreadPoolExecutor(SENDER_THREADS, thread_name_prefix="webhook-try")
        self._free = threading.BoundedSemaphore(SENDER_THREADS)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.send_due(wait=False)  # tries go on in the pool while the next pass looks for more
            except Exception:  # a busy or lost database must not end the sender; the next pass retries
                log.warning("webhook pass failed", exc_info=True)
            stop.wait(POLL_SECONDS)

    def send_due(self, wait: bool = True) -> int:
        """Start a try of each delivery due now, as many as the pool has free threads; answer how many
        were started (`wait`: after they have ended)."""
        now = utc_now()
        with self.db.session() as session:
            due = session.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_try_at <= now,
                    or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
                )
                .order_by(WebhookDelivery.next_try_at)
                .limit(BATCH)
            ).all()
        started = []
        for delivery_id in due:
            if not self._free.acquire(blocking=False):
                break  # every thread is busy: the rest wait for the next pass
            if not self._claim(delivery_id):
                self._free.release()
                continue
            started.append(self._pool.submit(self._try_in_pool, delivery_id))
        if wait:
            wait_for(started)
        return len(started)

    def _try_in_pool(self, delivery_id: str) -> None:
        try:
            self._try(delivery_id)
        except Exception:  # the claim expires and the next pass tries again
            log.warning("webhook try of %s failed", delivery_id, exc_info=True)
        finally:
            self._free.release()

    def _claim(self, delivery_id: str) -> bool:
        now = utc_now()
        until = now + timedelta(seconds=self.settings.webhook_timeout_s + CLAIM_MARGIN_SECONDS)
        with self.db.session() as session:
            result = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.status == "pending",
                    or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
                )
                .values(claimed_until=until)
            )
            return result.rowcount == 1

    def _try(self, delivery_id: str) -> None:
        with self.db.session() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            job_id, url, event, body = delivery.job_id, delivery.url, delivery.event, delivery.body.encode()
        with job_context(job_id):
            status, error = self._post(delivery_id, url, event, body)
            self._record(delivery_id, status, error)

    def _post(self, delivery_id: str, url: str, event: str, body: bytes) -> tuple[int | None, str | None]:
        """One POST; the receiver's status, or why there was none. A redirect is an answer, not followed:
        following it could reach an address the policy refuses, with a signed body nobody asked for."""
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"wtf-portal/{__version__} webhooks",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self.settings.webhook_secret or "", timestamp, body),
            DELIVERY_HEADER: delivery_id,
            EVENT_HEADER: event,
        }
        parts = urlsplit(url)
        connection_class = HTTPSConnection if parts.scheme == "https" else HTTPConnection
        deadline_s = self.settings.webhook_timeout_s
        connection = connection_class(parts.hostname, parts.port, timeout=deadline_s)
        allow_private = self.settings.allow_private_urls
        # the one deadline of the whole try: each socket timeout bounds one read, not a trickled answer
        cut = threading.Event()
        watchdog = threading.Timer(deadline_s, _cut_connection, args=(connection, cut))
        watchdog.daemon = True
        watchdog.start()
        try:
            # the policy again, at send time: the host's DNS answer may have changed since submission
            check_url(url, allow_private)
            with policed_connections(not allow_private):
                connection.request(
                    "POST", urlunsplit(("", "", parts.path or "/", parts.query, "")), body, headers
                )
                response = connection.getresponse()
                response.read(RESPONSE_READ_LIMIT)
            if cut.is_set():  # the answer was cut short (http.client may read a cut header as the end)
                raise TimeoutError
            return response.status, None
        except Exception as exc:  # refused, unreachable, timed out, TLS...: a failed try, retried
            if cut.is_set():
                return None, f"no complete answer within {deadline_s:g} s (WTF_WEBHOOK_TIMEOUT_S)"
            return None, (str(exc) or type(exc).__name__)[:500]
        finally:
            watchdog.cancel()
            connection.close()

    def _record(self, delivery_id: str, status: int | None, error: str | None) -> None:
        delays = self.settings.webhook_retry_delays_s
        now = utc_now()
        with self.db.session() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            delivery.attempts += 1
            delivery.last_status, delivery.claimed_until = status, None
            delivery.last_error = error or (None if status and 200 <= status < 300 else f"HTTP {status}")
            if status is not None and 200 <= status < 300:
                delivery.status, delivery.delivered_at, delivery.next_try_at = "delivered", now, None
            elif delivery.attempts > len(delays):
                delivery.status, delivery.next_try_at = "failed", None
            else:
                delivery.next_try_at = now + timedelta(seconds=delays[delivery.attempts - 1])
            outcome, attempts, job_id = delivery.status, delivery.attempts, delivery.job_id
            event, problem = delivery.event, delivery.last_error
        if outcome == "delivered":
            log.info("webhook %s delivered (HTTP %s, try %d)", event, status, attempts)
        else:
            log.warning("webhook %s try %d failed: %s", event, attempts, problem)
        if outcome != "pending":
            result = f"delivered (HTTP {status})" if outcome == "delivered" else f"given up: {problem}"
            self.db.log("INFO" if outcome == "delivered" else "WARNING",
                        f"webhook {event}: {result} after {attempts} tries", job_id)  # fmt: skip


def _cut_connection(connection: HTTPConnection, cut: threading.Event) -> None:
    """The try's deadline passed: shut its socket, which ends whatever read or write is waiting on it."""
    cut.set()
    sock = connection.sock  # None before connecting (connect has the same timeout) and after closing
    if sock is not None:
        with contextlib.suppress(OSError):  # closed meanwhile
            sock.shutdown(socket.SHUT_RDWR)


def start_sender(db: Database, settings: Settings, stop: threading.Event) -> threading.Thread:
    """The sender of this worker process, as a daemon thread that ends when `stop` is set."""
    thread = threading.Thread(
        target=WebhookSender(db, settings).run, args=(stop,), name="webhooks", daemon=True
    )
    thread.start()
    return thread
