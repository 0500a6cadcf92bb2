"""The queue consumer that runs beside the web app (WTF_EMBEDDED_WORKER), however the app was started.

`gunicorn -c portal/gunicorn.conf.py` (and `wtf-portal serve`, `python run_portal.py`) start one consumer
from gunicorn's master (`when_ready`) and say so in the environment the web workers inherit. Started any
other way (`gunicorn portal.app:app` from another folder, v3's `gunicorn -w 4 run_portal:app`, another WSGI
server), nothing would consume the queue and jobs would wait forever; then the app starts it itself: every
web process competes for a lock file in the data folder, and the holder runs the consumer as its child.
So there is one consumer however many web processes there are, and if its holder exits another takes over.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from portal.config import Settings
from portal.media.ffmpeg import die_with_parent

log = logging.getLogger(__name__)
# Set in the environment by whoever started a consumer for this server (inherited by forked web workers).
STARTED_MARKER = "PORTAL_EMBEDDED_CONSUMER_PID"
LOCK_NAME = ".embedded-consumer.lock"
RETRY_SECONDS = 5.0
STOP_SECONDS = 30.0


def start_consumer() -> subprocess.Popen:
    """`wtf-portal worker` as a child that dies with this process; recorded in the environment."""
    consumer = subprocess.Popen([sys.executable, "-m", "portal", "worker"], preexec_fn=die_with_parent)
    os.environ[STARTED_MARKER] = str(consumer.pid)
    return consumer


def stop_consumer(consumer: subprocess.Popen, timeout: float = STOP_SECONDS) -> None:
    """SIGINT lets Huey finish or hand back its task; a consumer that does not stop in time is killed."""
    if consumer.poll() is None:
        consumer.send_signal(signal.SIGINT)
        try:
            consumer.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            consumer.kill()


def ensure_consumer(settings: Settings) -> None:
    """Start competing for the consumer in this web process, unless one was started for it or is off."""
    if not settings.embedded_worker or os.environ.get(STARTED_MARKER):
        return
    lock_path = settings.data_dir / LOCK_NAME
    threading.Thread(target=_hold_consumer, args=(lock_path,), name="embedded-consumer", daemon=True).start()


def _hold_consumer(lock_path: Path) -> None:
    with lock_path.open("a") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another web process runs it; take over if it goes
                time.sleep(RETRY_SECONDS)
                continue
            consumer = start_consumer()
            atexit.register(stop_consumer, consumer)
            log.info("embedded queue consumer started (pid %s) by web process %s", consumer.pid, os.getpid())
            while consumer.poll() is None:  # polling, not wait(): a blocking wait would stall gevent
                time.sleep(1.0)
            atexit.unregister(stop_consumer)
            log.warning("embedded queue consumer exited with %s; starting another", consumer.returncode)
            with contextlib.suppress(OSError):
                fcntl.flock(lock, fcntl.LOCK_UN)
