"""The dashboard: sign in with the portal key, brand clips, watch jobs, get results, edit brands.

Pages are server-rendered; a little JavaScript (static/app.js) calls the same /api the scripts use, with
the session cookie and the session's CSRF token in X-CSRF-Token.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
from functools import wraps
from pathlib import Path

from flask import Blueprint, Response, abort, redirect, render_template, request, session, url_for
from werkzeug.utils import secure_filename

from portal.brand_loader import (
    Brand,
    BrandConfig,
    BrandConfigError,
    UnknownBrandError,
    check_brand_assets,
    config_to_json,
    parse_brand_config,
    save_brand_config,
)
from portal.jobs import FINISHED, JobStatus
from portal.media.options import FITS, POSITIONS, PRESET_CANVAS
from portal.media.safezone import SAFE_ZONE_PRESETS
from portal.video_processor import PRESETS
from portal.web.api import preview_jpeg
from portal.web.auth import client_id, end_all_sessions, key_matches, limiter, session_valid, start_session
from portal.web.errors import ApiError, page_or_api_shape, use_error_shape
from portal.web.runtime import runtime

bp = Blueprint("dashboard", __name__)
use_error_shape(bp, page_or_api_shape)  # a form post gets a readable page; app.js's calls get JSON
MAX_LOGO_BYTES = 5 * 1_048_576
# Where a sign-in may send the browser back to: a path of this site made of plain segments. Anything
# else ("//host", "/\\host", "/%09/host", which browsers read as another site) goes to the home page.
LOCAL_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)+/?|/")
# What static/app.js knows of job statuses: sent with every page, never spelled out in the script.
JOB_STATES = {"statuses": {status.name: status.value for status in JobStatus}, "finished": list(FINISHED)}


def csrf_token() -> str:
    if "csrf_token" not in session:
        session["csrf_token"] = secrets.token_urlsafe(32)
    return session["csrf_token"]


@bp.app_context_processor
def _template_globals() -> dict:
    return {"csrf_token": csrf_token, "presets": PRESETS, "fits": FITS, "job_states": JOB_STATES}


def _check_csrf() -> None:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")
    if not hmac.compare_digest(sent.encode(), csrf_token().encode()):
        abort(400, "the form expired; reload the page and try again")


def signed_in(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if not session_valid():
            return redirect(url_for("dashboard.login", next=request.path))
        if request.method == "POST":
            _check_csrf()
        return view(*args, **kwargs)

    return wrapper


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with the portal key."""
    error = None
    status = 200
    if request.method == "POST":
        _check_csrf()
        wait = limiter.retry_after(client_id())
        if key_matches(request.form.get("key", "")):  # the right key is never refused
            start_session()
            target = request.args.get("next", "")
            return redirect(target if LOCAL_PATH.fullmatch(target) else url_for(".home"))
        if wait:
            error, status = f"Too many wrong keys. Wait {wait} seconds and try again.", 429
        else:
            limiter.record_failure(client_id())
            error, status = "That key is not right.", 401
    response = Response(render_template("login.html", error=error), status)
    if status == 429:
        response.headers["Retry-After"] = str(wait)
    return response


@bp.post("/logout")
@signed_in
def logout():
    """Sign out: this session and every other one signed in with the key (one key, one identity)."""
    end_all_sessions()
    session.clear()
    return redirect(url_for(".login"))


def _brands_or_message() -> tuple[list[Brand], str | None]:
    try:
        return list(runtime().brands.current().brands.values()), None
    except BrandConfigError as exc:
        return [], f"The brand config cannot be used: {exc}"


@bp.get("/")
def root():
    """The dashboard lives at /portal/, where v3's guides, bookmarks and proxy rules point."""
    return redirect(url_for(".home"))


@bp.get("/portal")
@bp.get("/portal/")
@signed_in
def home():
    """New job, live jobs, results and history."""
    brands, problem = _brands_or_message()
    return render_template("home.html", brands=brands, problem=problem)


@bp.get("/brands")
@signed_in
def brands():
    """Every brand with its previews; edit, add and remove."""
    brand_list, problem = _brands_or_message()
    # each preview's UI areas: the brand's zone as the phone shows that shape (shaded on the preview)
    ui_areas = {
        brand.id: {preset: brand.safe_zone_for(*size) for preset, size in PRESET_CANVAS.items()}
        for brand in brand_list
    }
    return render_template(
        "brands.html",
        brands=brand_list,
        problem=problem,
        positions=POSITIONS,
        zones=list(SAFE_ZONE_PRESETS),
        ui_areas=ui_areas,
    )


def _brand_from_form(brand_id: str, logo_path: Path | None) -> dict:
    """A brand definition (brand_config.json shape) from the edit form."""
    form = request.form
    data: dict = {"name": form.get("name", "").strip(), "safe_zone": form.get("safe_zone", "none")}
    if logo_path is not None:
        data["logo"] = {
            "path": str(logo_path),
            "position": form.get("logo_position", "top-right"),
            "width": float(form.get("logo_width", 0.18)),
            "opacity": float(form.get("logo_opacity", 0.9)),
            "margin": float(form.get("logo_margin", 0.03)),
        }
    if form.get("watermark_text", "").strip():
        data["watermark"] = {
            "text": form["watermark_text"].strip(),
            "position": form.get("watermark_position", "bottom-left"),
            "size": float(form.get("watermark_size", 0.035)),
            "opacity": float(form.get("watermark_opacity", 0.6)),
            "color": form.get("watermark_color", "#FFFFFF").upper(),
        }
    return data


