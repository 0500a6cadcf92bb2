"""The JOB object (DESIGN 4.7): how a job is shown outside, by the API, v3's answers, event streams and
webhook bodies. Its describer and its model live here, outside the web, because the worker builds it too
(a webhook's body is the JOB object as GET /api/jobs/ID shows it) and a worker loads no Flask (DESIGN 2).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from portal.database import Job
from portal.jobs.status import JobStatus, ReviewState
from portal.media.options import Fit
from portal.media.plan import PRESETS

JobStatusName = Literal[tuple(JobStatus)]  # type: ignore[valid-type]
ReviewStateName = Literal[tuple(ReviewState)]  # type: ignore[valid-type]
PresetName = Literal[PRESETS]  # type: ignore[valid-type]


class ErrorDetail(BaseModel):
    """What went wrong: a failed job's error, and the body of every API error (`ErrorAnswer`)."""

    code: str = Field(description="stable, for scripts: unknown_brand, job_not_found, url_refused...")
    message: str = Field(description="for people")


class LoudnessOut(BaseModel):
    integrated_lufs: float | None
    true_peak_dbtp: float | None = Field(description="null for silence")


class LoudnessReportOut(BaseModel):
    """What the engine did to an output's sound (EBU R128)."""

    target_lufs: float | None = Field(description="null: left as it was (WTF_LOUDNESS_LUFS=off, or silence)")
    gain_db: float
    limited: bool
    before: LoudnessOut
    after: LoudnessOut


class PlacementOut(BaseModel):
    """Where the engine put an overlay at position "auto", and why (lower scores cover less of the clip)."""

    overlay: int = Field(description="the overlay's index in the output's drawing order")
    position: str
    reason: str
    scores: dict[str, dict[str, float]] = Field(
        description="per candidate position: the share of the clip's faces, text and motion it would cover, "
        "its overlap with the brand's other overlays, and the weighted total"
    )


class EndCardOut(BaseModel):
    start: float = Field(description="seconds of the source: the hard cut into the card")
    end: float
    reason: str


class TrimDoneOut(BaseModel):
    """The part of the source the output holds (seconds of the source)."""

    start: float
    end: float
    end_card: EndCardOut | None = Field(description="a trailing card found and cut (trim_end_card), or null")


class WindowKeyOut(BaseModel):
    t: float = Field(description="seconds of the output")
    x: float = Field(description="the window's centre, as a fraction of the picture's width")
    y: float = Field(description="the window's centre, as a fraction of the picture's height")
    reason: str


class FollowPathOut(BaseModel):
    """The crop window's path (fit follow): keyframes, straight lines between them."""

    found: bool = Field(description="false: no subject anywhere; the fallback was used")
    cuts: list[float] = Field(description="scene cuts (seconds of the output) where the window jumped")
    keys: list[WindowKeyOut]


class ReframeDoneOut(BaseModel):
    fit: Fit = Field(description="the fit asked for")
    used: Fit = Field(description="the fit used: follow with nothing found and fallback blur is blur")
    anchor: list[float] | None
    zoom: float
    path: FollowPathOut | None = Field(description="fit follow on a format that changes the shape; else null")


class EditsDoneOut(BaseModel):
    """What the source's edits did for this output (DESIGN 4.11)."""

    trim: TrimDoneOut
    reframe: ReframeDoneOut


class TrimOut(BaseModel):
    start: float = 0.0
    end: float | None = Field(default=None, description="null: to the end")
    end_card: bool = Field(
        default=False, description="also cut a trailing card (a still tail after a hard cut)"
    )


class EditsOut(BaseModel):
    """The edits asked of the job's source, beyond its `fit` (DESIGN 4.11)."""

    trim: TrimOut | None = None
    anchor: list[float] | None = None
    zoom: float | None = None
    follow_fallback: Literal["crop", "blur"] | None = None


class FormatOut(BaseModel):
    """One format of a job: a preset and how a source of another shape fills it."""

    preset: PresetName
    fit: Fit


class CaptionsFileOut(BaseModel):
    filename: str
    url: str = Field(description="a signed link, like the output's")


class VersionOut(BaseModel):
    """One version of an output: the job's own (1), or one rendered again alone with overrides."""

    version: int
    url: str = Field(description="a signed link to this version's file")
    cover_url: str | None
    requested_by: str | None = Field(description="who asked for it (null: the job itself)")
    overrides: dict | None = Field(description="what was changed for this output only (null: nothing)")
    created_at: datetime | None


class RerenderOut(BaseModel):
    """A re-render of the output asked for and not finished (a failed one stays until the next ask)."""

    status: Literal["queued", "rendering", "failed"]
    progress: float = Field(ge=0, le=100)
    error: str | None
    requested_by: str
    overrides: dict
    attempts: int = Field(
        default=0, description="runs started; a run whose worker died is run again, up to WTF_MAX_ATTEMPTS"
    )


class OutputOut(BaseModel):
    number: int = Field(description="its place in the job's outputs, from 0: /api/jobs/ID/outputs/NUMBER/...")
    brand: str
    format: PresetName = Field(description="the preset this output was made in")
    filename: str
    url: str = Field(description="a signed link: works without the key until it expires")
    size_bytes: int
    width: int
    height: int
    duration: float
    loudness: LoudnessReportOut | None = Field(description="null for outputs without sound")
    placements: list[PlacementOut] = Field(description='one per overlay at position "auto"')
    post_text: str | None = Field(description="the brand's post text filled for this output; null: none set")
    edits: EditsDoneOut | None = Field(description="what the trim kept and cut, and the crop window's path")
    cover_url: str | None = Field(
        description="its JPEG cover at its size, named like it with .jpg; a signed link (null before covers)"
    )
    cover_at: float | None = Field(description="the cover's time in seconds")
    review: ReviewStateName = Field(description="pending until someone approves or rejects it")
    reviewed_at: datetime | None
    version: int = Field(description="the current version: `url` and `cover_url` are its files")
    versions: list[VersionOut] = Field(description="every version, oldest first; all kept until deletion")
    rerender: RerenderOut | None
    captions: CaptionsFileOut | None = Field(description="its sidecar WebVTT; null without a transcript")


