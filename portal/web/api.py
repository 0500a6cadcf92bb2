"""The HTTP API (DESIGN 4.7): uploads, jobs, downloads, archives, brands."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Iterator
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
from portal.brand_loader import Brand, UnknownBrandError
from portal.database import Job, Source, Upload, new_id, utc_now
from portal.jobs import state
from portal.jobs.answer import PresetName, describe_job
from portal.jobs.maintenance import require_free_disk
from portal.jobs.state import NewJob
from portal.jobs.transcripts import AUTO, load_transcript, save_transcript
from portal.jobs.webhooks import check_target
from portal.library.sources import (
    describe_picture,
    get_source,
    source_for_link,
    source_for_upload,
    source_meta,
    warnings_for,
)
from portal.media.errors import SourceError
from portal.media.options import DEFAULT_FIT, formats_from_choices
from portal.media.plan import JOB_TAG_LENGTH, STEM_SOURCE_CHARS, job_stem, output_size, safe_stem
from portal.media.transcript import Cue, TranscriptError, cues_from_json, parse_subtitles
from portal.storage.links import is_signed
from portal.storage.objects import OUTPUTS, UPLOADS, StoredFileMissingError
from portal.video_processor import PRESETS, probe_media, render_preview
from portal.web.auth import require_api_auth
from portal.web.errors import ApiError, validation_message
from portal.web.links import link_signer, signed_download_url
from portal.web.openapi import Content, documented
from portal.web.runtime import runtime
from portal.web.schemas import (
    BatchAnswer,
    BrandsAnswer,
    CookiesAnswer,
    CookiesForm,
    DeletedAnswer,
    FileForm,
    FormatChoice,
    JobAnswer,
    JobListQuery,
    JobPage,
    JobsAnswer,
    PlanAnswer,
    PreviewQuery,
    SitesAnswer,
    StatusAnswer,
    TranscriptAnswer,
    TranscriptRequest,
    UploadAnswer,
    WebhookRequest,
)

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


class BrandSelection(WebhookRequest, FormatChoice):
    """What to make: the brands and the formats (a multipart request sends only this, with its file)."""

    model_config = ConfigDict(extra="forbid")

    brands: list[str] | Literal["all"] = Field(min_length=1)
    captions: str | None = Field(
        default=None,
        max_length=32,
        description="burned in by brands with a captions layer: the id of an uploaded SRT or WebVTT file, or"
        ' "auto" (speech recognition in the worker)',
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
    webhook_url: str | None = None
    captions: str | None = Field(default=None, description="the id of an uploaded SRT or WebVTT file")


SOURCE_FIELDS = ("url", "urls", "upload_id", "upload_ids", "source_id")


class SourcesRequest(BrandSelection):
    """The selection plus its sources: one `url` or `upload_id`, or `urls` and/or `upload_ids` (several
    sources: a batch)."""

    url: str | None = None
    urls: list[str] | None = Field(default=None, min_length=1, max_length=MAX_SOURCES)
    upload_id: str | None = None
    upload_ids: list[str] | None = Field(default=None, min_length=1, max_length=MAX_SOURCES)
    source_id: str | None = Field(default=None, description="a library item: brand it again, no download")
    playlist: bool = False

    def given(self) -> list[str]:
        return [name for name in SOURCE_FIELDS if getattr(self, name)]

    def upload_list(self) -> list[str]:
        return self.upload_ids or ([self.upload_id] if self.upload_id else [])

    def url_list(self) -> list[str]:
        return self.urls or ([self.url] if self.url else [])


class ProcessRequest(SourcesRequest):
    """A JSON request: the selection plus its sources."""

    @model_validator(mode="after")
    def _sources(self) -> ProcessRequest:
        given = self.given()
        if not given or (len(given) > 1 and set(given) != {"urls", "upload_ids"}):
            raise ValueError("give one of 'url', 'upload_id' or 'source_id', or 'urls' and/or 'upload_ids'")
        if len(self.url_list()) + len(self.upload_list()) > MAX_SOURCES:
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
            info = probe_media(scratch)
            media = {k: v for k, v in info.as_dict().items() if k != "path"}
            with rt.db.session() as session:
                source_id = source_for_upload(session, original, None, info.duration).id
            describe_picture(
                rt.db, rt.storage, source_id, scratch, info.duration, rt.settings.ffmpeg_path, keep_file=False
            )
        ref = rt.storage.store(scratch, UPLOADS, name)
    except SourceError as exc:
        # the same error, naming the client's file instead of the server's path
        reason = str(exc).split(": ", 1)[-1]
        raise type(exc)(f"{file_storage.filename}: {reason}") from None
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


def _captions_upload(captions: str | None) -> str | None:
    """The captions a submission asks for, checked: "auto", an uploaded SRT/WebVTT file's id, or None."""
    if captions is None or captions == AUTO:
        return captions
    upload = _stored_upload(captions)
    if (upload.media or {}).get("kind") != SUBTITLES_KIND:
        raise ApiError(422, "invalid_captions", f"captions: upload {captions!r} is not an SRT or WebVTT file")
    return upload.id


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
    return BrandSelection.model_validate(fields)


