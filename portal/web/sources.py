"""The library's API (DESIGN 4.14): search, show, pin and delete library items, their covers, clips and
transcripts (DESIGN 4.13). "Brand again" is POST /api/videos/process with a `source_id` (portal.web.api)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, redirect, request, send_file, url_for
from pydantic import ValidationError
from sqlalchemy.orm import selectinload

from portal.database import Job, Source
from portal.jobs.maintenance import delete_source
from portal.jobs.transcripts import StoredTranscript, load_transcript, save_transcript
from portal.library.sources import describe_source, get_source, search_query
from portal.media.transcript import cues_from_json, parse_subtitles
from portal.storage.objects import StoredFileMissingError
from portal.web.api import PAGE_LIMIT_MAX, decode_cursor, encode_cursor
from portal.web.auth import require_api_auth
from portal.web.errors import ApiError, validation_message
from portal.web.links import signed_download_url
from portal.web.openapi import Content, documented
from portal.web.runtime import runtime
from portal.web.schemas import (
    DeletedAnswer,
    SourceAnswer,
    SourceListQuery,
    SourcePage,
    TranscriptAnswer,
    TranscriptRequest,
)

bp = Blueprint("sources", __name__, url_prefix="/api")
WITH_RENDERS = selectinload(Source.jobs).selectinload(Job.outputs)


@bp.before_request
def _authenticate() -> None:
    require_api_auth()


def _cover_url(source: Source) -> str:
    return url_for("sources.cover", source_id=source.id)


def _describe(source: Source) -> dict:
    return describe_source(source, runtime().settings.retention_hours, _cover_url, signed_download_url)


@bp.get("/sources")
@documented(
    {200: SourcePage}, query=SourceListQuery, errors={400: "a bad date, limit or cursor"}, tag="library"
)
def list_sources():
    """Library items, newest first, a page at a time; ?q= words of the title, uploader or link; ?since=,
    ?until= (ISO 8601), ?limit=, ?cursor=."""
    try:
        params = SourceListQuery.model_validate(request.args.to_dict())
    except ValidationError as exc:
        field = exc.errors()[0]["loc"][0] if exc.errors()[0]["loc"] else "query"
        raise ApiError(400, f"bad_{field}", validation_message(exc)) from None
    limit = min(PAGE_LIMIT_MAX, params.limit)
    after = decode_cursor(params.cursor) if params.cursor else None
    query = search_query(params.q, params.since, params.until, after).options(WITH_RENDERS).limit(limit + 1)
    with runtime().db.session() as session:
        rows = session.scalars(query).all()
        page = rows[:limit]
        return SourcePage(
            sources=[_describe(source) for source in page],
            next=encode_cursor(page[-1]) if len(rows) > limit else None,
        ).answer()


@bp.get("/sources/<source_id>")
@documented({200: SourceAnswer}, errors={404: "no such library item"}, tag="library")
def get_source_item(source_id: str):
    """One library item with every render made from it."""
    with runtime().db.session() as session:
        return SourceAnswer(source=_describe(get_source(session, source_id))).answer()


def _pin(source_id: str, pinned: bool):
    with runtime().db.session() as session:
        source = get_source(session, source_id)
        source.pinned = pinned
        return SourceAnswer(source=_describe(source)).answer()


@bp.post("/sources/<source_id>/pin")
@documented({200: SourceAnswer}, errors={404: "no such library item"}, tag="library")
def pin(source_id: str):
    """Keep the item (its file, cover and renders) past WTF_RETENTION_HOURS."""
    return _pin(source_id, True)


@bp.delete("/sources/<source_id>/pin")
@documented({200: SourceAnswer}, errors={404: "no such library item"}, tag="library")
def unpin(source_id: str):
    """Let retention remove the item again (its `removal_at` says when)."""
    return _pin(source_id, False)


@bp.delete("/sources/<source_id>")
@documented(
    {200: DeletedAnswer}, errors={404: "no such library item", 409: "a job of it is still running"},
    tag="library",
)  # fmt: skip
def delete_source_item(source_id: str):
    """Delete the item, its file, cover, renders and their outputs (files and bucket objects)."""
    rt = runtime()
    with rt.db.session() as session:
        delete_source(session, get_source(session, source_id), rt.storage)
    return DeletedAnswer(deleted=source_id).answer()


@bp.get("/sources/<source_id>/cover.jpg")
@documented({200: Content("image/jpeg", "a still of the clip")}, errors={404: "no cover"}, tag="library")
def cover(source_id: str):
    """A still of the clip, from its middle."""
    rt = runtime()
    with rt.db.session() as session:
        ref = get_source(session, source_id).cover
    if ref is None:
        raise ApiError(404, "no_cover", f"library item {source_id} has no cover (yet)")
    try:
        with rt.storage.open(ref) as still:
            jpeg = still.read()
    except StoredFileMissingError:
        raise ApiError(404, "no_cover", f"the cover of library item {source_id} is gone") from None
    response = Response(jpeg, mimetype="image/jpeg")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/sources/<source_id>/video")
@documented(
    {200: Content("video/mp4", "the clip"), 206: Content("video/mp4", "a Range's part"), 304: None},
    errors={404: "no stored clip"}, tag="library",
)  # fmt: skip
def video(source_id: str):
    """The item's stored clip (the transcript editor plays it), with Range; from object storage, a
    redirect to a presigned URL."""
    rt = runtime()
    with rt.db.session() as session:
        source = get_source(session, source_id)
        ref, name = source.path, source.filename or f"{source_id}.mp4"
    if ref is None or not rt.storage.exists(ref):
        raise ApiError(
            404, "source_gone", f"library item {source_id} has no stored clip (not yet, or not any more)"
        )
    url = rt.storage.presigned_url(ref, name, inline=True)
    if url is not None:
        return redirect(url, 302)
    return send_file(Path(ref), conditional=True, mimetype="video/mp4", download_name=name)


def _transcript_answer(source_id: str, found: StoredTranscript) -> dict:
    with runtime().db.session() as session:
        duration = get_source(session, source_id).duration
    return TranscriptAnswer(
        transcript={"source_id": source_id, "origin": found.origin, "updated_at": found.updated_at,
                    "duration": duration, "cues": [cue.as_dict() for cue in found.cues]}
    ).answer()  # fmt: skip


@bp.get("/sources/<source_id>/transcript")
@documented(
    {200: TranscriptAnswer}, errors={404: "no such library item, or it has no transcript"}, tag="library"
)
def get_transcript(source_id: str):
    """The item's transcript: timed cues with their words, the one every brand, format and later render
    burns in."""
    found = load_transcript(runtime().db, source_id)
    if found is None:
        raise ApiError(404, "transcript_not_found", f"library item {source_id!r} has no transcript yet")
    return _transcript_answer(source_id, found)


@bp.put("/sources/<source_id>/transcript")
@documented(
    {200: TranscriptAnswer}, body=TranscriptRequest, tag="library",
    errors={404: "no such library item", 409: "a link not downloaded yet (its length is unknown)",
            422: "a cue out of order, outside the clip or without text (the message names it)"},
)  # fmt: skip
def put_transcript(source_id: str):
    """Replace the item's transcript (an edit): checked against the clip, then used by every later render
    of it (a new job, "Brand again", one output rendered again)."""
    body = TranscriptRequest.model_validate(request.get_json())
    if body.subtitles is not None:
        cues, origin = parse_subtitles(body.subtitles), "file"
    else:
        cues, origin = cues_from_json([cue.model_dump(exclude_none=True) for cue in body.cues or []]), "edit"
    return _transcript_answer(source_id, save_transcript(runtime().db, source_id, cues, origin))
