"""The dashboard: sign in with the portal key, brand clips, watch jobs, get results, edit brands.

Pages are server-rendered; a little JavaScript (static/app.js) calls the same /api the scripts use, with
the session cookie and the session's CSRF token in X-CSRF-Token.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from functools import wraps
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select

from portal.brand_loader import (
    BRAND_ID_RULE,
    NEAREST_SHAPES,
    SHAPES,
    STARTER_SAFE_ZONE,
    Brand,
    BrandConfig,
    BrandConfigError,
    CaptionsLayer,
    CaptionStyle,
    ImageLayer,
    LogoSpec,
    TextBox,
    TextLayer,
    UnknownBrandError,
    check_brand_assets,
    config_to_json,
    inside_folder,
    map_asset_paths,
    parse_brand_config,
    starter_layers,
)
from portal.brands.assets import ASSET_SHAPES
from portal.brands.store import config_file, new_asset_path
from portal.database import Job, Upload
from portal.jobs.status import FINISHED, JobStatus
from portal.media.layers import TEXT_BOX_PADDING
from portal.media.options import FITS, POSITIONS, PRESET_CANVAS
from portal.media.safezone import SAFE_ZONE_PRESETS
from portal.video_processor import PRESETS, PreviewStill
from portal.web.api import ASSET_PREFIX, asset_ref, brand_id_for_edit, preview_clip, preview_still
from portal.web.auth import (
    client_id,
    csrf_matches,
    csrf_token,
    end_all_sessions,
    key_matches,
    limiter,
    session_valid,
    start_session,
)
from portal.web.errors import ApiError, page_or_api_shape, use_error_shape
from portal.web.runtime import runtime

bp = Blueprint("dashboard", __name__)
use_error_shape(bp, page_or_api_shape)  # a form post gets a readable page; app.js's calls get JSON
# Where a sign-in may send the browser back to: a path of this site made of plain segments. Anything
# else ("//host", "/\\host", "/%09/host", which browsers read as another site) goes to the home page.
LOCAL_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)+/?|/")
# What static/app.js knows of job statuses: sent with every page, never spelled out in the script.
JOB_STATES = {"statuses": {status.name: status.value for status in JobStatus}, "finished": list(FINISHED)}
PREVIEW_CLIP_CHOICES = 10  # of each kind (uploads, finished jobs) offered to draw previews on
# What the layer editor shows for a setting a layer does not give: the config's own defaults.
LAYER_DEFAULTS = {
    kind: {name: field.default for name, field in model.model_fields.items() if not field.is_required()}
    for kind, model in (("image", ImageLayer), ("text", TextLayer))
} | {"box": TextBox().model_dump(), "captions": CaptionStyle().model_dump(mode="json")}
LAYER_DEFAULTS["image"]["width"] = LogoSpec.model_fields["width"].default  # what a layer without one gets
# What the editor's placement needs to agree with the engine: the shapes and their nearest ones, how much a
# text box adds around its text, and the uploaded image's shapes.
EDITOR_FACTS = {
    "shapes": list(SHAPES),
    "nearest": NEAREST_SHAPES,
    "text_box_padding": TEXT_BOX_PADDING,
    "asset_shapes": list(ASSET_SHAPES),
}
STARTER_HANDLE = "@yourbrand"  # the new brand's handle until its id is typed (then "@<id>")


@bp.app_context_processor
def _template_globals() -> dict:
    return {
        "csrf_token": csrf_token, "presets": PRESETS, "fits": FITS, "job_states": JOB_STATES,
        "brand_id_rule": BRAND_ID_RULE,
    }  # fmt: skip


def _check_csrf() -> None:
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
    if not csrf_matches(sent):
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
    kept_in = current_app.config["PORTAL_KEY_KEPT_IN"]
    response = Response(render_template("login.html", error=error, kept_in=kept_in), status)
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


def _config_or_message() -> tuple[BrandConfig | None, str | None]:
    try:
        return runtime().brands.current(), None
    except BrandConfigError as exc:
        return None, f"The brand config cannot be used: {exc}"


def _brands_or_message() -> tuple[list[Brand], str | None]:
    config, problem = _config_or_message()
    return (list(config.brands.values()) if config else []), problem


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
    return render_template("home.html", brands=brands, problem=problem, canvases=PRESET_CANVAS)


@bp.get("/library")
@signed_in
def library():
    """The library: find a clip sent before, pin it, delete it, or brand it again without a download."""
    brands, problem = _brands_or_message()
    retention_hours = runtime().settings.retention_hours
    return render_template("library.html", brands=brands, problem=problem, retention_hours=retention_hours)


@bp.get("/brands")
@signed_in
def brands():
    """Every brand with its previews; edit, add and remove."""
    config, problem = _config_or_message()
    brand_list = list(config.brands.values()) if config else []
    # each preview's UI areas: the brand's zone as the phone shows that shape (shaded on the preview)
    ui_areas = {
        brand.id: {preset: brand.safe_zone_for(*size) for preset, size in PRESET_CANVAS.items()}
        for brand in brand_list
    }
    # what the layer editor starts from: each brand as saved, in version-2 form, paths relative
    layered = BrandConfig(version=2, brands={brand.id: brand.as_layers() for brand in brand_list})
    editor = config_to_json(layered, config_file(config).parent)["brands"] if config else {}
    return render_template(
        "brands.html",
        brands=brand_list,
        problem=problem,
        positions=POSITIONS,
        zones=list(SAFE_ZONE_PRESETS),
        ui_areas=ui_areas,
        editor=editor,
        clips=preview_clips(),
        layer_defaults=LAYER_DEFAULTS,
        editor_facts=EDITOR_FACTS,
        shapes=SHAPES,
        starter={"name": "", "safe_zone": STARTER_SAFE_ZONE, "layers": starter_layers("", STARTER_HANDLE)},
    )


# The editor posts the brand as JSON (field "brand", brand_config.json's shape, paths relative to the
# config's folder) built from the brand as saved plus what the form shows, so a field the form does not
# show is sent back as it was. A new image was uploaded (and cleaned) first by POST
# /api/brands/<id>/assets; the layer names it "asset:<name>".
ASSET_MARK = "asset:"


def _posted_brand() -> tuple[dict, list[Path], Path]:
    """The brand the editor posted, each uploaded image staged in temp: (brand, staged files, the
    request's staging folder, to remove when done)."""
    try:
        data = json.loads(request.form.get("brand", ""))
    except json.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"field 'brand': not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_brand", "field 'brand': expected an object")
    rt = runtime()
    staged: list[Path] = []
    config = rt.brands.current()
    # each request stages into its own folder: two previews of the same image run at once (the editor
    # fires one per change), and the first to finish must not delete the file the other is drawing
    logo_uploads = rt.settings.temp_dir / "logo-uploads"
    logo_uploads.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=logo_uploads))
    known = {str(path) for brand in config.brands.values() for path in brand.asset_paths()}

    def stage(value: str) -> str:
        if not value.startswith(ASSET_MARK):
            if value not in known:  # a path the client typed: it must name a file of the brands' folder
                try:
                    inside_folder(config_file(config).parent, value)
                except BrandConfigError as exc:
                    raise ApiError(422, "invalid_brand", str(exc)) from None
            return value
        name = value.removeprefix(ASSET_MARK)
        # named as it will be in the brand's folder: the upload's name without the "asset-" prefix
        path = folder / name.removeprefix(ASSET_PREFIX)
        with rt.storage.open(asset_ref(name)) as stored, path.open("wb") as copy:
            shutil.copyfileobj(stored, copy)
        staged.append(path)
        return str(path)

    try:
        return map_asset_paths(data, stage), staged, folder
    except ApiError:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _edited_config(config: BrandConfig, brand_id: str, brand: dict) -> BrandConfig:
    """`config` with this brand replaced by the posted one, validated like the file, assets checked."""
    source = config_file(config)  # the file's, or the bucket version's folder: relative paths start there
    current = config_to_json(config, source.parent)
    current["brands"][brand_id] = brand
    if brand.get("layers") is not None:
        current["version"] = 2
    try:
        config = parse_brand_config(current, source.parent, source.name)
    except BrandConfigError as exc:  # here the config is the form's, so the client can fix it: 422, not 503
        raise ApiError(422, "invalid_brand", str(exc)) from None
    problems = [problem for problem in check_brand_assets(config) if problem.brand == brand_id]
    if problems:
        raise ApiError(422, "invalid_image", str(problems[0]))
    return config


