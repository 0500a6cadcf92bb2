"""v3's routes (DESIGN 4.8): a thin adapter over the same jobs, engine and brands, in v3's shapes.

WatchTheFall Orchestrator v3's dashboard and scripts call these paths with these fields and read these
answers; they keep working with one change: they send the portal key (v3 had none; `/portal/test`,
`/__debug_alive` and `/__debug_health` stay open). Errors are v3's `{"success": false, "error": "..."}`.
`process_brands` and `fetch` answer when their job ends, as v3 did (bounded by WTF_SYNC_WAIT_S, and a
client that goes away does not cancel the job); with `Prefer: respond-async` they answer 202 at once.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.wrappers import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy import text

from portal.acquire.downloader import DownloadOptions, check_url
from portal.brand_loader import Brand, BrandConfig, UnknownBrandError
from portal.brands.v3_import import V3Settings, apply_v3_settings, v3_settings
from portal.database import Job, Upload
from portal.errors import PortalError
from portal.jobs.answer import describe_job
from portal.jobs.state import NewJob, edits_record
from portal.jobs.status import FINISHED, JobStatus
from portal.jobs.webhooks import check_target
from portal.media.options import Reframe
from portal.storage.objects import OUTPUTS, UPLOADS
from portal.web import debug, events
from portal.web.api import _require_disk, _submit, fetch_jobs
from portal.web.auth import require_api_auth
from portal.web.errors import ApiError, use_error_shape, validation_message
from portal.web.links import signed_download_url
from portal.web.openapi import Content, documented, json_report
from portal.web.runtime import runtime
from portal.web.schemas import (
    V3BrandConfigAnswer,
    V3BrandsList,
    V3FetchAnswer,
    V3FetchRequest,
    V3JobAccepted,
    V3JobsAccepted,
    V3PortalStatus,
    V3ProcessAnswer,
    V3ProcessBrandsRequest,
)

bp = Blueprint("v3", __name__)
OPEN_ENDPOINTS = {"v3.portal_test", "v3.debug_alive", "v3.debug_health"}
# The per-render settings process_brands accepts: v3's brand settings (its font is not ours to choose).
RENDER_SETTINGS = tuple(name for name in V3Settings.model_fields if name != "text_font")
FETCH_MAX_URLS = 50
LINK_SCHEMES = ("http://", "https://")


@bp.before_request
def _authenticate() -> None:
    if request.endpoint not in OPEN_ENDPOINTS:
        require_api_auth()


def v3_error(status: int, message: str, **extra: Any) -> tuple[Response, int]:
    """v3's error answer."""
    return jsonify({"success": False, "error": message, **extra}), status


use_error_shape(bp, lambda status, code, message: v3_error(status, message))


# --- probes and diagnostics ---------------------------------------------------------------------------


def _route_list(prefix: str) -> list[dict]:
    """Every route under `prefix`: path, method and the first line of what its view says it does."""
    routes = []
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda rule: rule.rule):
        if not rule.rule.startswith(prefix):
            continue
        doc = (current_app.view_functions[rule.endpoint].__doc__ or "").strip().splitlines()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.append({"route": rule.rule, "method": method, "description": doc[0] if doc else ""})
    return routes


def _folder_checks() -> dict[str, str]:
    """v3's health checks: each working folder takes a write, and the database answers."""
    settings = runtime().settings
    checks = {}
    for name in ("uploads", "outputs", "temp"):
        probe = getattr(settings, f"{name}_dir") / f".health-{os.getpid()}"
        try:
            probe.write_bytes(b"ok")
            probe.unlink()
            checks[name] = "OK"
        except OSError as exc:
            checks[name] = f"ERROR: {exc.strerror}"
    try:
        with runtime().db.session() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "OK"
    except Exception as exc:
        checks["database"] = f"ERROR: {type(exc).__name__}"
    return checks


