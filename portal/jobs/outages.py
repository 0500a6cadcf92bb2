"""How a worker rides out a database, queue or bucket that went away for a while.

A call that fails with a transient error (the taxonomy's `transient` flag: `portal.errors.is_transient`)
is tried again, backing off exponentially with full jitter (so workers that lost the same server do not
come back in step), until the outage has lasted `WTF_OUTAGE_WAIT_S`; then the error is raised and the
job's attempt fails as any transient failure does (back to the queue, failed after WTF_MAX_ATTEMPTS).
An error that is not transient (a missing file, a bad source) is raised at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from portal.errors import WaitInQueue, is_transient

log = logging.getLogger("portal.worker")
T = TypeVar("T")
FIRST_PAUSE_S, LONGEST_PAUSE_S = 1.0, 30.0


def patiently(call: Callable[[], T], what: str, bound_s: float) -> T:
    """`call()`, tried again while it fails with a transient error, for at most `bound_s` seconds."""
    deadline = time.monotonic() + bound_s
    pause = FIRST_PAUSE_S
    while True:
        try:
            return call()
        except Exception as exc:
            wait = random.uniform(0, pause)  # full jitter
            # a job that must wait (WaitInQueue) waits in the queue, not here
            if not is_transient(exc) or isinstance(exc, WaitInQueue) or time.monotonic() + wait > deadline:
                raise
            log.warning("%s: %s; trying again in %.1f s", what, getattr(exc, "message", exc), wait)
            time.sleep(wait)
            pause = min(pause * 2, LONGEST_PAUSE_S)
