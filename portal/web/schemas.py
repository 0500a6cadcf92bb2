"""The shapes of the API's answers, as pydantic models: views build their answers through them, and the
OpenAPI document (portal.web.openapi) describes them from the same classes. The JOB object's model is
`portal.jobs.answer`'s: a worker builds the same object for a webhook's body."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from portal.brand_loader import Brand
from portal.brands.assets import AssetShape
from portal.brands.v3_import import V3Settings
from portal.jobs.answer import (
    EditsDoneOut,
    ErrorDetail,
    JobOut,
    JobStatusName,
    PresetName,
    RepostWarning,
    ReviewStateName,
)
from portal.jobs.state import edits_record
from portal.media.options import (
    DEFAULT_FIT,
    MAX_ZOOM,
    NO_TRIM,
    PRESETS,
    Fit,
    FollowFallback,
    OutputFormat,
    Reframe,
    Trim,
)
from portal.media.plan import as_formats


class AnswerShapeError(Exception):
    """An answer that does not fit its own model: a bug of the server (500), never the client's fault."""


class Answer(BaseModel):
    """Base of every answer model: `answer()` turns one into the JSON a view returns."""

    def __init__(self, **fields: Any) -> None:
        try:
            super().__init__(**fields)
        except ValidationError as exc:  # not the request's ValidationError, which is a 422
            raise AnswerShapeError(f"{type(self).__name__}: {exc}") from None

    omit_none: ClassVar[bool] = False  # True: leave out what does not apply instead of a null

    def answer(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=self.omit_none)


class ErrorAnswer(Answer):
    """Every error of the API (DESIGN 4.7)."""

    error: ErrorDetail


class V3ErrorAnswer(Answer):
    """Every error of v3's routes, in v3's shape (a failed job adds its `code` and `job_id`)."""

    success: Literal[False]
    error: str
    code: str | None = None
    job_id: str | None = None


class JobAnswer(Answer):
    job: JobOut


class JobsAnswer(Answer):
    jobs: list[JobOut]


class JobPage(Answer):
    jobs: list[JobOut]
    next: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


class ReviewRequest(BaseModel):
    """An output's (or all of a job's outputs') new review state (DESIGN 4.12)."""

    model_config = ConfigDict(extra="forbid")

    state: ReviewStateName


class LayerOverrideIn(BaseModel):
    """One change to one of the brand's drawn layers, for this output only (DESIGN 4.12)."""

    model_config = ConfigDict(extra="forbid")

    index: int = Field(ge=0, description="which of the brand's drawn layers, counted from 0 in drawing order")
    x: float | None = Field(
        default=None, ge=0, le=1, description="the layer's centre, a fraction of the width"
    )
    y: float | None = Field(
        default=None, ge=0, le=1, description="the layer's centre, a fraction of the height"
    )
    width: float | None = Field(default=None, gt=0, le=1, description="a fraction of the output's width")
    opacity: float | None = Field(default=None, ge=0, le=1)
    text: str | None = Field(default=None, min_length=1, max_length=200, description="text layers only")

    @model_validator(mode="after")
    def _centre_whole(self) -> LayerOverrideIn:
        if (self.x is None) != (self.y is None):
            raise ValueError("give both x and y (the layer's centre) or neither")
        return self


class TrimIn(BaseModel):
    """The part of the source every output keeps (seconds of the source)."""

    model_config = ConfigDict(extra="forbid")

    start: float = Field(default=0.0, ge=0)
    end: float | None = Field(default=None, gt=0, description="null or left out: to the end")

    @model_validator(mode="after")
    def _in_order(self) -> TrimIn:
        Trim(self.start, self.end)  # its ValueError ("trim end 1 must come after its start (2 s)") is a 422
        return self


class AnchorIn(BaseModel):
    """The crop window's centre, as fractions of the picture."""

    model_config = ConfigDict(extra="forbid")

    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)


class RenderRequest(BaseModel):
    """Render one output again alone with overrides for it only; every key optional (DESIGN 4.12)."""

    model_config = ConfigDict(extra="forbid")

    layers: list[LayerOverrideIn] = Field(default_factory=list, max_length=20)
    cover_at: float | None = Field(default=None, ge=0, description="the cover's time in seconds")
    anchor: AnchorIn | None = Field(
        default=None, description="the crop window's centre: this output becomes a still crop placed there"
    )
    zoom: float | None = Field(
        default=None, ge=1, le=MAX_ZOOM, description="a window this much tighter (this output becomes a crop)"
    )
    trim: TrimIn | None = Field(default=None, description="the part of the source this output keeps")

    def stored(self) -> dict:
        """As the output's versions record it (unset fields left out)."""
        return self.model_dump(exclude_none=True)


