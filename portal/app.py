"""The Flask application factory and the module-level `app` (gunicorn target `portal.app:app`)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import sys

from flask import Flask

from portal.config import ConfigError, PortalKey, Settings, portal_key, startup_settings
from portal.jobs.consumer import ensure_consumer
from portal.jobs.tasks import register_tasks
from portal.logging_setup import configure_logging, init_request_ids
from portal.runtime import Runtime
from portal.web import api, dashboard, debug, events, health, openapi, sources, v3
from portal.web.errors import register_error_handlers
from portal.web.headers import init_security_headers
from portal.web.health import init_metrics
from portal.web.limits import init_request_limits


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from validated settings; refuse to start without a portal key outside dev mode."""
    settings = startup_settings(settings)
    configure_logging(settings)
    settings.ensure_dirs()

    key = portal_key(settings)
    app = Flask(__name__)
    app.config.update(
        PORTAL_KEY=key.value,
        PORTAL_KEY_KEPT_IN=key.kept_in,  # the sign-in page says where the key comes from
        SECRET_KEY=settings.secret_key or _session_secret(key),
        MAX_CONTENT_LENGTH=settings.max_upload_mb * 1_048_576,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not settings.dev_mode,
        JSON_SORT_KEYS=False,
    )
    rt = register_tasks(Runtime(settings))
    rt.db.upgrade()
    app.extensions["runtime"] = rt

    init_request_limits(app, settings.trusted_proxies)
    init_request_ids(app)
    init_security_headers(app, rt.storage.presigned_origin())
    register_error_handlers(app)
    init_metrics(app, rt)
    for blueprint in (api.bp, sources.bp, events.bp, debug.bp, health.bp, dashboard.bp, v3.bp, openapi.bp):
        app.register_blueprint(blueprint)
    return app


def _session_secret(key: PortalKey) -> str:
    """Without WTF_SECRET_KEY: a local run's sessions are signed with a secret derived from its kept key, so
    a restart keeps the browser signed in; elsewhere each process draws one (set WTF_SECRET_KEY)."""
    if key.kept_in is None:
        return secrets.token_urlsafe(32)
    return hmac.new(key.value.encode(), b"session cookie", hashlib.sha256).hexdigest()


def __getattr__(name: str) -> Flask:
    """`portal.app:app` is built on first access (PEP 562), so importing this module reads no environment."""
    if name != "app":
        raise AttributeError(name)
    try:
        application = create_app()
    except ConfigError as exc:
        print(f"wtf-portal: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    # the WSGI entry point: make sure something consumes the queue, whatever server runs the app (checked
    # on the first request, so `gunicorn --check-config` and imports start nothing)
    settings = application.extensions["runtime"].settings
    application.before_request(functools.cache(lambda: ensure_consumer(settings)))
    globals()["app"] = application
    return application