@bp.get("/portal/test")
@documented({200: V3PortalStatus, 503: V3PortalStatus}, open=True, v3=True)
def portal_test():
    """v3's availability check, also a readiness probe: 503 while a data folder or the database fails."""
    failing = [name for name, state in _folder_checks().items() if state != "OK"]
    message = f"not ready: {', '.join(failing)} failing" if failing else "WatchTheFall Portal is running"
    body = V3PortalStatus(
        status="offline" if failing else "online", message=message, endpoints=sorted(V3_ROUTES)
    )
    return body.answer(), 503 if failing else 200


@bp.get("/api")
@documented({200: json_report("every /api route: route, method, description")}, v3=True)
def api_index():
    """The API's routes (v3's route list)."""
    return {"status": "ok", "message": "WatchTheFall Portal API", "endpoints": _route_list("/api")}


@bp.get("/__debug_alive")
@documented({200: Content("text/plain", "`alive`", {"type": "string"})}, open=True, v3=True)
def debug_alive():
    """The process answers (open)."""
    return "alive", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/__debug_health")
@documented(
    {200: json_report("healthy"), 503: json_report("unhealthy: which check fails")}, open=True, v3=True
)
def debug_health():
    """Working folders writable and database reachable (open; names only, no paths or secrets)."""
    checks = _folder_checks()
    healthy = all(state == "OK" for state in checks.values())
    return {"status": "healthy" if healthy else "unhealthy", "checks": checks}, 200 if healthy else 503


@bp.get("/__debug_routes")
@documented({200: json_report("every registered route")}, v3=True)
def debug_routes():
    """Every registered route."""
    routes = [
        {"endpoint": rule.endpoint, "methods": sorted(rule.methods or ()), "rule": rule.rule}
        for rule in sorted(current_app.url_map.iter_rules(), key=lambda rule: rule.rule)
    ]
    return {"status": "ok", "routes": routes}


@bp.get("/__debug_env")
@documented({200: json_report("the environment and effective settings, secrets shown as ***")}, v3=True)
def debug_env():
    """The WTF_* environment and effective settings, secrets redacted."""
    return {"status": "ok", **debug.env()}


@bp.get("/__debug_ffmpeg")
@documented({200: json_report("the FFmpeg binary, its version and what it lacks")}, v3=True)
def debug_ffmpeg():
    """Which FFmpeg, its version and what it lacks."""
    return {"status": "ok", "ffmpeg": debug.ffmpeg()}


@bp.get("/__debug_storage")
@documented({200: json_report("each data folder and the free disk")}, v3=True)
def debug_storage():
    """The data folders: writable, size, free space."""
    return {"status": "ok", "storage": debug.storage()}


@bp.get("/__debug_brands")
@documented({200: json_report("every brand with its files, v3 settings and problems")}, v3=True)
def debug_brands():
    """Every brand with its files, v3 settings and asset problems."""
    report = debug.brands()
    brands = [
        {
            "name": brand.id,
            "display_name": brand.name,
            "assets": [str(path) for path in brand.asset_paths()],
            "options": v3_settings(brand),
            "problems": report["brands"].get(brand.id, []),
        }
        for brand in _brands().brands.values()
    ]
    return {"status": "ok", "brands": brands, "count": len(brands), "source": report["source"]}


# --- brands ---------------------------------------------------------------------------------------------


def _brands() -> BrandConfig:
    return runtime().brands.current()  # a broken config file is a 503 (brand_config_invalid)


def _brand(name: str) -> Brand:
    try:
        return _brands().find(name)
    except UnknownBrandError as exc:
        raise ApiError(404, exc.code, str(exc)) from None


@bp.get("/api/brands/list")
@documented({200: V3BrandsList}, errors={503: "brand_config.json is missing or invalid"}, v3=True)
def brands_list():
    """The brands: v3 name (the id, any case works) and display name."""
    brands = [{"name": brand.id, "display_name": brand.name} for brand in _brands().brands.values()]
    return V3BrandsList(success=True, brands=brands).answer()