class StillRequest(RenderRequest):
    """The engine's still of one output with these overrides, at `at` seconds (default: the cover's time)."""

    at: float | None = Field(default=None, ge=0)


class StillLayer(BaseModel):
    index: int
    x: float = Field(description="left edge, a fraction of the frame's width")
    y: float = Field(description="top edge, a fraction of the frame's height")
    width: float
    height: float
    full_frame: bool = Field(description="covers the whole frame (decoration): it cannot be moved")
    text: str | None = Field(description="a text layer's text; null for images")


class StillAnswer(Answer):
    """The engine's still of one output with overrides (the render's plan) and where each layer went."""

    still: str = Field(description="the JPEG, as a data: URL")
    at: float
    width: int
    height: int
    layers: list[StillLayer]


class WebhookRequest(BaseModel):
    """The part of a submission that asks to be told when its job ends (DESIGN 4.7, docs/API.md)."""

    webhook_url: str | None = Field(
        default=None,
        max_length=2048,
        description="POSTed a signed {event, job} when the job ends; needs WTF_WEBHOOK_SECRET on the server",
    )


class FormatIn(BaseModel):
    """One format: a preset and, if not the submission's `fit`, its own."""

    model_config = ConfigDict(extra="forbid")

    preset: PresetName
    fit: Fit | None = Field(default=None, description="null: the submission's `fit`")


class FormatChoice(BaseModel):
    """What formats a submission asks for: one `preset` (and `fit`), or `formats` (DESIGN 4.10)."""

    preset: PresetName = "source"
    fit: Fit = Field(default=DEFAULT_FIT, description="how another shape fills a format without its own fit")
    formats: list[PresetName | FormatIn] | None = Field(
        default=None,
        min_length=1,
        max_length=len(PRESETS),
        description='several formats, each brand made in each: ["vertical", {"preset": "square", "fit": '
        '"crop"}]; outputs are then named <stem>_<brand>_<preset>.mp4',
    )

    @model_validator(mode="after")
    def _one_way(self) -> FormatChoice:
        if self.formats is not None and "preset" in self.model_fields_set:
            raise ValueError("give 'formats' or 'preset', not both")
        self.output_formats()  # a preset twice with two fits is refused here
        return self

    def output_formats(self) -> list[OutputFormat]:
        if self.formats is None:
            return [OutputFormat(self.preset, self.fit)]
        chosen = [
            OutputFormat(item, self.fit)
            if isinstance(item, str)
            else OutputFormat(item.preset, item.fit or self.fit)
            for item in self.formats
        ]
        return list(as_formats(chosen))


class BatchOut(BaseModel):
    """The jobs of one submission of several sources (DESIGN 4.10)."""

    id: str
    jobs: list[JobOut]
    outputs: int = Field(description="outputs made so far, every job's")
    archive_url: str = Field(description="every output in one ZIP, a folder per source; a signed link")


class BatchAnswer(Answer):
    batch: BatchOut


class PlannedOutput(BaseModel):
    source: str = Field(description="the link, or the upload's (or file's) name")
    brand: str
    format: PresetName
    fit: Fit
    width: int | None = Field(description="null: preset `source` of a link not downloaded yet")
    height: int | None


class PlanOut(BaseModel):
    sources: int
    brands: int
    formats: int
    count: int = Field(description="sources x brands x formats: the outputs the submission would make")
    outputs: list[PlannedOutput]
    warnings: list[RepostWarning] = Field(
        description="clips of this submission already branded lately (links sent before, uploads, items)"
    )


class PlanAnswer(Answer):
    plan: PlanOut


