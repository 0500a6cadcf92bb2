"""The library's API (DESIGN 4.14): search, show, pin and delete library items, and their covers.
"Brand again" is POST /api/videos/process with a `source_id` (portal.web.api)."""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for
from pydantic import ValidationError
from sqlalchemy.orm import selectinload

from portal.database import Job, Source
from portal.jobs.maintenance import delete_source
from portal.library.sources import describe_source, get_source, search_query
from portal.storage.objects import StoredFileMissingError
from portal.web.api import PAGE_LIMIT_MAX, decode_cursor, encode_cursor
from portal.web.auth import require_api_auth
from portal.web.errors import ApiError, validation_message
from portal.web.links import signed_download_url
from portal.web.openapi import Content, documented
from portal.web.runtime import runtime
from portal.web.schemas import DeletedAnswer, SourceAnswer, SourceListQuery, SourcePage

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
