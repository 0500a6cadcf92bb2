"""The one error taxonomy: every error raised on purpose says what went wrong in a stable way.

A `PortalError` carries a `code` (stable, shown to clients and scripts), the HTTP `status` that fits it
and `transient` (whether running the same work again could succeed: the worker retries only those).
Each area subclasses it where its errors live (engine, downloads, brands, disk, job states); one Flask
handler (`portal.web.errors`) turns any of them into the API's, v3's or the dashboard's answer, and the
worker records `code` and the message on the job. Nothing here imports beyond the standard library, so
the engine may use it and still import neither Flask nor the settings.
"""

from __future__ import annotations


class PortalError(Exception):
    """Base of every error the portal raises on purpose."""

    code = "internal_error"
    status = 500
    transient = False
    retry_after_s: int | None = None  # sent as Retry-After: when trying again may work

    @property
    def message(self) -> str:
        """The first line of the message as raised (without attachments such as FFmpeg's stderr tail)."""
        text = str(self.args[0]) if self.args else ""
        return text.splitlines()[0] if text.strip() else type(self).__name__


def is_transient(exc: BaseException) -> bool:
    """Whether running the same work again could succeed: the one rule the worker's retries follow."""
    return isinstance(exc, PortalError) and exc.transient


class DependencyUnavailableError(PortalError):
    """A service the portal depends on (database, queue, bucket) cannot be reached or does not answer.

    Never the job's fault: a worker waits and tries again; the web answers 503 with Retry-After."""

    code = "dependency_unavailable"
    status = 503
    transient = True
    retry_after_s = 10  # what the web tells clients to wait before trying again


class DatabaseUnavailableError(DependencyUnavailableError):
    code = "database_unavailable"


class QueueUnavailableError(DependencyUnavailableError):
    code = "queue_unavailable"


class WaitInQueue(PortalError):
    """A job cannot start yet for a reason outside it (a paused site, free disk under the minimum): it
    goes back to `queued` with `stage` saying why and until when, is looked at again after
    `retry_after_s`, and no attempt is counted. Raised by whatever finds the reason before the run has
    written anything; `portal.jobs.tasks` does the rest (`portal.jobs.state.wait_in_queue`)."""

    code = "waiting"
    transient = True

    def __init__(self, stage: str, retry_after_s: float) -> None:
        super().__init__(stage)
        self.stage, self.retry_after_s = stage, retry_after_s
