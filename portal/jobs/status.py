"""A job's status and the groups of statuses, alone in a module so that every area can name them without
importing the state machine (no import cycles: DESIGN 2)."""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    """A job's `status` (DESIGN 4.7). What the worker is doing within a status goes to `stage`."""

    QUEUED = "queued"
    DOWNLOADING = "downloading"
    RENDERING = "rendering"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


RUNNING = (JobStatus.DOWNLOADING, JobStatus.RENDERING)
ACTIVE = (JobStatus.QUEUED, *RUNNING)
FINISHED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)
# A stage the engine or downloader reports moves the job to the status it belongs to; any other stage
# (a new one, say) is shown as the stage of the current status.
STAGE_STATUS = {"downloading": JobStatus.DOWNLOADING, "rendering": JobStatus.RENDERING}


class ReviewState(StrEnum):
    """An output's review state (DESIGN 4.12): every output starts pending."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