class SourceOut(BaseModel):
    """Where the job's video came from; links add what the site told about it."""

    model_config = ConfigDict(extra="allow")

    kind: Literal["upload", "url", "library"] = Field(description="library: branded again from the library")
    name: str = Field(description="the upload's file name, the link, or the library item's title")
    title: str | None = None
    uploader: str | None = None
    original_url: str | None = None
    extractor: str | None = None
    video_id: str | None = None
    duration: float | None = None
    reused: bool | None = None


class RepostWarning(BaseModel):
    """The same clip (from any link or upload) was branded lately: the user may go on (DESIGN 4.14)."""

    code: Literal["already_branded"]
    brand: str
    job_id: str = Field(description="the earlier job")
    at: datetime = Field(description="when that job finished")


class WebhookDeliveryOut(BaseModel):
    """One webhook POST owed for a job end, and how it went."""

    id: str = Field(description="also sent as X-WTF-Delivery, so a receiver can drop a repeat")
    event: Literal["job.completed", "job.failed", "job.cancelled", "output.approved", "output.rerendered"]
    url: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status: int | None = Field(description="the receiver's HTTP status on the last try")
    last_error: str | None
    next_try_at: datetime | None
    delivered_at: datetime | None


class JobOut(BaseModel):
    """The JOB object (DESIGN 4.7)."""

    id: str
    kind: Literal["render", "fetch"]
    status: JobStatusName
    stage: str | None
    progress: float = Field(ge=0, le=100)
    error: ErrorDetail | None
    source: SourceOut
    source_id: str | None = Field(description="its library item (GET /api/sources/ID); null once deleted")
    warnings: list[RepostWarning] = Field(description="told at submission (or once a link's clip is known)")
    brands: list[str]
    preset: PresetName = Field(description="the first of `formats` (a job of one format: its only one)")
    fit: Fit
    edits: EditsOut | None = Field(description="the trim, anchor and zoom asked for; null: none")
    formats: list[FormatOut] = Field(description="every format; each brand is made in each")
    batch_id: str | None = Field(description="shared by the jobs of one submission of several sources")
    attempts: int
    outputs: list[OutputOut]
    webhook_url: str | None
    webhooks: list[WebhookDeliveryOut]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def iso(moment: datetime | None) -> str | None:
    """A moment as every answer writes it: ISO 8601, UTC as `Z`."""
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _error(job: Job) -> dict | None:
    return {"code": job.error_code, "message": job.error} if job.error else None


def describe_job(job: Job, output_url: Callable[[str], str]) -> dict:
    """The JOB object (DESIGN 4.7), to be checked by `JobOut`; `output_url` makes an output's signed link
    from its file name (a view signs with the app's signer, a worker with the settings' one)."""
    outputs = [
        {
            "number": number,
            "brand": output.brand,
            "format": output.preset or job.preset,
            "filename": output.filename,
            "url": output_url(output.filename),
            "size_bytes": output.size_bytes,
            "width": output.width,
            "height": output.height,
            "duration": output.duration,
            "loudness": output.loudness,
            "placements": output.placements or [],  # where each overlay at position "auto" went, and why
            "post_text": output.post_text,
            "edits": output.edits,
            "cover_url": output_url(output.cover_filename) if output.cover_filename else None,
            "cover_at": output.cover_at,
            "review": output.review or ReviewState.PENDING,
            "reviewed_at": iso(output.reviewed_at),
            "version": output.version_list()[-1]["version"],
            "versions": [
                {
                    "version": version["version"],
                    "url": output_url(version["filename"]),
                    "cover_url": output_url(version["cover_filename"]) if version["cover_filename"] else None,
                    "requested_by": version["requested_by"],
                    "overrides": version["overrides"],
                    "created_at": version["created_at"],
                }
                for version in output.version_list()
            ],
            "rerender": output.rerender,
            "captions": {
                "filename": output.captions_filename,
                "url": output_url(output.captions_filename),
            }
            if output.captions_filename
            else None,
        }
        for number, output in enumerate(job.outputs)
    ]
    return {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "stage": job.stage,
        "progress": round(job.progress, 1),
        "error": _error(job),
        "source": {"kind": job.source_kind, "name": job.source_name, **(job.source_meta or {})},
        "source_id": job.source_id,
        "warnings": job.warnings or [],
        "brands": job.brands,
        "preset": job.preset,
        "fit": job.fit,
        "edits": job.edits,
        "formats": [{"preset": item.preset, "fit": item.fit} for item in job.output_formats()],
        "batch_id": job.batch_id,
        "attempts": job.attempts,
        "outputs": outputs,
        "webhook_url": job.webhook_url,
        "webhooks": [
            {
                "id": delivery.id,
                "event": delivery.event,
                "url": delivery.url,
                "status": delivery.status,
                "attempts": delivery.attempts,
                "last_status": delivery.last_status,
                "last_error": delivery.last_error,
                "next_try_at": iso(delivery.next_try_at),
                "delivered_at": iso(delivery.delivered_at),
            }
            for delivery in job.deliveries
        ],
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
    }


def progress_event(job: Job) -> dict:
    """What an event stream sends: enough to draw a progress bar and know when to stop."""
    return {
        "id": job.id,
        "status": job.status,
        "stage": job.stage,
        "progress": round(job.progress, 1),
        "error": _error(job),
    }
