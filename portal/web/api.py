"""The HTTP API (DESIGN 4.7): uploads, jobs, downloads, archives, brands."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    request,
    send_from_directory,
    stream_with_context,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import and_, or_, select
from werkzeug.utils import secure_filename

from portal import __version__
from portal.acquire import sites
from portal.acquire.downloader import DownloadOptions, check_url, expand_playlist
from portal.brand_loader import BRAND_ID_RULE, Brand, UnknownBrandError, output_shape
from portal.brands.assets import ASSET_SHAPES, clean_image
from portal.brands.v3_import import apply_v3_settings
from portal.database import Job, Source, Upload, new_id, utc_now
from portal.errors import QueueUnavailableError
from portal.jobs import state
from portal.jobs.answer import PresetName, describe_job
from portal.jobs.maintenance import require_free_disk
from portal.jobs.state import NewJob
from portal.jobs.status import ReviewState
from portal.jobs.tasks import kept_source
from portal.jobs.transcripts import AUTO, PLATFORM
from portal.jobs.webhooks import check_target
from portal.library.sources import (
    describe_picture,
    get_source,
    known_link,
    source_for_link,
    source_for_upload,
    source_meta,
    warnings_for,
)
from portal.media.errors import EngineError, SourceError
from portal.media.layers import LayerOverride, apply_overrides, brand_layers
from portal.media.options import (
    DEFAULT_FIT,
    DEFAULT_REFRAME,
    FITS,
    FollowFallback,
    OutputFormat,
    Reframe,
    formats_from_choices,
    parse_anchor,
    parse_trim_range,
)
from portal.media.plan import JOB_TAG_LENGTH, STEM_SOURCE_CHARS, job_stem, output_size, safe_stem
from portal.media.reframe import centre_at
from portal.media.transcript import TranscriptError, parse_subtitles
from portal.storage.links import is_signed
from portal.storage.objects import OUTPUTS, UPLOADS, StoredFileMissingError
from portal.video_processor import PRESETS, PreviewStill, plan_edits, probe_media, render_preview, trim_span
from portal.web.auth import requester, require_api_auth
from portal.web.errors import ApiError, validation_message
from portal.web.links import link_signer, signed_download_url
from portal.web.openapi import Content, documented
from portal.web.runtime import runtime
from portal.web.schemas import (
    AssetAnswer,
    AssetForm,
    BatchAnswer,
    BrandsAnswer,
    CookiesAnswer,
    CookiesForm,
    DeletedAnswer,
    EditsPreviewAnswer,
    FileForm,
    JobAnswer,
    JobListQuery,
    JobPage,
    JobsAnswer,
    PlanAnswer,
    PreviewQuery,
    RenderRequest,
    ReviewRequest,
    SitesAnswer,
    SourceEdits,
    StatusAnswer,
    StillAnswer,
    StillRequest,
    UploadAnswer,
    WebhookRequest,
)

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")
SUBTITLE_SUFFIXES = (".srt", ".vtt")
SUBTITLES_KIND = "subtitles"  # an upload's media kind: an SRT/WebVTT file, usable only as captions
MAX_SUBTITLES_BYTES = 2_000_000
MAX_SOURCES = 50  # in one submission
OPEN_ENDPOINTS = {"api.test"}
SIGNED_ENDPOINTS = {"api.download", "api.batch_archive"}  # a signed link stands in for the key
PAGE_LIMIT_MAX = 100
ARCHIVE_CHUNK = 1 << 20


@bp.before_request
def _authenticate() -> None:
    if request.endpoint in OPEN_ENDPOINTS:
        return
    if request.endpoint in SIGNED_ENDPOINTS and is_signed(request.args):
        return  # a signed link stands in for the key; the view checks it (403 if changed or expired)
    require_api_auth()


@bp.get("/test")
@documented({200: StatusAnswer}, open=True, tag="service")
def test():
    """Liveness for scripts and the seed's clients."""
    return StatusAnswer(status="online", version=__version__).answer()


class BrandSelection(WebhookRequest, SourceEdits):
    """What to make: the brands, the formats and the source's edits (a multipart request sends only this,
    with its file)."""

    model_config = ConfigDict(extra="forbid")

    brands: list[str] | Literal["all"] = Field(min_length=1)
    captions: str | None = Field(
        default=None,
        max_length=32,
        description="what brands with a captions layer burn in: the id of an uploaded SRT or WebVTT file,"
        ' "auto" (speech recognition in the worker) or "platform" (the link\'s subtitles); unset: the library'
        " item's transcript if it has one, else the link's subtitles if it has them, else recognition",
    )


class ProcessForm(BaseModel):
    """A multipart request: the video file and the selection (brands comma-separated, or `all`)."""

    file: bytes
    brands: str = Field(min_length=1)
    preset: PresetName = "source"
    formats: str | None = Field(default=None, description="presets, comma-separated (or the field repeated)")
    fit: str = Field(
        default=DEFAULT_FIT,
        description="a fit for every format, or PRESET=FIT for one (comma-separated or the field repeated)",
    )
    trim: str | None = Field(default=None, description="START:END in seconds (2.5:14, 2.5:, :14)")
    trim_end_card: bool = False
    anchor: str | None = Field(default=None, description="X,Y: the crop window's centre, fractions 0..1")
    zoom: float = 1.0
    follow_fallback: FollowFallback = "crop"
    webhook_url: str | None = None
    captions: str | None = Field(default=None, description='an uploaded SRT or WebVTT file\'s id, or "auto"')


def _form_edits(form) -> dict:
    """A multipart request's edits in the JSON request's shape (`trim` START:END, `anchor` X,Y)."""
    fields: dict = {}
    try:
        if form.get("trim"):
            start, end = parse_trim_range(form["trim"])
            fields["trim"] = {"start": start, "end": end}
        if form.get("anchor"):
            x, y = parse_anchor(form["anchor"])
            fields["anchor"] = {"x": x, "y": y}
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    for name in ("trim_end_card", "zoom", "follow_fallback"):
        if form.get(name):
            fields[name] = form[name]
    return fields


SOURCE_FIELDS = ("url", "urls", "upload_id", "upload_ids", "source_id", "source_ids")
SOURCE_LISTS = {"urls", "upload_ids", "source_ids"}  # given together: one batch