def preview_clips() -> list[dict]:
    """Recent uploads and finished jobs' sources still on disk: what a preview can be drawn on."""
    clips = []
    with runtime().db.session() as db:
        uploads = db.scalars(select(Upload).order_by(Upload.created_at.desc()).limit(PREVIEW_CLIP_CHOICES))
        clips += [
            {"value": f"upload:{u.id}", "label": f"upload: {u.filename}", "path": u.path} for u in uploads
        ]
        finished = select(Job).where(Job.status == JobStatus.COMPLETED, Job.source_path.is_not(None))
        jobs = db.scalars(finished.order_by(Job.finished_at.desc()).limit(PREVIEW_CLIP_CHOICES))
        clips += [
            {"value": f"job:{j.id}", "label": f"job: {j.source_name}", "path": j.source_path} for j in jobs
        ]
    return [clip for clip in clips if Path(clip.pop("path")).is_file()]


@bp.post("/brands/<brand_id>/preview")
@signed_in
def preview(brand_id: str):
    """A preview of the form's (unsaved) brand, made by the engine, on a generated frame or a user's clip."""
    brand_id = brand_id_for_edit(brand_id)
    brand, _staged, folder = _posted_brand()
    try:
        config = _edited_config(runtime().brands.current(), brand_id, brand)
        edited = config.brands[brand_id]
        with preview_clip(request.form.get("frame", "")) as source:
            still = preview_still(edited, request.form.get("preset", "vertical"), source)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    response = Response(still.jpeg, mimetype="image/jpeg")
    response.headers[LAYOUT_HEADER] = json.dumps(preview_layout(edited, still), separators=(",", ":"))
    return response


