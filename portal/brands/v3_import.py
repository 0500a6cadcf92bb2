"""WatchTheFall Orchestrator v3's brands, in this project's layers (DESIGN 4.8).

Two things live here:
- the mapping between v3's per-brand settings (the fields of v3's `brands` table and of its
  `/api/brands/<name>/config`) and a brand's layers: `v3_settings` reads them off a brand,
  `apply_v3_settings` writes them into one, `v3_layers` builds the layers of an imported brand;
- `import_v3`, which reads a v3 checkout and writes a version-2 brand config with its assets.

v3 drew every brand on its own 720-wide output: a full-frame watermark chosen by orientation, scaled by
`watermark_scale` and faded to `watermark_opacity`; a circle logo `logo_scale` of the width, bottom-right,
`logo_padding` px in, black keyed out; and optionally a drawtext line with a box. Pixel values are kept
as proportions of that 720-px width, so the look is the same at our sizes.
"""

from __future__ import annotations

import math
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from portal.brand_loader import (
    BRAND_ID,
    NEAREST_SHAPES,
    Brand,
    BrandConfig,
    BrandConfigError,
    CaptionsLayer,
    HexColour,
    ImageLayer,
    SafeZoneName,
    Shape,
    ShapeImages,
    TextBox,
    TextLayer,
    asset_problem,
    check_brand_assets,
    inside_folder,
    load_brand_config,
    read_json_file,
    save_brand_config,
)

V3_OUTPUT_WIDTH = 720  # v3 scaled every video to 720 px wide before branding; its px settings mean that
V3_OUTPUT_HEIGHT = 1280  # the 9:16 height at that width: v3's text_size is read as a fraction of it
V3_KEY_COLOR = "#000000"  # v3's logos are opaque circles on black: colorkey=black:0.1:0.1
V3_KEY_TOLERANCE = 0.1
V3_LOGO_POSITION = "bottom-right"
# v3 placed its logo and text against the frame's edges; an imported brand keeps exactly that layout. A
# named zone (e.g. "all") moves both inside the platforms' UI, where a long text line and the corner logo
# then share the zone's narrower bottom edge: a choice for the team, made in the config (docs/ENGINE.md).
V3_SAFE_ZONE: SafeZoneName = "none"


# v3 stored pixels as integers (and its API int()-ed them); a fraction read back is rounded, not refused
# v3 sent pixels as floats too; an infinite or NaN one is left for the int check to refuse (round() raises)
Pixels = Annotated[
    int,
    BeforeValidator(
        lambda value: round(value) if isinstance(value, float) and math.isfinite(value) else value
    ),
]


class V3Settings(BaseModel):
    """v3's per-brand settings, with v3's defaults (its `brands` table and `/api/brands/<name>/config`).

    `text_font` is accepted and ignored: text is drawn with the bundled font, no system font needed.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    watermark_scale: float = Field(default=1.15, gt=0, le=4)
    watermark_opacity: float = Field(default=0.4, ge=0, le=1)
    logo_scale: float = Field(default=0.15, gt=0, le=1)
    logo_padding: Pixels = Field(default=40, ge=0, lt=V3_OUTPUT_WIDTH / 2)
    text_enabled: bool = False
    text_content: str = Field(default="", max_length=120)
    text_position: Literal["top", "center", "bottom"] = "bottom"
    text_size: Pixels = Field(default=48, gt=0, le=V3_OUTPUT_HEIGHT / 2)
    text_color: HexColour = "#FFFFFF"
    text_font: str = "Arial"
    text_bg_enabled: bool = True
    text_bg_color: HexColour = "#000000"
    text_bg_opacity: float = Field(default=0.6, ge=0, le=1)
    text_margin: Pixels = Field(default=40, ge=0, lt=V3_OUTPUT_WIDTH / 2)


def _px(fraction: float) -> int:
    """A fraction of the output width as v3's pixels."""
    return round(fraction * V3_OUTPUT_WIDTH)


def _fraction(pixels: float, of: int = V3_OUTPUT_WIDTH) -> float:
    """v3's pixels as a fraction of its output (4 decimals: 0.1 px at 1920)."""
    return round(pixels / of, 4)