@bp.get("/api/brands/<name>/config")
@documented({200: V3BrandConfigAnswer}, errors={404: "no such brand"}, v3=True)
def brand_config(name: str):
    """A brand's look in v3's settings."""
    brand = _brand(name)
    return V3BrandConfigAnswer(success=True, config={"brand_name": brand.id, **v3_settings(brand)}).answer()


def _json_object() -> dict:
    # v3 read bodies as JSON whatever their Content-Type (get_json(force=True)); its clients rely on it
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "send a JSON object")
    return data


def _v3_settings_of(data: dict) -> dict[str, Any]:
    """The v3 settings named in a request, checked and normalised (400 naming a bad value)."""
    given = {name: data[name] for name in RENDER_SETTINGS if data.get(name) is not None}
    try:
        checked = V3Settings.model_validate(given)
    except ValidationError as exc:
        raise ApiError(400, "invalid_settings", validation_message(exc)) from None
    return {name: getattr(checked, name) for name in given}


def _with_settings(brand: Brand, settings: dict[str, Any]) -> Brand:
    try:
        return apply_v3_settings(brand, settings)
    except ValidationError as exc:
        raise ApiError(400, "invalid_settings", f"{brand.id}: {validation_message(exc)}") from None


@bp.post("/api/brands/<name>/config")
@documented(
    {200: V3BrandConfigAnswer}, body=V3Settings, v3=True,
    errors={400: "not JSON, or a bad value", 404: "no such brand", 422: "the config cannot be saved"},
)  # fmt: skip
def save_brand_settings(name: str):
    """Save v3 settings into the brand config (atomically); the next render and the dashboard use them."""
    settings = _v3_settings_of(_json_object())

    def change(config: BrandConfig) -> BrandConfig:  # the brands as saved now, not the cached copy
        return config.with_brand(_with_settings(config.find(name), settings))

    try:
        brand = runtime().brands.update(change).find(name)
    except UnknownBrandError as exc:
        raise ApiError(404, exc.code, str(exc)) from None
    config = {"brand_name": brand.id, **v3_settings(brand)}
    message = f"Configuration saved for {brand.id}"
    return V3BrandConfigAnswer(success=True, message=message, config=config).answer()


# --- process_brands and fetch ---------------------------------------------------------------------------


def _prefers_async() -> bool:
    """RFC 7240: `Prefer: respond-async` (among other preferences, with or without parameters)."""
    preferences = request.headers.get("Prefer", "")
    return any(item.split(";")[0].strip().lower() == "respond-async" for item in preferences.split(","))


def _server_file(name: str) -> tuple[str, str]:
    """A `source_path`: the file name of a fetch result (outputs/) or of an upload (its id or stored name).

    Only a bare file name is accepted, so no request can reach a file outside those two areas. Answers
    the name and the stored file's ref (a path, or an object in the bucket).
    """
    if Path(name).name != name or "\\" in name or name.startswith("."):
        raise ApiError(
            400, "bad_source_path", "source_path must be the file name of a fetch result or an upload"
        )
    rt = runtime()
    with rt.db.session() as session:
        upload = session.get(Upload, name)
        if upload is not None and rt.storage.exists(upload.path):
            return upload.filename, upload.path
    for area in (UPLOADS, OUTPUTS):
        ref = rt.storage.ref(area, name)
        if rt.storage.exists(ref):
            return name, ref
    raise ApiError(404, "source_not_found", f"File not found: {name} (fetch it or upload it first)")