# The preview's answer says where the plan put each layer, so the editor outlines exactly what renders.
LAYOUT_HEADER = "X-Brand-Layout"


def preview_layout(brand: Brand, still: PreviewStill) -> dict:
    """The still's size, the safe zone on it, and each drawn layer's rectangle by its index in the
    brand's layers (disabled layers draw nothing and have none); for the captions layer the engine draws
    (the first enabled one), the band its captions can take, marked `captions`."""
    layers = brand.all_layers()
    drawn = [
        index for index, layer in enumerate(layers) if layer.enabled and not isinstance(layer, CaptionsLayer)
    ]
    rects = [
        {"index": index, "x": x, "y": y, "width": w, "height": h}
        for index, (x, y, w, h) in zip(drawn, still.overlays, strict=True)
    ]
    if still.captions is not None:  # drawn by the first captions layer turned on (Brand.captions)
        index = next(i for i, one in enumerate(layers) if one.enabled and isinstance(one, CaptionsLayer))
        x, y, w, h = still.captions
        rects.append({"index": index, "x": x, "y": y, "width": w, "height": h, "captions": True})
    zone = brand.safe_zone_for(still.width, still.height)
    return {"width": still.width, "height": still.height, "zone": zone.model_dump(), "layers": rects}


@bp.post("/brands/<brand_id>")
@signed_in
def save_brand(brand_id: str):
    """Validate and save a brand (new or edited); takes effect without a restart."""
    brand_id = brand_id_for_edit(brand_id)
    brand, staged, folder = _posted_brand()
    store = runtime().brands
    try:
        edited = _edited_config(store.current(), brand_id, brand)  # validated before anything is saved
        if not edited.brands[brand_id].all_layers():
            raise ApiError(
                422, "no_layers",
                f"brand {brand_id!r} has no layers: add an image or a text layer, or every clip would come "
                "out of it unbranded",
            )  # fmt: skip
        if not edited.brands[brand_id].drawn_layers() and edited.brands[brand_id].captions is None:
            raise ApiError(
                422, "nothing_drawn",
                f"brand {brand_id!r} draws nothing: every layer is turned off; turn one on, or every clip "
                "would come out of it unbranded",
            )  # fmt: skip
        # the staged images are saved with the config, where the store keeps a brand's new images
        names = {str(path): new_asset_path(brand_id, path.name) for path in staged}
        placed = map_asset_paths(brand, lambda value: names.get(value, value))
        config = store.update(
            lambda current: _edited_config(current, brand_id, placed),
            assets={names[str(path)]: path for path in staged},
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"brand": json.loads(config.brands[brand_id].model_dump_json())}


@bp.post("/brands/<brand_id>/delete")
@signed_in
def delete_brand(brand_id: str):
    """Remove a brand from the config (on disk its logo file stays, for an undo by hand)."""
    store = runtime().brands
    try:
        brand_id = store.current().find(brand_id).id
    except UnknownBrandError:
        raise ApiError(404, "unknown_brand", f"no brand {brand_id!r}") from None

    def without_brand(config: BrandConfig) -> BrandConfig:
        # gone already if another delete came first
        return config.model_copy(update={"brands": {k: b for k, b in config.brands.items() if k != brand_id}})

    store.update(without_brand)
    return {"deleted": brand_id}