class SourceEdits(FormatChoice):
    """The formats, and edits made once to the source for every brand and format (DESIGN 4.11): the part
    kept, and the crop window of the formats that crop (`fit` crop or follow)."""

    trim: TrimIn | None = None
    trim_end_card: bool = Field(
        default=False, description="also cut a trailing card: a still tail after a hard cut"
    )
    anchor: AnchorIn | None = Field(
        default=None,
        description="crop and follow: the window's centre (follow: where it rests when no subject is found)",
    )
    zoom: float = Field(
        default=1.0, ge=1, le=MAX_ZOOM, description="crop and follow: a window this much tighter"
    )
    follow_fallback: FollowFallback = Field(
        default="crop", description="follow with no subject found: a still window, or the blur"
    )

    @model_validator(mode="after")
    def _coherent(self) -> SourceEdits:
        self.reframe(), self.asked_trim()  # a ValueError here is the request's 422
        return self

    def reframe(self) -> Reframe:
        """The window of every format that crops (the first such format's fit; else the submission's)."""
        anchor = (self.anchor.x, self.anchor.y) if self.anchor else None
        fit = next((item.fit for item in self.output_formats() if item.fit != "blur"), self.fit)
        return Reframe(fit, anchor, self.zoom, self.follow_fallback)

    def asked_trim(self) -> Trim:
        if self.trim is None:
            return Trim(end_card=self.trim_end_card) if self.trim_end_card else NO_TRIM
        return Trim(self.trim.start, self.trim.end, self.trim_end_card)

    def edits_record(self) -> dict | None:
        """What a job keeps of these edits besides its fit."""
        return edits_record(self.reframe(), self.asked_trim())


class EditsPreviewAnswer(Answer):
    edits: EditsDoneOut


class StatusAnswer(Answer):
    status: Literal["online"]
    version: str


class UploadOut(BaseModel):
    id: str = Field(description="pass as upload_id to /api/videos/process (an SRT/WebVTT file: as captions)")
    filename: str
    size: int
    media: dict[str, Any] = Field(
        description='what the probe found: width, height, duration, codecs...; {"kind": "subtitles", "cues"}'
        " for an SRT or WebVTT file"
    )
    source_id: str | None = Field(description="its library item (GET /api/sources/ID)")


class UploadAnswer(Answer):
    upload: UploadOut


class FileForm(BaseModel):
    """A multipart body with one file."""

    file: bytes


class CookieFileOut(BaseModel):
    """One uploaded cookies file: never its cookies."""

    id: str
    site: str = Field(description='the site it is used for; "*": every site')
    lines: int = Field(description="cookies in the file")
    uploaded_at: datetime
    state: Literal["unused", "working", "signin_asked"] = Field(
        description="signin_asked: the site asked for a sign-in with it since it last worked"
    )
    signin_asked_at: datetime | None
    worked_at: datetime | None


class WordOut(BaseModel):
    text: str
    start: float
    end: float


class CueOut(BaseModel):
    start: float = Field(description="seconds from the clip's start")
    end: float
    text: str
    words: list[WordOut] = Field(description="each word's timing: the recognizer's, or spread over the cue")


class TranscriptOut(BaseModel):
    source_id: str = Field(description="the library item it transcribes: one transcript per item")
    origin: Literal["file", "edit", "recognition", "platform"] = Field(
        description="where it came from: an SRT/WebVTT file, an edit, recognition, the site's subtitles"
    )
    updated_at: str | None
    duration: float | None = Field(description="the clip's length: every cue ends inside it")
    cues: list[CueOut]


class TranscriptAnswer(Answer):
    transcript: TranscriptOut


class CueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: float = Field(ge=0, description="seconds from the clip's start")
    end: float = Field(ge=0)
    text: str = Field(max_length=2_000)
    words: list[WordOut] | None = Field(default=None, description="optional: spread over the cue by length")


class TranscriptRequest(BaseModel):
    """A new transcript: its `cues`, or an SRT or WebVTT document as `subtitles` (one of the two)."""

    model_config = ConfigDict(extra="forbid")

    cues: list[CueIn] | None = Field(default=None, max_length=10_000, description="in time order")
    subtitles: str | None = Field(default=None, max_length=2_000_000, description="SRT or WebVTT text")

    @model_validator(mode="after")
    def _one_of(self) -> TranscriptRequest:
        if (self.cues is None) == (self.subtitles is None):
            raise ValueError("give exactly one of 'cues' or 'subtitles'")
        return self


class TranscriptSummary(BaseModel):
    origin: str
    cues: int = Field(description="how many cues; GET /api/sources/ID/transcript has them")
    updated_at: str | None