class SourcesRequest(BrandSelection):
    """The selection plus its sources: one `url`, `upload_id` or `source_id`, or any of `urls`,
    `upload_ids` and `source_ids` (several sources: a batch)."""

    url: str | None = None
    urls: list[str] | None = Field(default=None, min_length=1, max_length=MAX_SOURCES)
    upload_id: str | None = None
    upload_ids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_SOURCES)
    source_id: str | None = Field(default=None, description="a library item: brand it again, no download")
    source_ids: list[str] | None = Field(
        default=None, min_length=1, max_length=MAX_SOURCES,
        description="library items (a link fetched first, an earlier upload): no new download",
    )  # fmt: skip
    playlist: bool = False

    def given(self) -> list[str]:
        return [name for name in SOURCE_FIELDS if getattr(self, name)]

    def upload_list(self) -> list[str]:
        return self.upload_ids or ([self.upload_id] if self.upload_id else [])

    def url_list(self) -> list[str]:
        return self.urls or ([self.url] if self.url else [])

    def library_list(self) -> list[str]:
        return self.source_ids or ([self.source_id] if self.source_id else [])


class ProcessRequest(SourcesRequest):
    """A JSON request: the selection plus its sources."""

    @model_validator(mode="after")
    def _sources(self) -> ProcessRequest:
        given = self.given()
        if not given or (len(given) > 1 and not set(given) <= SOURCE_LISTS):
            raise ValueError(
                "give one of 'url', 'upload_id' or 'source_id', "
                "or any of 'urls', 'upload_ids' and 'source_ids'"
            )
        if len(self.url_list()) + len(self.upload_list()) + len(self.library_list()) > MAX_SOURCES:
            raise ValueError(f"at most {MAX_SOURCES} sources in one submission")
        return self


class PlanRequest(SourcesRequest):
    """A submission's body, to count what it would make; the sources may be left out, and `files`
    names files still to be uploaded (each a source)."""

    files: list[str] = Field(default_factory=list, max_length=MAX_SOURCES)


def _brand_ids(requested: list[str] | str) -> list[str]:
    return [brand.id for brand in runtime().brands.current().select(requested)]


def _require_disk() -> None:
    require_free_disk(runtime().settings)


def _save_upload(file_storage) -> Upload:
    """Write a multipart file to scratch space, probe it, and store it only if it is a usable video; it
    becomes a library item, fingerprinted (so a repost is recognised at submission) with its cover.

    The file is copied in chunks (werkzeug has already spooled it to disk), never read whole into memory;
    storing it moves it into uploads/ or sends it to object storage (in parts when large).
    """
    if file_storage is None or not file_storage.filename:
        raise ApiError(400, "missing_file", "send the video as a multipart field named 'file'")
    rt = runtime()
    _require_disk()
    upload_id = new_id()
    original = secure_filename(file_storage.filename) or "upload"
    name = f"{upload_id}{Path(original).suffix.lower()[:10] or '.bin'}"
    scratch = rt.settings.temp_dir / name
    rt.settings.temp_dir.mkdir(parents=True, exist_ok=True)
    file_storage.save(scratch)
    try:
        size = scratch.stat().st_size
        media, source_id = _subtitles_facts(scratch, file_storage.filename), None
        if media is None:  # a video: a library item, fingerprinted (captions files are not)
            info = probe_media(scratch, rt.settings.source_limits)
            media = {k: v for k, v in info.as_dict().items() if k != "path"}
            with rt.db.session() as session:
                source_id = source_for_upload(session, original, None, info.duration).id
            describe_picture(
                rt.db, rt.storage, source_id, scratch, info.duration, rt.settings.ffmpeg_path, keep_file=False
            )
        ref = rt.storage.store(scratch, UPLOADS, name)
    except SourceError as exc:
        # the same error, naming the client's file instead of the server's path
        raise type(exc)(f"{file_storage.filename}: {exc.reason}") from None
    finally:
        scratch.unlink(missing_ok=True)
    upload = Upload(
        id=upload_id,
        filename=original,
        path=ref,
        size=size,
        media=media,
        source_id=source_id,
    )
    with runtime().db.session() as session:
        session.add(upload)
        if source_id is not None:  # a video's library item reads the stored file
            session.get(Source, source_id).path = ref
    return upload


