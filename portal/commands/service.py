"""Service commands of `wtf-portal`: serve (web + embedded worker), worker, db upgrade, cleanup."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from portal.commands.base import UserError, settings_or_exit

GUNICORN_CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, help="Default: $PORT, else 8000.")
def serve(host: str, port: int | None) -> None:
    """Run the web app under gunicorn with an embedded queue consumer."""
    settings = settings_or_exit()
    from portal.app import create_app
    from portal.config import ConfigError, portal_key

    try:
        create_app(settings)  # fail here, in one line, rather than inside a gunicorn worker
        key = portal_key(settings)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or shutil.which("gunicorn")
    if gunicorn is None:
        raise UserError("gunicorn is not installed in this environment")
    bind = f"{host}:{port or settings.port}"
    if settings.dev_mode:  # a local run (`make run`): say where to go and which key opens it
        click.echo(f"Open http://{bind}/portal/  (scripts: the key in X-Portal-Key)")
    if key.kept_in is not None:
        click.echo(
            f"Portal key: {key.value}  (kept in {key.kept_in} and used again on every start; "
            "to use your own, set WTF_PORTAL_KEY)"
        )
    os.execv(gunicorn, [gunicorn, "-c", str(GUNICORN_CONF), "--bind", bind, "portal.app:app"])


@click.command()
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    help="Jobs rendered at once (default WTF_WORKER_CONCURRENCY).",
)
def worker(concurrency: int | None) -> None:
    """Run a render worker: a Huey consumer plus the stale-job reaper."""
    settings = settings_or_exit()
    from portal.jobs.tasks import run_worker
    from portal.logging_setup import configure_logging
    from portal.runtime import Runtime

    configure_logging(settings)
    run_worker(Runtime(settings), concurrency or settings.worker_concurrency)


@click.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations up to the latest."""
    from portal.database import Database

    Database(settings_or_exit()).upgrade()
    click.echo("database is up to date")


@click.command()
@click.option("--older-than", "older_than", type=click.FloatRange(min=0, min_open=True), metavar="HOURS",
              help="Retention in hours (default WTF_RETENTION_HOURS).")  # fmt: skip
def cleanup(older_than: float | None) -> None:
    """Remove temp files, old uploads and outputs, and old job and log rows; never a running job's files."""
    from portal.database import Database
    from portal.jobs.maintenance import cleanup

    database = Database(settings_or_exit())
    database.upgrade()
    with database.session() as session:
        report = cleanup(database.settings, session, older_than_hours=older_than)
    click.echo(report.summary())


SERVICE_COMMANDS = (serve, worker, db, cleanup)
