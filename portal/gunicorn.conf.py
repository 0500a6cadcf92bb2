"""Gunicorn settings: the seed's deployment target (`gunicorn -c portal/gunicorn.conf.py portal.app:app`).

Corrected from the seed: a gevent worker (portal.web.gevent_worker), so idle, slow and streaming clients
cost a greenlet each instead of one of a few threads, with bounded header and I/O waits (issue 10; the
measurements are in docs/PERFORMANCE.md "Hostile clients"); renders happen in the queue consumer, never in a
request. One process tree finishes jobs (Render's free plan): the consumer is a child process of the master
(`when_ready` starts it, `on_exit` stops it), or, with WTF_EMBEDDED_IN_WEB_WORKER and one
gunicorn worker, greenlets inside that worker (`post_worker_init`, `worker_exit`): two interpreters instead
of three, about 100 MiB less, for slower answers while a job runs (PERFORMANCE.md "Free plan" and "Hostile
clients"). The address comes from WTF_BIND_HOST and PORT (127.0.0.1 behind a proxy on the host).
"""

import contextlib
import os
import sys

from gunicorn import glogging


def _bind() -> str:
    from portal.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError:  # on_starting reports the bad variable in one line and exits 2
        return "127.0.0.1:8000"
    return f"{settings.bind_host}:{settings.port}"


bind = _bind()
worker_class = "portal.web.gevent_worker.PortalGeventWorker"
# `workers` is left to gunicorn: its default is $WEB_CONCURRENCY (Render's and Heroku's variable), else 1
worker_connections = 1000  # open connections per worker (idle, streaming or busy); more wait in the backlog
timeout = 120  # the worker must check in this often; a request that blocks the loop that long is a bug
graceful_timeout = 30
keepalive = 5  # keep connections open between requests (the wait for the next one is HEADER_TIMEOUT_S)
# No preload: each worker builds its own database pool, and the embedded consumer is a separate process,
# so nothing forked shares connections. (With preload_app=True the app would be built before the fork.)
preload_app = False
accesslog = None  # portal.logging_setup logs each request once, with its request id
loglevel = "info"
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn 25+ opens a control socket in $HOME/.gunicorn: read-only in the image and under systemd, and
# shared by every gunicorn of the same user; nothing here uses it.
control_socket_disable = True

_consumer = None


class PortalLogger(glogging.Logger):
    """gunicorn's own lines (arbiter, workers) through portal.logging_setup, in the app's WTF_LOG_FORMAT."""

    def setup(self, cfg):
        super().setup(cfg)
        from portal.config import ConfigError, load_settings
        from portal.logging_setup import configure_logging

        # A bad variable is reported in one line when the app loads; until then gunicorn's format stays.
        with contextlib.suppress(ConfigError):
            configure_logging(load_settings())


logger_class = PortalLogger


def on_starting(server):
    """Refuse to start (one line, exit 2) on bad settings, before binding or starting the consumer."""
    from portal.config import ConfigError, startup_settings

    try:
        startup_settings()
    except ConfigError as exc:
        print(f"wtf-portal: {exc}", file=sys.stderr)
        sys.exit(2)


def _consumer_in_worker(web_workers: int) -> bool:
    """`web_workers` as gunicorn counts them: $WEB_CONCURRENCY, or `-w` on its command line."""
    from portal.config import ConfigError, load_settings

    with contextlib.suppress(ConfigError):  # a bad setting stops start-up in on_starting, in one line
        settings = load_settings()
        return settings.embedded_worker and settings.embedded_in_web_worker and web_workers == 1
    return False


def post_worker_init(worker):
    """The free plan's shape: the one worker also consumes the queue (off with WTF_EMBEDDED_WORKER=0)."""
    if _consumer_in_worker(worker.cfg.workers):
        from portal.jobs.tasks import start_embedded_consumer

        runtime = worker.wsgi.extensions["runtime"]  # the app this worker loaded (its tasks registered)
        worker.stop_consumer = start_embedded_consumer(runtime, runtime.settings.worker_concurrency)
        worker.log.info("queue consumer started inside the web worker (pid %s)", worker.pid)


def worker_exit(server, worker):
    """Stop the in-worker consumer: its running task finishes within the graceful timeout, or goes back."""
    stop = getattr(worker, "stop_consumer", None)
    if stop is not None:
        stop()


def when_ready(server):
    """With several web workers, one queue consumer beside them, a child of the master."""
    global _consumer
    from portal.config import load_settings
    from portal.jobs.consumer import STARTED_MARKER, start_consumer

    if _consumer_in_worker(server.cfg.workers):
        os.environ[STARTED_MARKER] = "in the web worker"  # the web worker (forked next) starts no other one
    elif load_settings().embedded_worker:  # valid: on_starting checked the settings
        _consumer = start_consumer()  # also tells the web workers (forked next) that a consumer runs
        server.log.info("embedded queue consumer started (pid %s)", _consumer.pid)


def on_exit(server):
    """Stop the embedded consumer: SIGINT lets Huey finish or hand back its task."""
    if _consumer is not None:
        from portal.jobs.consumer import stop_consumer

        stop_consumer(_consumer, timeout=graceful_timeout)
