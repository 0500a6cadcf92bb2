"""The shared portal key: X-Portal-Key or Authorization: Bearer, or a signed dashboard session.

Keys compare in constant time. Wrong keys are rate-limited per client address (the real one behind
WTF_TRUSTED_PROXIES proxies): past the limit a wrong or missing key answers 429 with Retry-After, but
the right key is always let in, so one client's typos (or an attacker behind the same proxy) never
lock out the people who know the key. A dashboard session may call the API with its cookie, but then
state-changing calls must carry the session's CSRF token.

Sessions carry an epoch: an HMAC, under the portal key, of a random value kept in the database (one row,
shared by every web replica). Signing out draws a new value and a new portal key changes the HMAC, so
either ends every session signed before it (the cookie alone, copied or kept, no longer works). A database
without the value (new, or wiped as on an ephemeral disk) draws one, so no older cookie matches it.
"""

from __future__ import annotations

import hmac
import math
import secrets
import threading
import time
from collections import defaultdict, deque
from hashlib import sha256

from flask import current_app, request, session
from sqlalchemy.exc import IntegrityError

from portal.database import SESSION_EPOCH_ROW, SessionEpoch
from portal.web.errors import ApiError
from portal.web.runtime import runtime

FAILED_ATTEMPTS_ALLOWED = 10
FAILED_WINDOW_SECONDS = 60.0
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
CSRF_SESSION_KEY = "csrf_token"


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

    def retry_after(self, client: str) -> int:
        """Seconds until this client may try a wrong key again; 0 if it is not blocked."""
        with self._lock:
            now = time.monotonic()
            failures = self._recent(client, now)
            if len(failures) < self.allowed:
                return 0
            return max(1, math.ceil(failures[-self.allowed] + self.window - now))

    def record_failure(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent(client, now).append(now)


limiter = FailedAuthLimiter()


def client_id() -> str:
    return request.remote_addr or "unknown"


def requester() -> str:
    """Who is asking, as a job's record shows it: the key's holder (a script) or a dashboard session, and
    from where (there is one key, so nothing more precise is known)."""
    return f"{'api key' if presented_key() else 'dashboard'} from {client_id()}"


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


def too_many_attempts(client: str) -> ApiError:
    wait = limiter.retry_after(client)
    return ApiError(
        429, "too_many_attempts", f"too many wrong keys from this address; try again in {wait} s",
        headers={"Retry-After": str(wait)},
    )  # fmt: skip


def _stored_epoch() -> str:
    """The shared random value, drawn on first use."""
    with runtime().db.session() as db_session:
        row = db_session.get(SessionEpoch, SESSION_EPOCH_ROW)
        if row is not None:
            return row.value
    try:
        return _write_epoch(replace=False)
    except IntegrityError:  # another replica drew the first value at the same moment: theirs holds
        return _stored_epoch()


def _write_epoch(*, replace: bool) -> str:
    """Draw a value and store it (over the stored one only if `replace`); the value now stored."""
    value = secrets.token_hex(32)
    with runtime().db.session() as db_session:
        row = db_session.get(SessionEpoch, SESSION_EPOCH_ROW, with_for_update=True)
        if row is None:
            db_session.add(SessionEpoch(id=SESSION_EPOCH_ROW, value=value))
        elif replace:
            row.value = value
        else:
            return row.value
    return value


def session_epoch() -> str:
    """The value a valid session carries now (see the module's docstring)."""
    stored = _stored_epoch().encode()
    return hmac.new(current_app.config["PORTAL_KEY"].encode(), stored, sha256).hexdigest()


def end_all_sessions() -> None:
    """Draw a new epoch: every dashboard session signed in before now stops working."""
    try:
        _write_epoch(replace=True)
    except IntegrityError:  # the first value was being drawn at this moment: replace it
        _write_epoch(replace=True)


def start_session() -> None:
    """Sign this browser in (after the key was checked): a fresh session of the current epoch, with its
    own CSRF token from the start."""
    session.clear()
    session["authenticated"] = True
    session["epoch"] = session_epoch()
    session[CSRF_SESSION_KEY] = secrets.token_urlsafe(32)
    session.permanent = True


def csrf_token() -> str:
    """This session's CSRF token: drawn at sign-in, or for the sign-in form of a browser not signed in."""
    if not session.get(CSRF_SESSION_KEY):
        session[CSRF_SESSION_KEY] = secrets.token_urlsafe(32)
    return session[CSRF_SESSION_KEY]


def csrf_matches(sent: str | None) -> bool:
    """The session's token was sent back; an empty or missing token (sent or kept) never matches."""
    expected = session.get(CSRF_SESSION_KEY)
    if not sent or not isinstance(expected, str) or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def session_valid() -> bool:
    """A signed-in dashboard session of the current epoch (not signed out, key unchanged since)."""
    epoch = session.get("epoch")
    return (
        bool(session.get("authenticated"))
        and isinstance(epoch, str)
        and hmac.compare_digest(epoch.encode(), session_epoch().encode())
    )


def carries_valid_credentials() -> bool:
    """The right key in a header, or a valid session; nothing counted against the client either way."""
    key = presented_key()
    return key_matches(key) if key is not None else session_valid()


def require_api_auth() -> None:
    """before_request of the API: a key in a header, or a signed-in dashboard session (+CSRF)."""
    client = client_id()
    key = presented_key()
    if key is not None:
        if key_matches(key):
            return  # the right key is never refused, whatever others sent from this address
        if limiter.retry_after(client):
            raise too_many_attempts(client)
        limiter.record_failure(client)
        raise ApiError(401, "unauthorized", "the portal key is wrong")
    if session_valid():
        if request.method not in SAFE_METHODS and not csrf_matches(request.headers.get("X-CSRF-Token")):
            raise ApiError(403, "csrf_failed", "missing or wrong X-CSRF-Token for a session request")
        return
    if limiter.retry_after(client):
        raise too_many_attempts(client)
    raise ApiError(401, "unauthorized", "send the portal key as X-Portal-Key or Authorization: Bearer")
