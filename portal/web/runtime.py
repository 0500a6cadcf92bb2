"""The app's Runtime (settings, database, queue, brands), reachable from any view."""

from __future__ import annotations

from flask import current_app

from portal.runtime import Runtime


def runtime() -> Runtime:
    return current_app.extensions["runtime"]