class CookiesOut(BaseModel):
    present: bool = Field(description="a cookies file is in use (uploaded, or the operator's)")
    lines: int | None = Field(default=None, description="cookie lines stored (on upload only)")
    id: str | None = Field(default=None, description="the stored file (on upload only)")
    site: str | None = Field(default=None, description="the site it was stored for (on upload only)")
    files: list[CookieFileOut] | None = Field(default=None, description="every uploaded file (on GET)")


class CookiesAnswer(Answer):
    omit_none = True  # `lines`, `id`, `site` only on an upload

    cookies: CookiesOut


class CookiesForm(BaseModel):
    """A multipart body: the cookies file, and the site it is for."""

    file: bytes
    site: str | None = Field(
        default=None,
        description='a domain (instagram.com) or "*" for every site; default: the one site of its cookies',
    )


class SiteOut(BaseModel):
    """How downloads from one site went (DESIGN 4.15)."""

    site: str
    successes: int
    failures: int
    failures_in_a_row: int
    last_code: str | None
    last_reason: str | None
    last_failure_at: datetime | None
    last_success_at: datetime | None
    paused_until: datetime | None = Field(description="its jobs wait in queued until then")


class SitesAnswer(Answer):
    sites: list[SiteOut]


class DeletedAnswer(Answer):
    deleted: str


class JobListQuery(BaseModel):
    """The query string of GET /api/jobs."""

    status: JobStatusName | None = None
    limit: int = Field(default=20, ge=1, description="jobs per page; at most 100 are sent")
    cursor: str | None = Field(default=None, description="the `next` of the previous page")


class JobStreamQuery(BaseModel):
    """The query string of GET /api/events (the view splits the list itself)."""

    jobs: str = Field(description="job ids separated by commas, at most 100")


class PreviewQuery(BaseModel):
    preset: PresetName = "vertical"
    fit: Fit = Field(
        default=DEFAULT_FIT,
        description="how a clip of another shape fills the canvas (follow: its window where it rests)",
    )
    anchor: str | None = Field(default=None, description="crop and follow: X,Y, the window's centre (0..1)")
    zoom: float = Field(default=1.0, description="crop and follow: a window this much tighter")
    frame: str | None = Field(
        default=None,
        description="draw on the middle frame of a clip: upload:ID, job:ID (its source) or source:ID (a "
        "library item, e.g. a link fetched first); default a generated frame",
    )


class BrandsAnswer(Answer):
    brands: list[Brand]


class AssetForm(BaseModel):
    """A logo or watermark image (PNG, JPEG or WebP) and how to clean it."""

    file: bytes
    shape: AssetShape = Field(default="original", description="cut the cleaned image to this shape")
    clean: bool = Field(
        default=True, description="false: keep the pixels as sent (still checked, stored as PNG)"
    )


class AssetOut(BaseModel):
    name: str = Field(description="the stored image; a brand layer names it `asset:<name>` when saved")
    url: str = Field(description="the stored PNG (with the key or the dashboard's session)")
    width: int
    height: int
    size: int = Field(description="bytes of the stored PNG")
    original: dict[str, Any] = Field(description="format, width, height and bytes as sent")
    changes: list[str] = Field(description="what the cleaning did, in words")
    background: str | None = Field(description="the background colour removed, if any")


class AssetAnswer(Answer):
    asset: AssetOut


# --- v3's routes (DESIGN 4.8): v3's field names and shapes ------------------------------------------


class V3ProcessBrandsRequest(V3Settings, WebhookRequest, FormatChoice):
    """v3's process_brands: a link or a server file, v3 brand names, and this render's v3 settings;
    `formats` (optional, not v3's) makes every brand in each of them."""

    model_config = ConfigDict(extra="ignore")

    url: str | None = Field(default=None, description="a link to brand (or give source_path)")
    source_path: str | None = Field(default=None, description="the filename of a fetch result or an upload")
    brands: list[str] | str = Field(description="v3 brand names, any case")
    start: float | None = Field(default=None, ge=0, description="keep from this second of the source")
    end: float | None = Field(default=None, gt=0, description="keep up to this second of the source")

    @model_validator(mode="after")
    def _coherent(self) -> V3ProcessBrandsRequest:
        self.asked_trim()  # a ValueError here is the request's 422
        return self

    def asked_trim(self) -> Trim:
        return Trim(self.start or 0.0, self.end) if self.start or self.end is not None else NO_TRIM