@dataclass(frozen=True)
class Submission:
    """A submission's selection and its sources: stored uploads and checked links."""

    selection: BrandSelection
    brands: list[str]  # the brands' ids, each known
    uploads: list[Upload]
    urls: list[str]
    single: bool  # asked for one source (`url`, `upload_id`, a multipart file): answered as `{"job"}`
    library_item: str | None = None  # `source_id`: a library item branded again


def _parse_process_request() -> Submission:
    """The JSON request, or a multipart one whose file is stored (after its brands are checked)."""
    if request.mimetype == "multipart/form-data":
        selection = _form_selection()
        brands = _brand_ids(
            selection.brands
        )  # unknown brands and webhooks are refused before the file is stored
        check_target(selection.webhook_url, runtime().settings)
        _captions_upload(selection.captions)
        return Submission(selection, brands, [_save_upload(request.files.get("file"))], [], single=True)
    if not request.is_json:
        raise ApiError(
            415, "unsupported_media_type", "send JSON (Content-Type: application/json) or multipart"
        )
    payload = ProcessRequest.model_validate(request.get_json())
    brands = _brand_ids(payload.brands)
    if payload.source_id:
        return Submission(payload, brands, [], [], single=True, library_item=payload.source_id)
    check_target(payload.webhook_url, runtime().settings)
    _captions_upload(payload.captions)
    uploads = [_video_upload(upload_id) for upload_id in payload.upload_list()]
    urls = _checked_links(payload.url_list(), payload.playlist)
    return Submission(payload, brands, uploads, urls, single=bool(payload.url or payload.upload_id))


def _submit(new_jobs: list[NewJob]) -> list[str]:
    rt = runtime()
    ids = state.submit(rt.db, new_jobs)
    rt.enqueue_all(ids)
    return ids


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
    """Queue branding of an upload (upload_id or multipart file), a `url`, or `urls` and/or `upload_ids`:
    every brand in every format (`formats`), one job per source; 202 with the job(s).

    One job answers `{"job"}`; `urls`, `upload_ids`, or a `url` that is a playlist expanded with
    `playlist: true`, answer `{"jobs"}`, which share a `batch_id` when there are several.
    """
    submission = _parse_process_request()
    selection = submission.selection
    brands, formats = submission.brands, selection.output_formats()
    if submission.library_item:
        return _job_response(_brand_again(submission.library_item, brands, selection), 202)
    window = runtime().settings.repost_window_days
    sources = [("upload", u.filename, u.path, u.source_id) for u in submission.uploads]
    with runtime().db.session() as session:  # a link sent before keeps its item (and its fingerprint)
        sources += [("url", url, None, source_for_link(session, url).id) for url in submission.urls]
        new = [
            NewJob.rendering(kind, name, path, brands, formats, webhook_url=selection.webhook_url,
                             captions=selection.captions,
                             source_id=source_id, warnings=warnings_for(session, source_id, window))
            for kind, name, path, source_id in sources
        ]  # fmt: skip
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
    for upload_id in payload.upload_list():
        upload = _video_upload(upload_id)
        sources.append((upload.filename, (upload.media["width"], upload.media["height"])))
    sources += [(name, None) for name in payload.files]
    sources += [(url, None) for url in _checked_links(payload.url_list(), payload.playlist)]
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
    return PlanAnswer(plan={**plan, "outputs": outputs}).answer()