def _new_render_job(
    source: str, brand_ids: list[str], checked: V3ProcessBrandsRequest, settings: dict[str, Any]
) -> NewJob:
    """A render job for a link or a file already on the server, with this render's v3 settings."""
    kind, name, path = "url", source, None
    if source.startswith(LINK_SCHEMES):
        check_url(source, DownloadOptions.from_settings(runtime().settings).allow_private_urls)
    else:
        kind, (name, path) = "upload", _server_file(source)
    return NewJob.rendering(
        kind, name, path, brand_ids, checked.output_formats(),
        v3_settings=settings or None, webhook_url=checked.webhook_url,
        edits=edits_record(Reframe(checked.fit), checked.asked_trim()),
    )  # fmt: skip


def _request(model: type[BaseModel], data: dict) -> Any:
    """The whole body through its model (explicit nulls count as not given, as v3 read them)."""
    try:
        return model.model_validate({name: value for name, value in data.items() if value is not None})
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", validation_message(exc)) from None


@bp.post("/api/videos/process_brands")
@documented(
    {200: V3ProcessAnswer, 202: V3JobAccepted}, body=V3ProcessBrandsRequest, v3=True,
    errors={400: "no source, no brands, an unknown brand or a bad value", 404: "no such source_path",
            409: "the job was cancelled", 422: "the source is not a usable video, or a refused link",
            502: "the download failed"},
)  # fmt: skip
def process_brands():
    """Brand a link or a fetched/uploaded file for v3-named brands; answers when done (v3's flow)."""
    data = _json_object()
    source = data.get("url") or data.get("source_path")
    if not isinstance(source, str) or not source.strip():
        raise ApiError(400, "missing_source", "URL or source_path is required")
    requested = data.get("brands")
    requested = [requested] if isinstance(requested, str) else requested
    if not requested or not isinstance(requested, list) or not all(isinstance(b, str) for b in requested):
        raise ApiError(400, "missing_brands", "At least one brand must be selected")
    try:
        brands = _brands().select(requested)
    except UnknownBrandError as exc:
        raise ApiError(400, exc.code, str(exc)) from None
    settings = _v3_settings_of(data)
    for brand in brands:
        _with_settings(brand, settings)  # a combination that cannot render is refused now, not later
    checked = _request(V3ProcessBrandsRequest, data)  # preset and fit: the engine's lists (media/options)
    check_target(checked.webhook_url, runtime().settings)
    job = _new_render_job(source.strip(), [brand.id for brand in brands], checked, settings)
    _require_disk()
    return _answer(_submit([job]), _process_result, many=False)


def _process_result(jobs: list[Job]) -> tuple[dict, int]:
    (job,) = jobs
    if job.status != JobStatus.COMPLETED:
        return _job_failure(job)
    outputs = [
        {"brand": o.brand, "format": o.preset or job.preset, "filename": o.filename,
         "download_url": signed_download_url(o.filename)}
        for o in job.outputs
    ]  # fmt: skip
    formats = len(job.output_formats())
    message = f"Successfully processed video for {len(job.brands)} brands" + (
        f" in {formats} formats" if formats > 1 else ""
    )
    return V3ProcessAnswer(success=True, message=message, outputs=outputs, job_id=job.id).answer(), 200


def _failure_status(code: str | None) -> int:
    """The HTTP status the error taxonomy gives the error a job failed with (500 if none has its code)."""
    statuses: dict[str, int] = {}
    classes: list[type[PortalError]] = [PortalError]
    while classes:
        cls = classes.pop(0)  # breadth first: a base class's status wins over a subclass reusing its code
        statuses.setdefault(cls.code, cls.status)
        classes.extend(cls.__subclasses__())
    return statuses.get(code or "", 500)


def _job_failure(job: Job) -> tuple[dict, int]:
    if job.status == JobStatus.CANCELLED:
        return {"success": False, "error": "the job was cancelled", "job_id": job.id}, 409
    body = {"success": False, "error": job.error, "code": job.error_code, "job_id": job.id}
    return body, _failure_status(job.error_code)


@bp.post("/api/videos/fetch")
@documented({200: V3FetchAnswer, 202: V3JobsAccepted}, body=V3FetchRequest, v3=True,
            errors={400: "no urls, or too many", 422: "a refused link"})  # fmt: skip