class V3FetchRequest(WebhookRequest):
    """v3's fetch: links to download as they are."""

    model_config = ConfigDict(extra="ignore")

    urls: list[str] = Field(min_length=1, max_length=50)
    playlist: bool = False


class V3Output(BaseModel):
    brand: str
    format: PresetName = Field(description="the preset it was made in (not v3's: v3 made one format)")
    filename: str
    download_url: str = Field(description="a signed link: works without the key until it expires")


class V3ProcessAnswer(Answer):
    """The branded outputs, once the job has ended (v3's answer)."""

    success: Literal[True]
    message: str
    outputs: list[V3Output]
    job_id: str


class V3FetchResult(BaseModel):
    url: str
    success: bool
    job_id: str
    filename: str | None = Field(default=None, description="usable as process_brands' source_path")
    download_url: str | None = None
    size_mb: float | None = None
    error: str | None = None


class V3FetchAnswer(Answer):
    """Each link's download, once they have all ended (v3's answer)."""

    omit_none = True

    success: Literal[True]
    total: int
    successful: int
    results: list[V3FetchResult]


class V3JobAccepted(Answer):
    """With `Prefer: respond-async` (or after WTF_SYNC_WAIT_S): the job, still running."""

    success: bool
    job: JobOut
    error: str | None = None


class V3JobsAccepted(Answer):
    """With `Prefer: respond-async` (or after WTF_SYNC_WAIT_S): the jobs, still running."""

    success: bool
    jobs: list[JobOut]
    error: str | None = None


class V3BrandName(BaseModel):
    name: str
    display_name: str


class V3BrandsList(Answer):
    success: Literal[True]
    brands: list[V3BrandName]


class V3BrandConfig(V3Settings):
    brand_name: str


class V3BrandConfigAnswer(Answer):
    success: Literal[True]
    config: V3BrandConfig
    message: str | None = None


class V3PortalStatus(Answer):
    """v3's availability check (503 and `offline` while a data folder or the database fails)."""

    status: Literal["online", "offline"]
    message: str
    endpoints: list[str]


class SourceRenderOutput(BaseModel):
    brand: str
    filename: str
    url: str = Field(description="a signed link, as the JOB object's")
    width: int
    height: int
    post_text: str | None


class SourceRender(BaseModel):
    """One job made from a library item."""

    job_id: str
    status: JobStatusName
    brands: list[str]
    preset: str
    created_at: str
    finished_at: str | None
    outputs: list[SourceRenderOutput]


class SourceItem(BaseModel):
    """A library item (DESIGN 4.14): a video sent by link or upload, kept with its renders."""

    id: str
    kind: Literal["upload", "url"]
    title: str | None = Field(description="the site's title, or the uploaded file's name")
    uploader: str | None
    link: str | None = Field(description="the link as sent")
    original_url: str | None = Field(description="the page the site named for it")
    filename: str | None
    duration: float | None
    cover_url: str | None = Field(description="a still of the clip (needs the key, as the API)")
    stored: bool = Field(description="its file is kept: 'Brand again' (source_id) needs no download")
    fingerprinted: bool
    edits: dict[str, Any] | None = Field(description="edits made on the source (trim, reframe), when made")
    transcript: TranscriptSummary | None = Field(description="its transcript, when it has one")
    pinned: bool
    created_at: str
    used_at: str
    removal_at: str | None = Field(description="when retention removes it; null while pinned")
    renders: list[SourceRender] = Field(description="newest first")


class SourceAnswer(Answer):
    source: SourceItem


class SourcePage(Answer):
    sources: list[SourceItem]
    next: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


class SourceListQuery(BaseModel):
    """The query string of GET /api/sources."""

    model_config = ConfigDict(extra="forbid")

    q: str | None = Field(default=None, max_length=200, description="words of the title, uploader or link")
    since: datetime | None = Field(default=None, description="sent at or after (ISO 8601)")
    until: datetime | None = Field(default=None, description="sent before (ISO 8601)")
    limit: int = Field(default=20, ge=1, description="items per page; at most 100 are sent")
    cursor: str | None = Field(default=None, description="the `next` of the previous page")