def _brand_again(source_id: str, brands: list[str], selection: BrandSelection) -> str:
    """A new job from a library item's stored file: no upload, no download."""
    rt = runtime()
    with rt.db.session() as session:
        source = get_source(session, source_id)
        if source.path is None or not rt.storage.exists(source.path):
            message = f"library item {source_id} has no stored file (not yet, or not any more)"
            raise ApiError(409, "source_gone", message)
        source.used_at = utc_now()
        meta = source_meta(source)
        name = source.title or source.filename or "clip"
        warnings = warnings_for(session, source.id, rt.settings.repost_window_days)
        path = source.path
    [job_id] = _submit([
        NewJob.rendering("library", name, path, brands, selection.output_formats(),
                         webhook_url=selection.webhook_url, source_id=source_id, source_meta=meta,
                         warnings=warnings)
    ])  # fmt: skip
    return job_id


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


def _transcript_answer(job_id: str, cues: list[Cue], origin: str) -> dict:
    cues_out = [cue.as_dict() for cue in cues]
    return TranscriptAnswer(transcript={"job_id": job_id, "origin": origin, "cues": cues_out}).answer()


@bp.get("/jobs/<job_id>/transcript")
@documented({200: TranscriptAnswer}, errors={404: "no such job, or it has no transcript"}, tag="jobs")
def get_transcript(job_id: str):
    """The job's transcript: timed cues with their words, the one every brand and format burns in."""
    found = load_transcript(runtime().db, job_id)
    if found is None:
        raise ApiError(404, "transcript_not_found", f"job {job_id!r} has no transcript yet")
    return _transcript_answer(job_id, *found)


@bp.put("/jobs/<job_id>/transcript")
@documented(
    {200: TranscriptAnswer}, body=TranscriptRequest, tag="jobs",
    errors={404: "no such job", 409: "a link not downloaded yet (its length is unknown)",
            422: "a cue out of order, outside the clip or without text (the message names it)"},
)  # fmt: skip
def put_transcript(job_id: str):
    """Replace the job's transcript (an edit): checked against the clip, then used by every later render."""
    body = TranscriptRequest.model_validate(request.get_json(silent=True) or {})
    if body.subtitles is not None:
        cues, origin = parse_subtitles(body.subtitles), "file"
    else:
        cues, origin = cues_from_json(body.cues or []), "edit"
    cues = save_transcript(runtime().db, job_id, cues, origin)
    return _transcript_answer(job_id, cues, origin)


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
    rt.enqueue(job_id)
    return _job_response(job_id, 202)


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
            (name, rt.storage.ref(OUTPUTS, name), o.post_text if name == o.filename else None)
            for o in job.outputs
            for name in o.files()
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
            for name in output.files()
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
    errors={400: "an unknown preset", 404: "no such brand"},
)  # fmt: skip
def brand_preview(brand_id: str):
    """A still with the brand's overlays for a preset, made by the engine (cached per brand version)."""
    preset = request.args.get("preset", "vertical")
    try:
        brand = runtime().brands.current().find(brand_id)
    except UnknownBrandError:
        raise ApiError(404, "unknown_brand", f"no brand {brand_id!r}") from None
    # the version covers the logo files too: the dashboard replaces a logo under the same name
    stamps = [path.stat().st_mtime_ns for path in brand.asset_paths() if path.exists()]
    version = f"{brand.model_dump_json()}|{stamps}"
    jpeg = _preview_cache(version, brand, preset)
    response = Response(jpeg, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "no-cache"
    response.set_etag(hashlib.sha1(f"{version}|{preset}".encode()).hexdigest()[:16])
    return response.make_conditional(request)


def preview_jpeg(brand: Brand, preset: str, source: Path | None = None) -> bytes:
    """The engine's still of a brand on a preset's canvas (on a frame of `source`, a user's clip)."""
    if preset not in PRESETS:
        raise ApiError(400, "bad_preset", f"preset must be one of {', '.join(PRESETS)}")
    return render_preview(brand, preset, runtime().settings.engine_options(), source)


def _preview_cache(version: str, brand: Brand, preset: str) -> bytes:
    cache = current_app.extensions.setdefault("preview_cache", {})
    key = (version, preset)
    if key not in cache:
        cache[key] = preview_jpeg(brand, preset)
        if len(cache) > 64:
            cache.pop(next(iter(cache)))
    return cache[key]