def _subtitles_facts(path: Path, client_name: str) -> dict | None:
    """An SRT or WebVTT upload's facts (its cues are read now, so a broken file is refused at once), or
    None for any other file."""
    if path.suffix not in SUBTITLE_SUFFIXES:
        return None
    if path.stat().st_size > MAX_SUBTITLES_BYTES:
        raise ApiError(413, "subtitles_too_large", f"{client_name}: larger than {MAX_SUBTITLES_BYTES} bytes")
    try:
        cues = parse_subtitles(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise TranscriptError(f"{client_name}: not UTF-8 text") from None
    except TranscriptError as exc:
        raise TranscriptError(f"{client_name}: {exc.message}") from None
    return {"kind": SUBTITLES_KIND, "cues": len(cues)}


def _checked_captions(captions: str | None, uploads: bool) -> None:
    """The captions a submission asks for, checked: "auto", "platform" (links and library items only:
    an uploaded file has no site), an uploaded SRT/WebVTT file's id, or None."""
    if captions is None or captions == AUTO:
        return
    if captions == PLATFORM:
        if uploads:
            message = 'captions: "platform" takes a link\'s subtitles; an uploaded video has none'
            raise ApiError(422, "invalid_captions", message + ' (send an SRT or WebVTT file, or "auto")')
        return
    upload = _stored_upload(captions)
    if (upload.media or {}).get("kind") != SUBTITLES_KIND:
        raise ApiError(422, "invalid_captions", f"captions: upload {captions!r} is not an SRT or WebVTT file")


def _describe_upload(upload: Upload) -> dict:
    return {"id": upload.id, "filename": upload.filename, "size": upload.size, "media": upload.media,
            "source_id": upload.source_id}  # fmt: skip


@bp.post("/uploads")
@documented({201: UploadAnswer}, form=FileForm, errors={413: "larger than WTF_MAX_UPLOAD_MB"}, tag="uploads")
def create_upload():
    """Store and probe a video file; answer its id and what it is."""
    upload = _save_upload(request.files.get("file"))
    return UploadAnswer(upload=_describe_upload(upload)).answer(), 201


def _form_list(name: str) -> list[str]:
    """A multipart field given comma-separated, repeated, or both."""
    return [item.strip() for value in request.form.getlist(name) for item in value.split(",") if item.strip()]


def _form_selection() -> BrandSelection:
    """The selection of a multipart request (the file aside)."""
    brands, presets, fits = _form_list("brands"), _form_list("formats"), _form_list("fit")
    fields: dict = {"brands": "all" if brands == ["all"] else brands}
    if presets:
        try:
            chosen = formats_from_choices(presets, fits)
        except ValueError as exc:
            raise ApiError(422, "invalid_request", f"fit: {exc}") from None
        fields["formats"] = [{"preset": item.preset, "fit": item.fit} for item in chosen]
    else:
        fields["preset"] = request.form.get("preset") or "source"
        fields["fit"] = fits[-1] if fits else DEFAULT_FIT
    fields["webhook_url"] = request.form.get("webhook_url") or None
    fields["captions"] = request.form.get("captions") or None
    return BrandSelection.model_validate({**fields, **_form_edits(request.form)})


@dataclass(frozen=True)
class Submission:
    """A submission's selection and its sources: stored uploads and checked links."""

    selection: BrandSelection
    brands: list[str]  # the brands' ids, each known
    uploads: list[Upload]
    urls: list[str]
    single: bool  # asked for one source (`url`, `upload_id`, `source_id`, a file): answered as `{"job"}`
    library_items: tuple[str, ...] = ()  # `source_id(s)`: library items branded again


def _parse_process_request() -> Submission:
    """The JSON request, or a multipart one whose file is stored (after its brands are checked)."""
    if request.mimetype == "multipart/form-data":
        selection = _form_selection()
        brands = _brand_ids(
            selection.brands
        )  # unknown brands and webhooks are refused before the file is stored
        check_target(selection.webhook_url, runtime().settings)
        _checked_captions(selection.captions, uploads=True)
        return Submission(selection, brands, [_save_upload(request.files.get("file"))], [], single=True)
    if not request.is_json:
        raise ApiError(
            415, "unsupported_media_type", "send JSON (Content-Type: application/json) or multipart"
        )
    payload = ProcessRequest.model_validate(request.get_json())
    brands = _brand_ids(payload.brands)
    _checked_captions(payload.captions, uploads=bool(payload.upload_list()))
    check_target(payload.webhook_url, runtime().settings)
    uploads = [_video_upload(upload_id) for upload_id in payload.upload_list()]
    urls = _checked_links(payload.url_list(), payload.playlist)
    single = bool(payload.url or payload.upload_id or payload.source_id)
    return Submission(payload, brands, uploads, urls, single, tuple(payload.library_list()))


def _submit(new_jobs: list[NewJob]) -> list[str]:
    """Record the jobs (the truth: a database that is down answers 503), then put them on the queue."""
    ids = state.submit(runtime().db, new_jobs)
    _enqueue(ids)
    return ids


def _enqueue(job_ids: list[str]) -> None:
    """A queue that is down does not lose recorded jobs: the workers' sweeper sends them once it is back
    (WTF_SWEEP_QUEUED_AFTER_S), so the submission is still accepted (202)."""
    try:
        runtime().enqueue_all(job_ids)
    except QueueUnavailableError as exc:
        log.warning(
            "%d jobs recorded but not enqueued (%s); the sweeper sends them", len(job_ids), exc.message
        )


def _checked_links(urls: list[str], expand: bool) -> list[str]:
    """The links a submission makes jobs of (a playlist's entries when expanded), each checked."""
    rt = runtime()
    allow_private = rt.settings.allow_private_urls
    for url in urls:
        check_url(url, allow_private)
    if expand:
        rt.cookies.refresh()  # a playlist is read here, on the web, perhaps signed in (the site's first file)
        pools = [rt.cookies.pool(sites.site_of(url)) for url in urls]
        listed = [
            expand_playlist(url, DownloadOptions.from_settings(rt.settings, pool))
            for url, pool in zip(urls, pools, strict=True)
        ]
        urls = [entry for entries in listed for entry in entries]
        for url in urls:  # a feed or page may list links anywhere
            check_url(url, allow_private)
    return urls


def fetch_jobs(urls: list[str], expand: bool, webhook_url: str | None = None) -> list[str]:
    """One download-only job per link (per entry for an expanded playlist), every link checked before any
    job exists (v3's fetch); several are one batch (`state.submit`)."""
    urls = _checked_links(urls, expand)
    _require_disk()
    window = runtime().settings.repost_window_days
    with runtime().db.session() as session:  # a link sent before keeps its item (and its fingerprint)
        sources = [source_for_link(session, url).id for url in urls]
        warnings = [warnings_for(session, source_id, window) for source_id in sources]
    return _submit([
        NewJob("fetch", "url", url, None, [], "source", webhook_url=webhook_url, source_id=source_id,
               warnings=warned)
        for url, source_id, warned in zip(urls, sources, warnings, strict=True)
    ])  # fmt: skip


def _jobs_response(job_ids: list[str]):
    with runtime().db.session() as session:
        rows = [session.get(Job, job_id) for job_id in job_ids]
        return JobsAnswer(jobs=[describe_job(job, signed_download_url) for job in rows]).answer(), 202


@bp.post("/videos/process")
@documented(
    {202: (JobAnswer, JobsAnswer)}, body=ProcessRequest, form=ProcessForm, tag="videos",
    errors={404: "no such upload", 413: "larger than WTF_MAX_UPLOAD_MB", 507: "low disk"},
)  # fmt: skip
def process_video():
    """Queue branding of an upload (upload_id or multipart file), a `url`, a library item (`source_id`),
    or any of `urls`, `upload_ids` and `source_ids`: every brand in every format (`formats`), one job per
    source; 202 with the job(s).

    One job answers `{"job"}`; `urls`, `upload_ids`, `source_ids`, or a `url` that is a playlist expanded
    with `playlist: true`, answer `{"jobs"}`, which share a `batch_id` when there are several.
    """
    submission = _parse_process_request()
    selection = submission.selection
    brands, formats = submission.brands, selection.output_formats()
    trim = selection.asked_trim()
    for upload in submission.uploads:  # an upload's length is known: a trim past its end is refused now
        trim_span(trim, upload.media["duration"], upload.media["fps"], upload.filename)
    edits = selection.edits_record()
    window = runtime().settings.repost_window_days
    sources = [("upload", u.filename, u.path, u.source_id) for u in submission.uploads]
    with runtime().db.session() as session:  # a link sent before keeps its item (and its fingerprint)
        sources += [("url", url, None, source_for_link(session, url).id) for url in submission.urls]
        new = [
            NewJob.rendering(kind, name, path, brands, formats, webhook_url=selection.webhook_url,
                             captions=selection.captions,
                             source_id=source_id, warnings=warnings_for(session, source_id, window),
                             edits=edits)
            for kind, name, path, source_id in sources
        ]  # fmt: skip
        new += [_brand_again(session, item, brands, selection) for item in submission.library_items]
    _require_disk()
    ids = _submit(new)  # several sources: one batch
    return _job_response(ids[0], 202) if submission.single and len(ids) == 1 else _jobs_response(ids)


def _stored_upload(upload_id: str) -> Upload:
    with runtime().db.session() as session:
        upload = session.get(Upload, upload_id)
    if upload is None or not runtime().storage.exists(upload.path):
        raise ApiError(404, "upload_not_found", f"no upload {upload_id!r} (expired or never made)")
    return upload


def _video_upload(upload_id: str) -> Upload:
    """A stored upload that is a video (an SRT/WebVTT upload is refused as a source: it is captions)."""
    upload = _stored_upload(upload_id)
    if (upload.media or {}).get("kind") == SUBTITLES_KIND:
        raise ApiError(422, "not_a_video", f"upload {upload_id!r} is subtitles: pass it as 'captions'")
    return upload


@bp.post("/plans")
@documented({200: PlanAnswer}, body=PlanRequest, tag="videos", errors={404: "no such upload"})
def plan_outputs():
    """What a submission (the same body) would make: every source x brand x format, with sizes, and the
    count; nothing is stored or rendered. `files` counts files still to be uploaded as sources."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send JSON (Content-Type: application/json)")
    payload = PlanRequest.model_validate(request.get_json())
    brands = _brand_ids(payload.brands)
    formats = payload.output_formats()
    max_short_side = runtime().settings.engine_options().max_short_side
    sources: list[tuple[str, tuple[int, int] | None]] = []
    known = list(payload.library_list())  # the library items of these clips, where they have one yet
    for upload_id in payload.upload_list():
        upload = _video_upload(upload_id)
        sources.append((upload.filename, (upload.media["width"], upload.media["height"])))
        known.append(upload.source_id)
    sources += [(name, None) for name in payload.files]
    urls = _checked_links(payload.url_list(), payload.playlist)
    sources += [(url, None) for url in urls]
    window = runtime().settings.repost_window_days
    with runtime().db.session() as session:
        for source_id in payload.library_list():  # brand again: the item is the source
            library_item = get_source(session, source_id)
            sources.append((library_item.title or library_item.filename or "clip", None))
        known += [getattr(known_link(session, url), "id", None) for url in urls]  # links sent before
        warnings = [warning for source_id in known for warning in warnings_for(session, source_id, window)]
    outputs = []
    for name, source_size in sources:
        for item in formats:
            width, height = output_size(item.preset, source_size, max_short_side) or (None, None)
            outputs += [
                {"source": name, "brand": brand, "format": item.preset, "fit": item.fit, "width": width,
                 "height": height}
                for brand in brands
            ]  # fmt: skip
    count = len(sources) * len(brands) * len(formats)
    plan = {"sources": len(sources), "brands": len(brands), "formats": len(formats), "count": count}
    return PlanAnswer(plan={**plan, "outputs": outputs, "warnings": warnings}).answer()


def _brand_again(session, source_id: str, brands: list[str], selection: BrandSelection) -> NewJob:
    """A new job from a library item's stored file: no upload, no download."""
    rt = runtime()
    source = get_source(session, source_id)
    if source.path is None or not rt.storage.exists(source.path):
        message = f"library item {source_id} has no stored file (not yet, or not any more)"
        raise ApiError(409, "source_gone", message)
    source.used_at = utc_now()
    return NewJob.rendering(
        "library", source.title or source.filename or "clip", source.path, brands, selection.output_formats(),
        webhook_url=selection.webhook_url, source_id=source_id, source_meta=source_meta(source),
        warnings=warnings_for(session, source.id, rt.settings.repost_window_days),
        edits=selection.edits_record(), captions=selection.captions,
    )  # fmt: skip


class EditsPreviewRequest(SourceEdits):
    """The edits to try on an upload, for a format."""

    model_config = ConfigDict(extra="forbid")

    preset: PresetName = "vertical"


@bp.post("/uploads/<upload_id>/edits")
@documented(
    {200: EditsPreviewAnswer}, body=EditsPreviewRequest, tag="uploads",
    errors={404: "no such upload", 422: "a bad edit, or a trim outside the clip"},
)  # fmt: skip
def preview_edits(upload_id: str):
    """What the edits would do to an upload, without rendering: the kept range, the end card found, and
    the crop window's path with its reasons (the dashboard draws it over the clip)."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send JSON (Content-Type: application/json)")
    asked = EditsPreviewRequest.model_validate(request.get_json())
    rt = runtime()
    with rt.db.session() as session:
        upload = session.get(Upload, upload_id)
    if upload is None or not rt.storage.exists(upload.path):
        raise ApiError(404, "upload_not_found", f"no upload {upload_id!r} (expired or never made)")
    rt.settings.temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{upload_id}-edits-", dir=rt.settings.temp_dir) as scratch:
        source = rt.storage.local_copy(upload.path, Path(scratch))
        reframe = asked.reframe()
        options = rt.settings.engine_options()
        edits = plan_edits(source, asked.output_formats(), reframe, asked.asked_trim(), options)
    return EditsPreviewAnswer(edits=edits.as_dict(reframe)).answer()


COOKIES_MAX_BYTES = 1_048_576


@bp.post("/cookies")
@documented({201: CookiesAnswer}, form=CookiesForm, errors={413: "larger than 1 MB"}, tag="cookies")
def upload_cookies():
    """Store a Netscape cookies file for a site (or every site) that wants a signed-in user; never sent back.

    A site's files make a pool, tried in turn while the site asks for a sign-in.
    """
    file_storage = request.files.get("file")
    if file_storage is None:
        raise ApiError(400, "missing_file", "send the cookies file as a multipart field named 'file'")
    content = file_storage.read(COOKIES_MAX_BYTES + 1)
    if len(content) > COOKIES_MAX_BYTES:
        raise ApiError(413, "too_large", "a cookies file is at most 1 MB; export only the sites you need")
    stored = runtime().cookies.save(content, request.form.get("site") or None)
    return CookiesAnswer(cookies={"present": True, **stored}).answer(), 201


@bp.delete("/cookies")
@documented({200: CookiesAnswer}, tag="cookies")
def delete_cookies():
    """Forget every uploaded cookies file (a WTF_COOKIES_FILE set by the operator stays in use)."""
    runtime().cookies.forget()
    return cookies_status()


@bp.delete("/cookies/<file_id>")
@documented({200: CookiesAnswer}, errors={404: "no such cookies file"}, tag="cookies")
def delete_cookies_file(file_id: str):
    """Forget one uploaded cookies file."""
    if not runtime().cookies.forget(file_id):
        raise ApiError(404, "cookies_not_found", f"no cookies file {file_id!r}")
    return cookies_status()


@bp.get("/cookies")
@documented({200: CookiesAnswer}, tag="cookies")
def cookies_status():
    """The uploaded cookies files, each with its site and state (their content is never shown)."""
    rt = runtime()
    rt.cookies.refresh()  # takes in the single file of earlier versions, if this is the first look
    files = rt.cookies.describe()
    present = bool(files) or bool(rt.settings.cookies_file and Path(rt.settings.cookies_file).is_file())
    return CookiesAnswer(cookies={"present": present, "files": files}).answer()


@bp.get("/sites")
@documented({200: SitesAnswer}, tag="cookies")
def site_health():
    """How downloads from each site went, failing sites first; a paused site's jobs wait until its time."""
    return SitesAnswer(sites=sites.site_health(runtime().db)).answer()


def _job_or_404(session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise state.JobNotFoundError(f"no job {job_id!r}")
    return job


def _job_response(job_id: str, status: int = 200):
    with runtime().db.session() as session:
        return JobAnswer(job=describe_job(_job_or_404(session, job_id), signed_download_url)).answer(), status


@bp.get("/jobs/<job_id>")
@documented({200: JobAnswer}, errors={404: "no such job"}, tag="jobs")
def get_job(job_id: str):
    """One job with its stage, progress and outputs."""
    return _job_response(job_id)


def encode_cursor(row: Job | Source) -> str:
    """Where a page newest first (by created_at, then id) ended: the next page starts after it."""
    raw = json.dumps([row.created_at.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created), str(row_id)
    except (ValueError, TypeError):
        raise ApiError(400, "bad_cursor", "the cursor is not one this API gave out") from None


@bp.get("/jobs")
@documented({200: JobPage}, query=JobListQuery, errors={400: "a bad status, limit or cursor"}, tag="jobs")
def list_jobs():
    """Jobs, newest first, a page at a time; ?status=, ?limit=, ?cursor=."""
    try:
        params = JobListQuery.model_validate(request.args.to_dict())
    except ValidationError as exc:
        field = exc.errors()[0]["loc"][0]
        raise ApiError(400, f"bad_{field}", validation_message(exc)) from None
    limit = min(PAGE_LIMIT_MAX, params.limit)
    query = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)
    if params.status:
        query = query.where(Job.status == params.status)
    if params.cursor:
        created, job_id = decode_cursor(params.cursor)
        query = query.where(or_(Job.created_at < created, and_(Job.created_at == created, Job.id < job_id)))
    with runtime().db.session() as session:
        jobs = session.scalars(query).all()
        page = jobs[:limit]
        return JobPage(
            jobs=[describe_job(job, signed_download_url) for job in page],
            next=encode_cursor(page[-1]) if len(jobs) > limit else None,
        ).answer()


@bp.post("/jobs/<job_id>/cancel")
@documented({202: JobAnswer}, errors={404: "no such job", 409: "the job has already ended"}, tag="jobs")
def cancel_job(job_id: str):
    """Stop a job: a queued one at once, a running one as soon as its worker sees the flag."""
    state.cancel(runtime().db, job_id)
    return _job_response(job_id, 202)


@bp.post("/jobs/<job_id>/retry")
@documented(
    {202: JobAnswer},
    errors={404: "no such job", 409: "not failed or cancelled, or its upload is gone"},
    tag="jobs",
)
def retry_job(job_id: str):
    """Run a failed or cancelled job again."""
    rt = runtime()
    state.retry(rt.db, job_id, rt.storage)
    _enqueue([job_id])
    return _job_response(job_id, 202)


@bp.post("/jobs/<job_id>/review")
@documented(
    {200: JobAnswer}, body=ReviewRequest,
    errors={404: "no such job", 409: "the job is not completed", 422: "not pending, approved or rejected"},
    tag="review",
)  # fmt: skip
def review_job(job_id: str):
    """Approve (or reject, or set back to pending) every output of a completed job at once."""
    wanted = ReviewRequest.model_validate(request.get_json())
    state.review(runtime().db, job_id, ReviewState(wanted.state))
    return _job_response(job_id)


@bp.post("/jobs/<job_id>/outputs/<int:number>/review")
@documented(
    {200: JobAnswer}, body=ReviewRequest,
    errors={404: "no such job or output", 409: "the job is not completed", 422: "not a review state"},
    tag="review",
)  # fmt: skip
def review_output(job_id: str, number: int):
    """Approve, reject or set back to pending one output (its `number` in the JOB object's outputs)."""
    wanted = ReviewRequest.model_validate(request.get_json())
    state.review(runtime().db, job_id, ReviewState(wanted.state), number)
    return _job_response(job_id)


def _output_brand(job_id: str, number: int) -> tuple[Brand, OutputFormat]:
    """The brand (as configured now, with the job's v3 settings) and format of output `number`."""
    with runtime().db.session() as session:
        job = _job_or_404(session, job_id)
        output = state.job_output(job, number)
        brand = runtime().brands.current().find(output.brand)
        if job.v3_settings:
            brand = apply_v3_settings(brand, job.v3_settings)
        return brand, job.format_of(output)


def _checked_overrides(job_id: str, number: int, wanted: RenderRequest) -> list[LayerOverride]:
    """The overrides, checked against the layers the output's brand draws (422 naming the field)."""
    brand, _format = _output_brand(job_id, number)
    overrides = [LayerOverride(**layer.model_dump()) for layer in wanted.layers]
    apply_overrides(brand_layers(brand, "vertical"), overrides)  # every shape draws the same layers
    return overrides


@bp.post("/jobs/<job_id>/outputs/<int:number>/render")
@documented(
    {202: JobAnswer}, body=RenderRequest,
    errors={404: "no such job or output", 409: "the job is not completed, or the output is already being "
            "rendered again", 422: "an override that does not fit (the message names the field)"},
    tag="review",
)  # fmt: skip
def rerender_output(job_id: str, number: int):
    """Render one output again alone with overrides for it only (its layers, its cover's time): one decode,
    one encode; a new version (the older kept until the job is deleted); the brand's config untouched."""
    wanted = RenderRequest.model_validate(request.get_json())
    _checked_overrides(job_id, number, wanted)
    rt = runtime()
    state.request_rerender(rt.db, job_id, number, wanted.stored(), requester())
    try:
        rt.enqueue_rerender(job_id, number)
    except QueueUnavailableError as exc:  # it is owed in the table: the workers' sweeper sends it later
        log.warning("job %s output %s: re-render recorded, not enqueued (%s)", job_id, number, exc.message)
    return _job_response(job_id, 202)


@bp.post("/jobs/<job_id>/outputs/<int:number>/still")
@documented(
    {200: StillAnswer}, body=StillRequest,
    errors={404: "no such job or output", 409: "the job's source is gone",
            422: "an override that does not fit (the message names the field)"},
    tag="review",
)  # fmt: skip
def output_still(job_id: str, number: int):
    """The engine's still of one output at `at` seconds with these overrides: the same plan as its render
    would use, so what the editor shows is what renders; and where each of its layers went."""
    wanted = StillRequest.model_validate(request.get_json())
    overrides = _checked_overrides(job_id, number, wanted)
    brand, _format = _output_brand(job_id, number)
    rt = runtime()
    with rt.db.session() as session:
        job = _job_or_404(session, job_id)
        output = state.job_output(job, number)
        fmt, reframe, trim = state.output_edits(job, output, wanted.stored())
        source_ref, duration, done = job.source_path or "", output.duration, output.edits or {}
        at = wanted.at if wanted.at is not None else (output.cover_at or duration / 2)
    at = min(at, duration)
    path = (done.get("reframe") or {}).get("path")
    if fmt.fit == "follow":  # the window where the render's moving crop has it at that time
        found = path is not None and path["found"]
        reframe = (
            Reframe("crop", centre_at(path["keys"], at), reframe.zoom)
            if found
            else reframe.for_fit(done.get("reframe", {}).get("used", reframe.fallback))
        )
    with tempfile.TemporaryDirectory(prefix="wtf-still-") as work:
        try:
            source = rt.storage.local_copy(source_ref, Path(work))
        except StoredFileMissingError:
            raise state.SourceGoneError(f"the source of job {job_id} is gone (expired or deleted)") from None
        still = render_preview(
            brand, fmt.preset, rt.settings.engine_options(), source, at=trim.start + at, reframe=reframe,
            overrides=overrides,
        )  # fmt: skip
    layers = apply_overrides(brand_layers(brand, output_shape(still.width, still.height)), overrides)
    width, height = still.width, still.height
    placed = [
        {"index": index, "x": x / width, "y": y / height, "width": w / width, "height": h / height,
         "full_frame": layer.full_frame, "text": layer.art.text}
        for index, ((x, y, w, h), layer) in enumerate(zip(still.overlays, layers, strict=True))
    ]  # fmt: skip
    jpeg = "data:image/jpeg;base64," + base64.b64encode(still.jpeg).decode()
    return StillAnswer(still=jpeg, at=at, width=width, height=height, layers=placed).answer()


@bp.delete("/jobs/<job_id>")
@documented({200: DeletedAnswer}, errors={404: "no such job", 409: "the job is still running"}, tag="jobs")
def delete_job(job_id: str):
    """Delete a finished job and its files."""
    rt = runtime()
    state.delete(rt.db, job_id, rt.storage)
    return DeletedAnswer(deleted=job_id).answer()


@bp.get("/videos/download/<path:filename>")
@documented(
    {200: Content("video/mp4", "the file"), 206: Content("video/mp4", "the part a Range asked for"),
     304: None},
    tag="videos",
    errors={403: "a signed link that was changed or has expired", 404: "no such output",
            416: "a Range outside the file"},
)  # fmt: skip
def download(filename: str):
    """An output file, with the key or as a signed link (`expires` + `signature`, no key needed).

    The signed link is each output's `url` in the JOB object; it works until it expires.
    """
    signed = is_signed(request.args)
    if signed:
        link_signer().check(filename, request.args)
    # A signed link is opened by players and phones: inline plays it; `<a download>` still saves it.
    return send_output(filename, inline=signed)


def send_output(filename: str, *, inline: bool) -> Response:
    """The one place an output file is served: Range, ETag, Content-Disposition; never outside outputs/.

    From object storage, a redirect to a presigned URL: the store serves the bytes (and Range) itself.
    """
    storage = runtime().storage
    ref = storage.ref(OUTPUTS, filename)
    url = storage.presigned_url(ref, Path(filename).name, inline=inline)
    if url is not None:
        if not storage.exists(ref):
            raise StoredFileMissingError(f"no output {filename!r} (expired or deleted)")
        return redirect(url, 302)
    mimetype = "video/mp4" if filename.endswith(".mp4") else None
    folder = runtime().settings.outputs_dir.resolve()
    return send_from_directory(
        folder, filename, as_attachment=not inline, download_name=Path(filename).name,
        conditional=True, mimetype=mimetype,
    )  # fmt: skip


class _ChunkSink:
    """A write-only file that zipfile streams into; the response generator drains it."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.chunks.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def drain(self) -> Iterator[bytes]:
        chunks, self.chunks = self.chunks, []
        yield from chunks


def post_text_name(output_name: str) -> str:
    """The post text's file beside an output in a ZIP: `clip-1a2b_brand.txt`."""
    return str(Path(output_name).with_suffix(".txt"))


@bp.get("/jobs/<job_id>/archive")
@documented(
    {200: Content("application/zip", "every output of the job, streamed")},
    errors={404: "no such job", 409: "the job has no outputs"}, tag="jobs",
)  # fmt: skip
def archive(job_id: str):
    """Every output of a job in one ZIP, streamed as it is written (no copy on disk), each with its post
    text beside it (`<output>.txt`) when its brand has one."""
    rt = runtime()
    with rt.db.session() as session:
        job = _job_or_404(session, job_id)
        files = [
            (name, rt.storage.ref(OUTPUTS, name), output.post_text if name == output.filename else None)
            for output in job.outputs
            for name in output.current_names()
        ]
        # named like the job's outputs (portal.jobs.tasks): the source's stem and the job's short id
        source = job.source_name if job.source_kind != "url" else job.source_path or job.source_name
        zip_name = f"{job_stem(Path(source).stem, job.id)}.zip"
    return _zip_response(files, zip_name, f"job {job_id} has no outputs to download")


def _zip_response(
    files: list[tuple[str, str, str | None]], download_name: str, empty_message: str
) -> Response:
    """The stored files (name in the ZIP, storage ref, post text) that still exist, in one ZIP streamed as
    it is written (no copy on disk), each post text beside its output; 409 if none is left."""
    rt = runtime()
    # each member dated as its output file was written (a bare ZipInfo would say 1 January 1980)
    members = [(name, ref, rt.storage.modified(ref), text) for name, ref, text in files]
    if not any(modified for _, _, modified, _ in members):
        raise ApiError(409, "no_outputs", empty_message)

    def generate() -> Iterator[bytes]:
        sink = _ChunkSink()
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive_file:  # type: ignore[arg-type]
            for name, ref, modified, post_text in members:
                if modified is None:
                    continue
                info = zipfile.ZipInfo(name, modified.astimezone().timetuple()[:6])
                with rt.storage.open(ref) as source, archive_file.open(info, "w", force_zip64=True) as target:
                    while chunk := source.read(ARCHIVE_CHUNK):
                        target.write(chunk)
                        yield from sink.drain()
                if post_text:
                    text_info = zipfile.ZipInfo(post_text_name(name), info.date_time)
                    archive_file.writestr(text_info, post_text.encode() + b"\n")
                yield from sink.drain()
        yield from sink.drain()

    response = Response(stream_with_context(generate()), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{download_name}"'
    return response


def _batch_jobs(session, batch_id: str) -> list[Job]:
    jobs = session.scalars(select(Job).where(Job.batch_id == batch_id).order_by(Job.created_at, Job.id)).all()
    if not jobs:
        raise ApiError(404, "batch_not_found", f"no batch {batch_id!r}")
    return list(jobs)


def batch_archive_name(batch_id: str) -> str:
    """The batch ZIP's file name, which its signed link signs (never an output's name: those are .mp4)."""
    return f"batch-{batch_id}.zip"


def source_folder(job: Job) -> str:
    """A job's folder in its batch's ZIP: its source's title or name, and the job's tag (unique)."""
    name = (job.source_meta or {}).get("title") or Path(job.source_name).stem
    return f"{safe_stem(name)[:STEM_SOURCE_CHARS]}-{job.id[:JOB_TAG_LENGTH]}"


@bp.get("/batches/<batch_id>")
@documented({200: BatchAnswer}, errors={404: "no such batch"}, tag="jobs")
def get_batch(batch_id: str):
    """The jobs of one submission of several sources, their outputs' count and the batch ZIP's signed link."""
    with runtime().db.session() as session:
        jobs = _batch_jobs(session, batch_id)
        query = urlencode(link_signer().query(batch_archive_name(batch_id)))
        archive_url = f"{BATCH_PATH.format(batch_id)}?{query}"
        return BatchAnswer(
            batch={
                "id": batch_id,
                "jobs": [describe_job(job, signed_download_url) for job in jobs],
                "outputs": sum(len(job.outputs) for job in jobs),
                "archive_url": archive_url,
            }
        ).answer()


BATCH_PATH = "/api/batches/{}/archive"


@bp.get("/batches/<batch_id>/archive")
@documented(
    {200: Content("application/zip", "every output of every job of the batch, a folder per source")},
    errors={403: "a signed link that was changed or has expired", 404: "no such batch",
            409: "no job of the batch has outputs"},
    tag="jobs",
)  # fmt: skip
def batch_archive(batch_id: str):
    """Every output of every job of a batch in one ZIP, a folder per source; with the key or as the
    batch's signed link (`archive_url`)."""
    if is_signed(request.args):
        link_signer().check(batch_archive_name(batch_id), request.args)
    rt = runtime()
    with rt.db.session() as session:
        files = [
            (
                f"{source_folder(job)}/{name}",
                rt.storage.ref(OUTPUTS, name),
                output.post_text if name == output.filename else None,
            )
            for job in _batch_jobs(session, batch_id)
            for output in job.outputs
            for name in output.current_names()
        ]
    return _zip_response(files, batch_archive_name(batch_id), f"batch {batch_id} has no outputs yet")


@bp.get("/brands")
@documented({200: BrandsAnswer}, errors={503: "brand_config.json is missing or invalid"}, tag="brands")
def list_brands():
    """The brands of brand_config.json."""
    config = runtime().brands.current()
    return BrandsAnswer(brands=list(config.brands.values())).answer()


@bp.get("/brands/<brand_id>/preview.jpg")
@documented(
    {200: Content("image/jpeg", "the still"), 304: None}, query=PreviewQuery, tag="brands",
    errors={400: "an unknown preset, or a framing that does not fit", 404: "no such brand or clip"},
)  # fmt: skip
def brand_preview(brand_id: str):
    """A still with the brand's overlays for a preset, made by the engine (cached per brand version), on a
    generated frame or on the middle frame of a clip (`frame`: `upload:<id>`, `job:<id>`, `source:<id>`)
    framed as its render would be (`fit`, `anchor`, `zoom`): what a render of it in that format shows."""
    preset, frame = request.args.get("preset", "vertical"), request.args.get("frame", "")
    reframe = _asked_framing()
    try:
        brand = runtime().brands.current().find(brand_id)
    except UnknownBrandError:
        raise ApiError(404, "unknown_brand", f"no brand {brand_id!r}") from None
    # the version covers the logo files too: the dashboard replaces a logo under the same name
    stamps = [path.stat().st_mtime_ns for path in brand.asset_paths() if path.exists()]
    version = f"{brand.model_dump_json()}|{stamps}"
    key = (version, preset, repr(reframe), frame)
    jpeg = _preview_cache(key, brand, reframe)
    response = Response(jpeg, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "no-cache"
    response.set_etag(hashlib.sha1("|".join(key).encode()).hexdigest()[:16])
    return response.make_conditional(request)


def _asked_framing() -> Reframe:
    """A still's framing from its query (`fit`, `anchor` X,Y, `zoom`), checked as a submission's is.
    Follow's window moves with the subject: a still shows it where it rests (the anchor)."""
    fit = request.args.get("fit", DEFAULT_FIT)
    if fit not in FITS:
        raise ApiError(400, "bad_fit", f"fit must be one of {', '.join(FITS)}")
    try:
        anchor = parse_anchor(request.args["anchor"]) if request.args.get("anchor") else None
        zoom = float(request.args.get("zoom", 1))
        return Reframe("crop" if fit == "follow" else fit, anchor, zoom)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ApiError(400, "bad_framing", str(exc)) from None


def preview_still(
    brand: Brand, preset: str, source: Path | None = None, reframe: Reframe = DEFAULT_REFRAME
) -> PreviewStill:
    """The engine's still of a brand on a preset's canvas (on a frame of `source`, a user's clip, framed
    by `reframe` as its render would be), with a sample caption where a brand with a captions layer draws
    a clip's captions."""
    if preset not in PRESETS:
        raise ApiError(400, "bad_preset", f"preset must be one of {', '.join(PRESETS)}")
    return render_preview(
        brand, preset, runtime().settings.engine_options(), source, reframe=reframe, sample_captions=True
    )


@contextmanager
def preview_clip(choice: str) -> Iterator[Path | None]:
    """The clip a preview is drawn on: "" (a generated frame), "upload:<id>", "job:<id>" (its source) or
    "source:<id>" (a library item: a link fetched first, say), copied from object storage if kept there."""
    if not choice:
        yield None
        return
    kind, _, item_id = choice.partition(":")
    model, column = CLIP_KINDS.get(kind, (None, ""))
    rt = runtime()
    with rt.db.session() as session:
        row = session.get(model, item_id) if model is not None else None
        ref = getattr(row, column) if row is not None else None
    rt.settings.temp_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="wtf-clip-", dir=rt.settings.temp_dir) as scratch:
        clip = None
        if ref is not None:
            with suppress(EngineError):  # its file is gone
                clip = kept_source(rt, ref, Path(scratch))
        if clip is None:
            message = f"no clip {choice!r} to preview on (it may have been cleaned up)"
            raise ApiError(404, "unknown_clip", message)
        yield clip


# what a preview's `frame` names, and where that row keeps its file
CLIP_KINDS = {"upload": (Upload, "path"), "job": (Job, "source_path"), "source": (Source, "path")}


def _preview_cache(key: tuple[str, str, str, str], brand: Brand, reframe: Reframe) -> bytes:
    """The still of `key` (brand version, preset, framing, frame): each made once, the latest 64 kept."""
    cache = current_app.extensions.setdefault("preview_cache", {})
    if key not in cache:
        _version, preset, _framing, frame = key
        with preview_clip(frame) as source:
            cache[key] = preview_still(brand, preset, source, reframe).jpeg
        if len(cache) > 64:
            cache.pop(next(iter(cache)))
    return cache[key]


def brand_id_for_edit(brand_id: str) -> str:
    """The id of the existing brand of this name in any case, else `brand_id` if it is a valid new id."""
    try:
        return runtime().brands.current().find(brand_id).id
    except UnknownBrandError:
        pass
    try:
        return Brand.model_validate({"id": brand_id, "name": "x"}).id
    except ValueError:
        raise ApiError(422, "invalid_brand", f"brand id: {BRAND_ID_RULE}") from None


# Brand images uploaded but not yet saved into a brand wait in uploads/ under this prefix (retention
# sweeps them like any upload); saving a brand copies the ones it uses into the brand store.
ASSET_PREFIX = "asset-"
MAX_ASSET_FORM_BYTES = 11 * 1_048_576  # the image's own limit is the cleaner's; this bounds the read


def asset_ref(name: str) -> str:
    """The stored object of an uploaded brand image; 404 if the name is not one this API gave out."""
    storage = runtime().storage
    if not name.startswith(ASSET_PREFIX) or secure_filename(name) != name or not name.endswith(".png"):
        raise ApiError(404, "unknown_asset", f"no brand image {name!r}")
    ref = storage.ref(UPLOADS, name)
    if not storage.exists(ref):
        raise ApiError(404, "unknown_asset", f"no brand image {name!r} (expired, or never uploaded)")
    return ref


@bp.post("/brands/<brand_id>/assets")
@documented(
    {201: AssetAnswer}, form=AssetForm, tag="brands",
    errors={413: "larger than 10 MB or 4096x4096", 422: "not a PNG, JPEG or WebP, broken, an SVG, a bad id"},
)  # fmt: skip
def upload_brand_asset(brand_id: str):
    """Clean a logo or watermark image (background, edges, shape, size) and store it as PNG."""
    brand_id = brand_id_for_edit(brand_id)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ApiError(400, "missing_file", "send the image as a multipart field named 'file'")
    shape = request.form.get("shape") or "original"
    if shape not in ASSET_SHAPES:
        raise ApiError(422, "bad_shape", f"shape must be one of {', '.join(ASSET_SHAPES)}")
    clean = request.form.get("clean", "true").strip().lower()
    if clean not in ("true", "false", "1", "0"):
        raise ApiError(422, "bad_clean", "clean must be true or false")
    cleaned = clean_image(
        upload.read(MAX_ASSET_FORM_BYTES), upload.filename, clean=clean in ("true", "1"), shape=shape
    )
    _require_disk()
    rt = runtime()
    stem = Path(secure_filename(upload.filename) or "image").stem[:40] or "image"
    name = f"{ASSET_PREFIX}{stem}-{secrets.token_hex(6)}.png"
    rt.settings.temp_dir.mkdir(parents=True, exist_ok=True)
    scratch = rt.settings.temp_dir / name
    scratch.write_bytes(cleaned.png)
    try:
        rt.storage.store(scratch, UPLOADS, name)
    finally:
        scratch.unlink(missing_ok=True)
    url = f"/api/brands/{brand_id}/assets/{name}"
    return AssetAnswer(asset={"name": name, "url": url, **cleaned.describe()}).answer(), 201


@bp.get("/brands/<brand_id>/assets/<name>")
@documented({200: Content("image/png", "the stored image")}, errors={404: "no such image"}, tag="brands")
def brand_asset(brand_id: str, name: str):
    """An uploaded brand image, as stored (the cleaned PNG)."""
    with runtime().storage.open(asset_ref(name)) as stored:
        body = stored.read()
    response = Response(body, mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600"  # a name is never reused
    return response