def fetch():
    """Download links without branding; answers when the downloads end (v3's shape)."""
    data = _json_object()
    urls = data.get("urls")
    if not isinstance(urls, list) or not urls or not all(isinstance(url, str) for url in urls):
        raise ApiError(400, "missing_urls", 'Provide JSON: {"urls": ["url1", "url2", ...]}')
    if len(urls) > FETCH_MAX_URLS:
        raise ApiError(400, "too_many_urls", f"at most {FETCH_MAX_URLS} URLs at a time")
    payload = _request(V3FetchRequest, data)
    check_target(payload.webhook_url, runtime().settings)
    ids = fetch_jobs(urls, payload.playlist, webhook_url=payload.webhook_url)
    return _answer(ids, _fetch_result, many=True)


def _fetch_result(jobs: list[Job]) -> tuple[dict, int]:
    results = []
    for job in jobs:
        if job.status == JobStatus.COMPLETED and job.outputs:
            output = job.outputs[0]
            results.append({
                "url": job.source_name, "filename": output.filename,
                "download_url": signed_download_url(output.filename),
                "size_mb": round(output.size_bytes / 1_048_576, 2), "success": True, "job_id": job.id,
            })  # fmt: skip
        else:
            error = job.error or f"the job was {job.status}"
            results.append({"url": job.source_name, "success": False, "error": error, "job_id": job.id})
    successful = sum(result["success"] for result in results)
    answer = V3FetchAnswer(success=True, total=len(results), successful=successful, results=results)
    return answer.answer(), 200


def _wait_until_finished(job_ids: list[str], timeout: float) -> bool:
    """Wait until every job has ended (True) or `timeout` passed (False).

    The waiter follows the jobs through the process's event hub (one query twice a second for every
    stream and waiter of the process) and blocks on an Event: under the gevent worker a waiting client
    costs a greenlet, not a thread. The job runs in the queue consumer whatever happens to this request.
    """
    hub = events.event_hub()
    states = hub.snapshot(job_ids)
    subscription = events.Subscription(states)
    hub.subscribe(subscription)
    deadline = time.monotonic() + timeout
    try:
        while not all(state is None or state["status"] in FINISHED for state in states.values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            subscription.wake.wait(remaining)
            states.update(subscription.take())
        return True
    finally:
        hub.unsubscribe(subscription)


def _answer(job_ids: list[str], result: Callable[[list[Job]], tuple[dict, int]], *, many: bool):
    """202 with the job(s) at once when the client prefers it; else the v3 answer once they end (or 202
    with the job(s) and an error if they outlast WTF_SYNC_WAIT_S)."""
    prefers_async = _prefers_async()
    seconds = runtime().settings.sync_wait_s
    finished = not prefers_async and _wait_until_finished(job_ids, seconds)
    with runtime().db.session() as session:
        jobs = [session.get(Job, job_id) for job_id in job_ids]
        if finished:
            body, status = result(jobs)
            return jsonify(body), status
        described_jobs = [describe_job(job, signed_download_url) for job in jobs]
        described = {"jobs": described_jobs} if many else {"job": described_jobs[0]}
    accepted = V3JobsAccepted if many else V3JobAccepted
    if prefers_async:
        return accepted(success=True, **described).answer(), 202, {"Preference-Applied": "respond-async"}
    error = f"still working after {seconds} s; the job goes on (GET /api/jobs/<id>)"
    return accepted(success=False, error=error, **described).answer(), 202


# The v3 paths this blueprint serves (listed by /portal/test, as v3 listed its own).
V3_ROUTES = {
    "/portal/",
    "/portal/test",
    "/api",
    "/api/brands/list",
    "/api/brands/<name>/config",
    "/api/videos/process_brands",
    "/api/videos/fetch",
    "/api/videos/download/<path:filename>",
}
