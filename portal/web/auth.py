"""The shared portal key: X-Portal-Key or Authorization: Bearer, or a signed dashboard session.

Keys compare in constant time; failed attempts are rate-limited per client. A dashboard session may
call the API with its cookie, but then state-changing calls must carry the session's CSRF token.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import defaultdict, deque

from flask import current_app, request, session

from portal.web.errors import ApiError

FAILED_ATTEMPTS_ALLOWED = 10
FAILED_WINDOW_SECONDS = 60.0
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class FailedAuthLimiter:
    """At most N failed attempts per client per window (per process: each gunicorn worker counts alone)."""

    def __init__(self, allowed: int = FAILED_ATTEMPTS_ALLOWED, window: float = FAILED_WINDOW_SECONDS) -> None:
        self.allowed, self.window = allowed, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        failures = self._failures[client]
        while failures and now - failures[0] > self.window:
            failures.popleft()
        return failures

    def blocked(self, client: str) -> bool:
        with self._lock:
            return len(self._recent(client, time.monotonic())) >= self.allowed

    def record_failure(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent(client, now).append(now)


limiter = FailedAuthLimiter()


def client_id() -> str:
    return request.remote_addr or "unknown"


def key_matches(candidate: str | None) -> bool:
    """Constant-time comparison with the configured portal key."""
    expected = current_app.config["PORTAL_KEY"]
    return bool(candidate) and hmac.compare_digest(candidate.encode(), expected.encode())


def presented_key() -> str | None:
    key = request.headers.get("X-Portal-Key")
    if key:
        return key
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def require_api_auth() -> None:
    """before_request of the API: a key in a header, or a signed-in dashboard session (+CSRF)."""
    client = client_id()
    if limiter.blocked(client):
        raise ApiError(429, "too_many_attempts", "too many failed sign-in attempts; wait a minute")
    key = presented_key()
    if key is not None:
        if key_matches(key):
            return
        limiter.record_failure(client)
        raise ApiError(401, "unauthorized", "the portal key is wrong")
    if session.get("authenticated"):
        if request.method not in SAFE_METHODS:
            token = request.headers.get("X-CSRF-Token", "")
            if not hmac.compare_digest(token.encode(), str(session.get("csrf_token", "")).encode()):
                raise ApiError(403, "csrf_failed", "missing or wrong X-CSRF-Token for a session request")
        return
    raise ApiError(401, "unauthorized", "send the portal key as X-Portal-Key or Authorization: Bearer")