def _roles(layers: tuple) -> dict[str, int]:
    """Which layer plays v3's watermark, logo and text: the first cover image, the first placed image,
    the first text layer (indexes into `layers`)."""
    roles: dict[str, int] = {}
    for index, layer in enumerate(layers):
        if isinstance(layer, CaptionsLayer):
            continue  # v3 had no captions
        role = "text" if isinstance(layer, TextLayer) else "watermark" if layer.fit == "cover" else "logo"
        roles.setdefault(role, index)
    return roles


def v3_settings(brand: Brand) -> dict[str, Any]:
    """The brand's look as v3's settings (what v3's GET /api/brands/<name>/config answered).

    A part the brand does not have (no cover layer, say) reads as v3's default for it.
    """
    layers = brand.all_layers()
    roles = _roles(layers)
    values: dict[str, Any] = {}
    if "watermark" in roles:
        mark = layers[roles["watermark"]]
        values |= {"watermark_scale": mark.scale, "watermark_opacity": mark.opacity}
    if "logo" in roles:
        logo = layers[roles["logo"]]
        values |= {"logo_padding": _px(logo.margin)}
        if logo.width is not None:
            values["logo_scale"] = logo.width
    if "text" in roles:
        text = layers[roles["text"]]
        vertical = text.position.split("-")[0]
        values |= {
            "text_enabled": text.enabled,
            "text_content": text.text,
            "text_position": vertical if vertical in ("top", "bottom") else "center",
            "text_size": round(text.size * V3_OUTPUT_HEIGHT),
            "text_color": text.color,
            "text_bg_enabled": text.box is not None,
            "text_margin": _px(text.margin),
        }
        if text.box is not None:
            values |= {"text_bg_color": text.box.color, "text_bg_opacity": text.box.opacity}
    settings = V3Settings(**values).model_dump()
    del settings["text_font"]  # nothing to report: one bundled font
    return settings


def _text_layer(settings: V3Settings) -> TextLayer:
    box = TextBox(color=settings.text_bg_color, opacity=settings.text_bg_opacity)
    return TextLayer(
        text=settings.text_content,
        position=settings.text_position,
        size=_fraction(settings.text_size, V3_OUTPUT_HEIGHT),
        color=settings.text_color,
        margin=_fraction(settings.text_margin),
        box=box if settings.text_bg_enabled else None,
        enabled=settings.text_enabled,
    )