def _edited_config(brand_id: str, logo_path: Path | None):
    """The whole config with this brand replaced by the form's version, validated like the file."""
    rt = runtime()
    path = rt.settings.brand_config
    current = config_to_json(rt.brands.current(), path.resolve().parent)
    try:
        current["brands"][brand_id] = _brand_from_form(brand_id, logo_path)
    except ValueError:
        raise ApiError(422, "invalid_brand", "width, opacity, margin and size must be numbers") from None
    try:
        return parse_brand_config(current, path.resolve().parent, str(path.name))
    except BrandConfigError as exc:  # here the config is the form's, so the client can fix it: 422, not 503
        raise ApiError(422, "invalid_brand", str(exc)) from None


def _staged_logo(brand_id: str) -> Path | None:
    """The uploaded logo under a temp name (for previews and validation), else the brand's current one."""
    rt = runtime()
    upload = request.files.get("logo")
    existing = rt.brands.current().brands.get(brand_id)  # brand_id is already the canonical id
    if upload is None or not upload.filename:
        return existing.logo.path if existing and existing.logo else None
    data = upload.read(MAX_LOGO_BYTES + 1)
    if len(data) > MAX_LOGO_BYTES:
        raise ApiError(413, "logo_too_large", "the logo is larger than 5 MB")
    suffix = Path(secure_filename(upload.filename)).suffix.lower() or ".png"
    folder = rt.settings.temp_dir / "logo-uploads"
    folder.mkdir(parents=True, exist_ok=True)
    staged = folder / f"{brand_id}-{secrets.token_hex(4)}{suffix}"
    staged.write_bytes(data)
    return staged


def _is_staged(path: Path | None) -> bool:
    return path is not None and runtime().settings.temp_dir.resolve() in path.resolve().parents


def _valid_brand_id(brand_id: str) -> str:
    """The id of the existing brand of this name in any case, else `brand_id` if it is a valid new id."""
    try:
        return runtime().brands.current().find(brand_id).id
    except UnknownBrandError:
        pass
    try:
        return Brand.model_validate({"id": brand_id, "name": "x"}).id
    except ValueError:
        raise ApiError(
            422,
            "invalid_brand",
            "brand id: letters, digits, - and _ (max 64), starting with a letter or digit",
        ) from None


def _validated_edit(brand_id: str) -> tuple[BrandConfig, Path | None]:
    """The config with the form's brand in it, assets checked; the uploaded logo is staged in temp."""
    staged = _staged_logo(brand_id)
    config = _edited_config(brand_id, staged)
    problems = check_brand_assets(config)
    if problems:
        if _is_staged(staged):
            staged.unlink(missing_ok=True)
        raise ApiError(422, "invalid_logo", str(problems[0]))
    return config, staged


@bp.post("/brands/<brand_id>/preview")
@signed_in
def preview(brand_id: str):
    """A preview of the form's (unsaved) brand, made by the engine."""
    brand_id = _valid_brand_id(brand_id)
    config, staged = _validated_edit(brand_id)
    try:
        jpeg = preview_jpeg(config.brands[brand_id], request.form.get("preset", "vertical"))
    finally:
        if _is_staged(staged):
            staged.unlink(missing_ok=True)
    return Response(jpeg, mimetype="image/jpeg")


@bp.post("/brands/<brand_id>")
@signed_in
def save_brand(brand_id: str):
    """Validate and save a brand (new or edited); takes effect without a restart."""
    brand_id = _valid_brand_id(brand_id)
    config, staged = _validated_edit(brand_id)
    if _is_staged(staged):
        # the logo lives next to the config, like the shipped brands: brands/<id>/logo.<ext>
        final = (
            runtime().settings.brand_config.resolve().parent / "brands" / brand_id / f"logo{staged.suffix}"
        )
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, final)
        config = _edited_config(brand_id, final)
    save_brand_config(config, runtime().settings.brand_config)
    runtime().brands.invalidate()
    return {"brand": json.loads(config.brands[brand_id].model_dump_json())}


@bp.post("/brands/<brand_id>/delete")
@signed_in
def delete_brand(brand_id: str):
    """Remove a brand from the config (its logo file stays, for an undo by hand)."""
    rt = runtime()
    path = rt.settings.brand_config
    try:
        brand_id = rt.brands.current().find(brand_id).id
    except UnknownBrandError:
        raise ApiError(404, "unknown_brand", f"no brand {brand_id!r}") from None
    current = config_to_json(rt.brands.current(), path.resolve().parent)
    del current["brands"][brand_id]
    save_brand_config(parse_brand_config(current, path.resolve().parent, path.name), path)
    rt.brands.invalidate()
    return {"deleted": brand_id}
