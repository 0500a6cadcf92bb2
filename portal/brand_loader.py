"""brand_config.json (version 1) -> validated `Brand` objects, plus asset integrity checks.

Errors name the file, the brand and the field, so a typo in a config is a one-line fix.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from portal.media.safezone import SafeZone, SafeZoneName, project_zone

Position = Literal[
    "top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right"
]

BRAND_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# A logo bigger than this is a mistake (a camera photo, a print file), not a watermark.
MAX_ASSET_PIXELS = 4096 * 4096
MAX_ASSET_BYTES = 10 * 1024 * 1024


class LogoSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    position: Position = "top-right"
    width: float = Field(default=0.18, gt=0, le=1)
    opacity: float = Field(default=0.9, ge=0, le=1)
    margin: float = Field(default=0.03, ge=0, lt=0.5)


class WatermarkSpec(BaseModel):
    """A handle drawn as text, or an image; either way it becomes one overlay image."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str | None = Field(default=None, min_length=1, max_length=120)
    image: Path | None = None
    position: Position = "bottom-left"
    size: float = Field(default=0.035, gt=0, le=0.5)  # text height, or image height, / output height
    opacity: float = Field(default=0.6, ge=0, le=1)
    color: str = "#FFFFFF"
    margin: float = Field(default=0.03, ge=0, lt=0.5)

    @field_validator("color")
    @classmethod
    def _hex_colour(cls, value: str) -> str:
        if not re.fullmatch(r"#[0-9A-Fa-f]{6}", value):
            raise ValueError("must be a colour like #FFFFFF")
        return value.upper()

    @model_validator(mode="after")
    def _text_or_image(self) -> WatermarkSpec:
        if (self.text is None) == (self.image is None):
            raise ValueError("give exactly one of 'text' or 'image'")
        return self


class Brand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str = Field(min_length=1, max_length=80)
    logo: LogoSpec | None = None
    watermark: WatermarkSpec | None = None
    safe_zone: SafeZoneName | SafeZone = "none"

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not BRAND_ID.fullmatch(value):
            raise ValueError("brand id must match [a-z0-9][a-z0-9_-]{0,63}")
        return value

    def safe_zone_for(self, width: int, height: int) -> SafeZone:
        """The zone for an output of this size, as the platform shows it (see portal.media.safezone)."""
        return project_zone(self.safe_zone, width, height)

    def asset_paths(self) -> list[Path]:
        paths = [self.logo.path] if self.logo else []
        if self.watermark and self.watermark.image:
            paths.append(self.watermark.image)
        return paths


class BrandConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    brands: dict[str, Brand]
    source: Path | None = Field(default=None, exclude=True)  # the file it came from

    def select(self, ids: list[str] | Literal["all"]) -> list[Brand]:
        """Brands by id, in the order asked; unknown ids raise UnknownBrandError naming them."""
        if ids == "all":
            return list(self.brands.values())
        unknown = [brand_id for brand_id in ids if brand_id not in self.brands]
        if unknown:
            known = ", ".join(self.brands) or "none"
            raise UnknownBrandError(f"unknown brand {', '.join(map(repr, unknown))} (known: {known})")
        return [self.brands[brand_id] for brand_id in dict.fromkeys(ids)]


class BrandConfigError(Exception):
    """The brand config cannot be used; the message names the file, the brand and the field."""

    code = "brand_config_invalid"


class UnknownBrandError(BrandConfigError):
    code = "unknown_brand"  # e.g. removed from the config after a job asked for it