def _picked(asked: set[str], pairs: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    """Layer fields for the v3 settings that were asked for: {v3 key: (layer field, value)}."""
    return {field: value for key, (field, value) in pairs.items() if key in asked}


def apply_v3_settings(brand: Brand, changes: Mapping[str, Any]) -> Brand:
    """The brand with v3's settings applied (v3's POST /api/brands/<name>/config, or the per-render
    overrides of process_brands), in version-2 form. Only the settings in `changes` touch the layers (a
    value read back in v3's pixels is not written again, rounded); layers v3 does not know are kept.
    Raises pydantic.ValidationError for a bad value.

    Settings for a part the brand has no image for (a watermark scale without a watermark) change nothing;
    text settings with text_content create the text layer.
    """
    settings = V3Settings(**{**v3_settings(brand), **changes})
    asked = set(changes)
    layers = list(brand.all_layers())
    roles = _roles(tuple(layers))
    updates: dict[str, dict[str, Any]] = {
        "watermark": _picked(asked, {
            "watermark_scale": ("scale", settings.watermark_scale),
            "watermark_opacity": ("opacity", settings.watermark_opacity),
        }),
        "logo": _picked(asked, {
            "logo_scale": ("width", settings.logo_scale),
            "logo_padding": ("margin", _fraction(settings.logo_padding)),
        }),
        "text": _picked(asked, {
            "text_enabled": ("enabled", settings.text_enabled),
            "text_content": ("text", settings.text_content),
            "text_position": ("position", settings.text_position),
            "text_size": ("size", _fraction(settings.text_size, V3_OUTPUT_HEIGHT)),
            "text_color": ("color", settings.text_color),
            "text_margin": ("margin", _fraction(settings.text_margin)),
        }),
    }  # fmt: skip
    if "logo_scale" in asked:
        updates["logo"]["size"] = None  # v3 sizes its logo by width
    if asked & {"text_bg_enabled", "text_bg_color", "text_bg_opacity"}:
        box = TextBox(color=settings.text_bg_color, opacity=settings.text_bg_opacity)
        updates["text"]["box"] = box if settings.text_bg_enabled else None
    if "text" not in roles and settings.text_content:
        layers.append(_text_layer(settings))
    for role, index in roles.items():
        if role == "text" and not settings.text_content:
            continue  # an empty text_content leaves the text layer as it is (v3 drew nothing then)
        layers[index] = layers[index].model_copy(update=updates[role])
    # validated again: model_copy does not check, and a bad combination must fail here, not at render time
    data = brand.as_layers().model_dump()
    return Brand.model_validate({**data, "layers": [layer.model_dump() for layer in layers]})


def v3_layers(
    settings: V3Settings, watermarks: Mapping[Shape, Path], logo: Path | None
) -> tuple[ImageLayer | TextLayer, ...]:
    """An imported v3 brand's layers: the watermark per orientation, the keyed logo, the text line."""
    layers: list[ImageLayer | TextLayer] = []
    if watermarks:
        layers.append(
            ImageLayer(
                image=ShapeImages(**watermarks),
                fit="cover",
                scale=settings.watermark_scale,
                opacity=settings.watermark_opacity,
            )
        )
    if logo is not None:
        layers.append(
            ImageLayer(
                image=logo,
                key_color=V3_KEY_COLOR,
                key_tolerance=V3_KEY_TOLERANCE,
                position=V3_LOGO_POSITION,
                width=settings.logo_scale,
                margin=_fraction(settings.logo_padding),
            )
        )
    if settings.text_content:
        layers.append(_text_layer(settings))
    return tuple(layers)


# ---- reading a v3 checkout --------------------------------------------------------------------------

V3_BRAND_CONFIG = Path("portal/brand_config.json")
V3_DATABASE = Path("portal/db/portal.db")
V3_BRANDING = Path("WTF_MASTER_ASSETS/Branding")
V3_WATERMARK_FOLDERS: dict[Shape, str] = {
    "vertical": "Vertical_HD",
    "square": "Square",
    "landscape": "Landscape",
}
V3_WATERMARK_COLUMNS: dict[Shape, str] = {
    "vertical": "watermark_vertical",
    "square": "watermark_square",
    "landscape": "watermark_landscape",
}
V3_LOGO_FOLDER = Path("Logos/Circle")
WATERMARK_FORMATS = ("PNG",)  # the full-frame watermark needs its transparency


class V3ImportError(Exception):
    """The v3 folder or the destination cannot be used at all; one line naming the file."""


@dataclass(frozen=True)
class BrandOutcome:
    brand: str
    imported: bool
    detail: str

    def __str__(self) -> str:
        return f"{'imported' if self.imported else 'skipped '} {self.brand}: {self.detail}"


@dataclass(frozen=True)
class ImportResult:
    outcomes: list[BrandOutcome]
    config_path: Path | None  # None when nothing was written

    @property
    def imported(self) -> int:
        return sum(outcome.imported for outcome in self.outcomes)


class _Skip(Exception):
    """This brand cannot be imported; the message says why (naming the file)."""


def _watermark_names(brand: str) -> list[str]:
    """v3's four spellings of a watermark file (resolve_watermark_path): Clean drops "WTF"."""
    clean = brand.replace("WTF", "").strip()
    names = [
        f"{clean}_watermark.png",
        f"{clean.lower()}_watermark.png",
        f"{clean.capitalize()}_watermark.png",
    ]
    return list(dict.fromkeys([*names, f"{brand}_watermark.png"]))


def _stored_path(v3_dir: Path, stored: object) -> Path | None:
    """A path from v3's database (relative to v3's root, often with Windows backslashes) on this machine."""
    if not isinstance(stored, str) or not stored.strip():
        return None
    parts = PureWindowsPath(stored.strip()).parts  # splits on both \\ and /
    if PureWindowsPath(stored).anchor or stored.startswith("/"):
        # an absolute path from the machine v3 ran on: keep what follows the master-assets folder
        anchor = V3_BRANDING.parts[0]
        parts = parts[parts.index(anchor) :] if anchor in parts else parts[1:]
    return v3_dir.joinpath(*parts)


def _read_database(path: Path) -> dict[str, dict[str, Any]]:
    """v3's brands table (asset paths and settings) by case-folded name, with brand_configs (the settings
    v3's renders actually read) laid over it. {} when v3 never made the database."""
    if not path.exists():
        return {}
    rows: dict[str, dict[str, Any]] = {}
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            db.row_factory = sqlite3.Row
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "brands" in tables:
                # a system brand (no owner) wins over a user's copy of the same name
                for row in db.execute("SELECT * FROM brands ORDER BY user_id IS NOT NULL, id"):
                    rows.setdefault(str(row["name"]).casefold(), dict(row))
            if "brand_configs" in tables:
                for row in db.execute("SELECT * FROM brand_configs ORDER BY id"):
                    name = str(row["brand_name"]).casefold()
                    settings = {
                        k: v for k, v in dict(row).items() if k in V3Settings.model_fields and v is not None
                    }
                    rows[name] = {"name": row["brand_name"], **rows.get(name, {}), **settings}
    except sqlite3.Error as exc:
        raise V3ImportError(f"{path}: cannot read v3's database ({exc})") from None
    return rows


def _read_v3_config(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = read_json_file(path, "v3's brand config")
    except ValueError as exc:
        raise V3ImportError(str(exc)) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise V3ImportError(f"{path}: expected v3's shape, an object of brands")
    return data


class _V3Brand:
    """One v3 brand's assets and settings, found the way v3 found them."""

    def __init__(self, v3_dir: Path, name: str, entry: dict[str, Any], row: dict[str, Any]) -> None:
        self.v3_dir, self.name, self.row = v3_dir, name, row
        self.display_name = str(entry.get("display_name") or row.get("display_name") or name)[:80]
        self.branding = v3_dir / V3_BRANDING

    def settings(self) -> V3Settings:
        values = {k: v for k, v in self.row.items() if k in V3Settings.model_fields and v is not None}
        try:
            return V3Settings(**values)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = ".".join(str(part) for part in error["loc"])
            raise _Skip(f"{self._db_name()}: {field} = {error['input']!r}: {error['msg']}") from None

    def _db_name(self) -> str:
        return str(self.v3_dir / V3_DATABASE)

    def _stored(self, column: str) -> Path | None:
        """The database's path in `column`, on this machine (None when the database names none); one that
        leads outside v3's folder skips the brand, saying so whether or not such a file exists."""
        stored = _stored_path(self.v3_dir, self.row.get(column))
        if stored is None:
            return None
        try:
            return inside_folder(self.v3_dir, stored)
        except BrandConfigError as exc:
            raise _Skip(f"{exc} (named by {self._db_name()}, {column})") from None

    @property
    def logo_convention(self) -> Path:
        return self.branding / V3_LOGO_FOLDER / f"{self.name}_logo.png"

    def watermarks(self) -> dict[Shape, Path]:
        found: dict[Shape, Path] = {}
        for shape, folder in V3_WATERMARK_FOLDERS.items():
            stored = self._stored(V3_WATERMARK_COLUMNS[shape])
            candidates = [stored] if stored else []
            candidates += [
                self.branding / "Watermarks" / folder / name for name in _watermark_names(self.name)
            ]
            path = next((p for p in candidates if p.is_file()), None)
            if path is None and stored is not None:
                raise _Skip(
                    f"{stored}: file not found (named by {self._db_name()}, {V3_WATERMARK_COLUMNS[shape]})"
                )
            if path is not None:
                found[shape] = path
        return found

    def logo(self) -> Path | None:
        stored = self._stored("logo_path")
        path = next((p for p in (stored, self.logo_convention) if p is not None and p.is_file()), None)
        if path is None and stored is not None:
            raise _Skip(f"{stored}: file not found (named by {self._db_name()}, logo_path)")
        return path


def _copy_assets(
    brand_id: str, watermarks: dict[Shape, Path], logo: Path | None, folder: Path
) -> tuple[dict[Shape, Path], Path | None]:
    """Check and copy a brand's assets into `folder`/<id>/; _Skip naming the first bad file."""
    checks = [(path, WATERMARK_FORMATS) for path in watermarks.values()]
    checks += [(logo, ())] if logo is not None else []
    for path, formats in checks:
        problem = asset_problem(path, formats)
        if problem is not None:
            raise _Skip(f"{path}: {problem}")
    target = folder / brand_id
    target.mkdir(parents=True)
    copied = {
        shape: Path(shutil.copyfile(path, target / f"watermark-{shape}.png"))
        for shape, path in watermarks.items()
    }
    copied_logo = (
        Path(shutil.copyfile(logo, target / f"logo{logo.suffix.lower()}")) if logo is not None else None
    )
    return copied, copied_logo


def _describe_import(watermarks: dict[Shape, Path], logo: Path | None, settings: V3Settings) -> str:
    parts = []
    if watermarks:
        missing = [f"{shape} uses {next(s for s in NEAREST_SHAPES[shape] if s in watermarks)}"
                   for shape in V3_WATERMARK_FOLDERS if shape not in watermarks]  # fmt: skip
        parts.append(f"watermark {', '.join(watermarks)}" + (f" ({'; '.join(missing)})" if missing else ""))
    else:
        parts.append("no watermark")
    parts.append("logo" if logo is not None else "no logo")
    if settings.text_content:
        parts.append(f"text {settings.text_content!r}" + ("" if settings.text_enabled else " (off)"))
    return ", ".join(parts)


def import_v3(v3_dir: Path, out: Path) -> ImportResult:
    """Read a v3 checkout and write `out` (a version-2 brand config) with its assets beside it, in
    `<out stem>-assets/<brand>/`. The config and its assets appear together or not at all: everything is
    written in a temporary folder next to `out`, checked like `brands check`, then moved into place.
    """
    v3_dir, out = Path(v3_dir), Path(out)
    entries = _read_v3_config(v3_dir / V3_BRAND_CONFIG)
    if not (v3_dir / V3_BRANDING).is_dir():
        raise V3ImportError(f"{v3_dir / V3_BRANDING}: not found (v3's master assets)")
    rows = _read_database(v3_dir / V3_DATABASE)
    assets_dir = out.parent / f"{out.stem}-assets"
    for existing in (out, assets_dir):
        if existing.exists():
            raise V3ImportError(f"{existing}: already exists; choose another --out")
    # brand_config.json's brands first (its order), then brands only v3's database knows
    names = list(entries) + [
        row["name"] for key, row in rows.items() if key not in {n.casefold() for n in entries}
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".import-v3-", dir=out.parent))
    try:
        outcomes, config = _import_brands(v3_dir, names, entries, rows, work / assets_dir.name)
        if config is None:
            return ImportResult(outcomes, None)
        staged = work / out.name
        save_brand_config(config, staged)
        written = load_brand_config(staged)  # what `brands check` does, before anything is in place
        problems = check_brand_assets(written)
        if problems:
            raise V3ImportError(f"{out}: the written config fails its check: {problems[0]}")
        os.replace(work / assets_dir.name, assets_dir)
        try:
            os.replace(staged, out)
        except OSError:
            shutil.rmtree(assets_dir, ignore_errors=True)
            raise
        return ImportResult(outcomes, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _import_brands(
    v3_dir: Path, names: list[str], entries: dict, rows: dict, assets: Path
) -> tuple[list[BrandOutcome], BrandConfig | None]:
    outcomes: list[BrandOutcome] = []
    brands: dict[str, Brand] = {}
    for name in names:
        row = rows.get(name.casefold(), {})
        try:
            if not BRAND_ID.fullmatch(name):
                raise _Skip("not a usable brand id (letters, digits, - and _, at most 64)")
            twin = next((b for b in brands if b.casefold() == name.casefold()), None)
            if twin is not None:
                raise _Skip(f"same name as {twin!r} ignoring case")
            if row.get("is_active", 1) in (0, "0"):
                raise _Skip("inactive in v3's database")
            v3 = _V3Brand(v3_dir, name, entries.get(name, {}), row)
            settings = v3.settings()
            watermarks, logo = v3.watermarks(), v3.logo()
            if not watermarks and logo is None:
                looked = v3.branding / "Watermarks" / "*" / _watermark_names(name)[0]
                raise _Skip(f"no watermark or logo found ({looked}, {v3.logo_convention})")
            copied, copied_logo = _copy_assets(name, watermarks, logo, assets)
            brands[name] = Brand(
                id=name,
                name=v3.display_name,
                safe_zone=V3_SAFE_ZONE,
                layers=v3_layers(settings, copied, copied_logo),
            )
            outcomes.append(BrandOutcome(name, True, _describe_import(watermarks, logo, settings)))
        except _Skip as skip:
            outcomes.append(BrandOutcome(name, False, str(skip)))
    if not brands:
        return outcomes, None
    return outcomes, BrandConfig(version=2, brands=brands)
