"""Diagnostics for operators: environment (redacted), FFmpeg, storage, health, brands. Key required."""

from __future__ import annotations

import os
import shutil
from urllib.parse import parse_qsl, urlencode, urlsplit

from flask import Blueprint
from sqlalchemy import func, select, text

from portal.brand_loader import BrandConfigError, check_brand_assets
from portal.database import Job, WorkerBeat
from portal.jobs.answer import iso
from portal.jobs.maintenance import disk_status
from portal.video_processor import ffmpeg_report
from portal.web.auth import require_api_auth
from portal.web.openapi import documented, json_report
from portal.web.runtime import runtime

bp = Blueprint("debug", __name__, url_prefix="/api/debug")
SECRET_WORDS = ("KEY", "SECRET", "PASSWORD", "TOKEN", "COOKIE")
URL_LISTS = ("WTF_PROXIES", "PROXIES")  # the environment's name and the setting's


@bp.before_request
def _authenticate() -> None:
    require_api_auth()


def _secret_name(name: str) -> bool:
    return any(word in name.upper() for word in SECRET_WORDS)


def _redacted_url(value: str) -> str:
    """A URL without its credentials: the userinfo (up to the LAST @ of the authority, since a password
    may hold @) and the values of secret-named query parameters (?password=, ?sslkey=...)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return "***"  # unparseable: it may be anything
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = urlencode(
        [(key, "***" if _secret_name(key) else item) for key, item in parse_qsl(parts.query, True)], safe="*"
    )
    # rebuilt by hand: urlunsplit would drop the empty authority of sqlite:////data/portal.db
    return (
        f"{parts.scheme}://{netloc}{parts.path}"
        + (f"?{query}" if query else "")
        + (f"#{parts.fragment}" if parts.fragment else "")
    )


def _redacted(name: str, value: str) -> str:
    if _secret_name(name):
        return "***" if value else ""
    if name.upper() in URL_LISTS:  # URLs separated by commas: each its own
        return ",".join(_redacted_url(part.strip()) for part in value.split(",") if part.strip())
    if "://" in value:  # database, queue and storage URLs carry credentials
        return _redacted_url(value)
    return value


@bp.get("/env")
@documented({200: json_report("the environment and effective settings, secrets shown as ***")}, tag="debug")
def env():
    """The WTF_* environment and the effective settings, secrets redacted."""
    settings = runtime().settings
    variables = {k: _redacted(k, v) for k, v in sorted(os.environ.items())
                 if k.startswith("WTF_") or k in ("FFMPEG_PATH", "PORT")}  # fmt: skip
    effective = {k: _redacted(k, str(v)) for k, v in settings.model_dump().items()}
    effective["database_url"] = _redacted("database_url", settings.effective_database_url)
    effective["queue_url"] = _redacted("queue_url", settings.effective_queue_url)
    effective["brand_config"] = str(settings.brands_file)  # a local run's own copy (Settings.brands_file)
    return {"environment": variables, "settings": effective}


@bp.get("/ffmpeg")
@documented({200: json_report("the FFmpeg binary, its version and what it lacks")}, tag="debug")
def ffmpeg():
    """Which FFmpeg, its version, and the filters/encoders it lacks."""
    return ffmpeg_report(runtime().settings.engine_options())


def _folder_size(folder) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if folder.exists() else 0


@bp.get("/storage")
@documented({200: json_report("each data folder and the free disk")}, tag="debug")
def storage():
    """Where media is stored (and, for a bucket, whether it answers), each data folder, the free disk."""
    settings = runtime().settings
    folders = {}
    for name in ("uploads", "outputs", "temp", "logs"):
        folder = getattr(settings, f"{name}_dir")
        folders[name] = {
            "path": str(folder),
            "exists": folder.exists(),
            "writable": folder.exists() and os.access(folder, os.W_OK),
            "size_bytes": _folder_size(folder),
        }
    usage = shutil.disk_usage(settings.data_dir)
    disk = {**disk_status(settings), "total_mb": usage.total // 1_048_576}
    return {"storage": runtime().storage.describe(), "folders": folders, "disk": disk}


@bp.get("/health")
@documented({200: json_report("database, queue and workers")}, tag="debug")
def health():
    """Database, queue and the last heartbeat of each worker."""
    rt = runtime()
    report: dict = {}
    try:
        with rt.db.session() as session:
            session.execute(text("SELECT 1"))
            counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            workers = {w.name: iso(w.seen_at) for w in session.scalars(select(WorkerBeat))}
        report["database"] = {"ok": True, "jobs": counts}
        report["workers"] = workers
    except Exception as exc:
        report["database"] = {"ok": False, "error": str(exc).splitlines()[0]}
    try:
        report["queue"] = {"ok": True, "pending": rt.queue_depth()}
    except Exception as exc:
        report["queue"] = {"ok": False, "error": str(exc).splitlines()[0]}
    return report


@bp.get("/brands")
@documented({200: json_report("the brand config's validity and missing assets")}, tag="debug")
def brands():
    """Brand config validity and asset integrity, and where the brands come from (file or bucket)."""
    store = runtime().brands
    try:
        config = store.current()
    except BrandConfigError as exc:
        return {"ok": False, "error": str(exc), "brands": {}, "source": store.describe()}
    problems = check_brand_assets(config)
    return {
        "ok": not problems,
        "brands": {brand_id: [str(p) for p in problems if p.brand == brand_id] for brand_id in config.brands},
        "source": store.describe(),
    }