def parse_brand_config(data: object, base_dir: Path, source: str = "brand config") -> BrandConfig:
    """Validate a decoded config; relative asset paths are resolved against `base_dir`."""
    if not isinstance(data, dict) or not isinstance(data.get("brands"), dict):
        raise BrandConfigError(f"{source}: expected an object with a 'brands' object")
    brands_in = data["brands"]
    brands: dict[str, dict] = {}
    for brand_id, raw in brands_in.items():
        if not isinstance(raw, dict):
            raise BrandConfigError(f"{source}: brand {brand_id!r}: expected an object")
        brand = {**raw, "id": brand_id}
        for key, field in (("logo", "path"), ("watermark", "image")):
            spec = brand.get(key)
            if isinstance(spec, dict) and isinstance(spec.get(field), str):
                brand[key] = {**spec, field: str(base_dir / spec[field])}
        brands[brand_id] = brand
    try:
        return BrandConfig.model_validate({"version": data.get("version", 1), "brands": brands})
    except ValidationError as exc:
        raise BrandConfigError(_describe(exc, source)) from None


def load_brand_config(path: Path | str) -> BrandConfig:
    """Read, parse and validate a brand_config.json file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BrandConfigError(f"{path}: brand config not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BrandConfigError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise BrandConfigError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
    config = parse_brand_config(data, path.resolve().parent, str(path))
    return config.model_copy(update={"source": path})


def _describe(exc: ValidationError, source: str) -> str:
    problems = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        if len(loc) >= 2 and loc[0] == "brands":
            # drop pydantic's union branch names (e.g. 'SafeZone', 'literal[...]') from the field path
            fields = [part for part in loc[2:] if not part[:1].isupper() and "[" not in part]
            where = f"brand {loc[1]!r}: {'.'.join(fields) or 'brand'}"
        else:
            where = ".".join(loc) or "config"
        problems.append(f"{where}: {error['msg']}")
    return f"{source}: " + "; ".join(dict.fromkeys(problems))


@dataclass(frozen=True)
class AssetProblem:
    brand: str
    path: Path
    problem: str

    def __str__(self) -> str:
        return f"brand {self.brand!r}: {self.path}: {self.problem}"


def check_brand_assets(config: BrandConfig) -> list[AssetProblem]:
    """Every logo and watermark image exists, decodes, and is a sensible size."""
    from PIL import Image, UnidentifiedImageError

    problems: list[AssetProblem] = []
    for brand in config.brands.values():
        for path in brand.asset_paths():
            if not path.is_file():
                problems.append(AssetProblem(brand.id, path, "file not found"))
                continue
            if path.stat().st_size > MAX_ASSET_BYTES:
                problems.append(AssetProblem(brand.id, path, "larger than 10 MB"))
                continue
            try:
                with Image.open(path) as image:
                    if image.width * image.height > MAX_ASSET_PIXELS:
                        problems.append(
                            AssetProblem(brand.id, path, f"{image.width}x{image.height} is too large")
                        )
                        continue
                    image.load()
            except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
                problems.append(AssetProblem(brand.id, path, f"not a readable image ({exc})"))
    return problems


def config_to_json(config: BrandConfig, base_dir: Path) -> dict:
    """The config as brand_config.json holds it: asset paths relative to the file's folder where possible."""

    def relative(path: Path) -> str:
        try:
            return str(Path(path).resolve().relative_to(base_dir.resolve()))
        except ValueError:
            return str(path)

    brands = {}
    for brand in config.brands.values():
        data = brand.model_dump(mode="json", exclude={"id"}, exclude_none=True)
        if brand.logo:
            data["logo"]["path"] = relative(brand.logo.path)
        if brand.watermark and brand.watermark.image:
            data["watermark"]["image"] = relative(brand.watermark.image)
        brands[brand.id] = data
    return {"version": config.version, "brands": brands}


def save_brand_config(config: BrandConfig, path: Path) -> None:
    """Write the config atomically (temp file + rename in the same folder): readers never see half a file."""
    import os
    import tempfile

    path = Path(path)
    text = json.dumps(config_to_json(config, path.resolve().parent), indent=2) + "\n"
    parse_brand_config(json.loads(text), path.resolve().parent, str(path))  # what we write must load back
    fd, temp = tempfile.mkstemp(prefix=".brand_config.", suffix=".json", dir=path.resolve().parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(temp, 0o644)
    os.replace(temp, path)
