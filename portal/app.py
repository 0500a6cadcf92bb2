"""The Flask application factory and the module-level `app` (gunicorn target `portal.app:app`)."""

from __future__ import annotations

import functools
import secrets
import sys

from flask import Flask

from portal.config import ConfigError, Settings, startup_settings
from portal.jobs.consumer import ensure_consumer
from portal.jobs.tasks import register_tasks
from portal.logging_setup import configure_logging, init_request_ids
from portal.runtime import Runtime
from portal.web import api, dashboard, debug, events, health, openapi, v3
from portal.web.errors import register_error_handlers
from portal.web.health import init_metrics
from portal.web.limits import init_request_limits


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from validated settings; refuse to start without a portal key outside dev mode."""
    settings = startup_settings(settings)
    configure_logging(settings)
    settings.ensure_dirs()

    app = Flask(__name__)
    app.config.update(
        PORTAL_KEY=settings.portal_key or secrets.token_urlsafe(24),
        SECRET_KEY=settings.secret_key or secrets.token_urlsafe(32),
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
    register_error_handlers(app)
    init_metrics(app, rt)
    for blueprint in (api.bp, events.bp, debug.bp, health.bp, dashboard.bp, v3.bp, openapi.bp):
        app.register_blueprint(blueprint)
    return app


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
