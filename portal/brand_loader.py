"""brand_config.json (versions 1 and 2) -> validated `Brand` objects, plus asset integrity checks.

Version 1 gives a brand a logo and one watermark; version 2 gives it any number of layers (DESIGN 4.2).
The engine sees one model: `Brand.drawn_layers()` expresses a version-1 logo and watermark as the layers
they always meant, so there is a single drawing path. Errors name the file, the brand and the field, so a
typo in a config is a one-line fix.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from portal.errors import PortalError
from portal.media.options import LOUDNESS_LUFS_RANGE, FixedPosition, Position
from portal.media.safezone import SafeZone, SafeZoneName, project_zone

Shape = Literal["vertical", "portrait", "square", "landscape"]
SHAPES: tuple[Shape, ...] = ("vertical", "portrait", "square", "landscape")
# When a layer has nothing for the output's shape (an image, a placement), the nearest shape's is used, in
# this order (a config written before `portrait` existed draws a 4:5 output as it always did: vertical).
NEAREST_SHAPES: dict[Shape, tuple[Shape, ...]] = {
    "vertical": ("vertical", "portrait", "square", "landscape"),
    "portrait": ("portrait", "vertical", "square", "landscape"),
    "square": ("square", "portrait", "vertical", "landscape"),
    "landscape": ("landscape", "square", "portrait", "vertical"),
}
# Taller than wide: `portrait` (4:5, 3:4) from this width/height up, `vertical` (9:16, 2:3) below it (the
# geometric middle of 9:16 and 4:5).
PORTRAIT_MIN_ASPECT = ((9 / 16) * (4 / 5)) ** 0.5

T = TypeVar("T")
BRAND_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# BRAND_ID in words, as the dashboard's form and a refused id say it.
BRAND_ID_RULE = "letters, digits, - and _, starting with a letter or digit, up to 64 characters"


def _hex_colour(value: str) -> str:
    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", value):
        raise ValueError("must be a colour like #FFFFFF")
    return value.upper()


HexColour = Annotated[str, AfterValidator(_hex_colour)]
Fraction01 = Annotated[float, Field(ge=0, le=1)]
Margin = Annotated[float, Field(ge=0, lt=0.5)]


def output_shape(width: int, height: int) -> Shape:
    """The shape an output of this size has (DESIGN 4.2, 4.10): landscape (w > h), square, portrait (a
    little taller than wide, e.g. 4:5) or vertical (e.g. 9:16)."""
    if width > height:
        return "landscape"
    if width == height:
        return "square"
    return "portrait" if width / height >= PORTRAIT_MIN_ASPECT else "vertical"


class ByShape(BaseModel, Generic[T]):
    """One value per output shape (an image, a position, a width...); a missing shape uses the nearest one
    (NEAREST_SHAPES)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vertical: T | None = None
    portrait: T | None = None
    square: T | None = None
    landscape: T | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> ByShape:
        if not self.values():
            raise ValueError(f"give a value for at least one of {', '.join(SHAPES)}")
        return self

    def values(self) -> list[T]:
        return [value for shape in SHAPES if (value := getattr(self, shape)) is not None]

    def for_shape(self, shape: Shape) -> T:
        return next(value for s in NEAREST_SHAPES[shape] if (value := getattr(self, s)) is not None)


def for_shape(value: T | ByShape[T], shape: Shape) -> T:
    """A setting's value on an output of this shape: the value, or its per-shape value (nearest shape)."""
    return value.for_shape(shape) if isinstance(value, ByShape) else value


def every_shape(value: T | ByShape[T]) -> list[T]:
    """Every value a setting takes on some shape."""
    return value.values() if isinstance(value, ByShape) else [value]


class Spot(BaseModel):
    """A free position: the layer's centre as fractions of the output frame (x from the left, y from the
    top), as DESIGN 4.12's adjustments give it. The engine moves the layer inside the safe rectangle if the
    spot would put part of it in a UI area; the margin does not apply (the user put it there)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    x: Fraction01
    y: Fraction01


def _placement_kind(value: Any) -> str:
    if isinstance(value, str):
        return "Anchor"
    if isinstance(value, Spot) or (isinstance(value, dict) and ("x" in value or "y" in value)):
        return "Spot"
    return "ByShape"


# One of the nine anchors or auto, or a free spot. Tags are capitalised so error paths leave them out.
Placement = Annotated[
    Annotated[Position, Tag("Anchor")] | Annotated[Spot, Tag("Spot")], Discriminator(_placement_kind)
]


class Placeable(BaseModel):
    """A positioned overlay. With `position: "auto"` the engine picks where it hides the least of the clip;
    `fallback` is where it goes when the clip shows no faces or text, by default the kind's usual position.
    """

    fallback: FixedPosition | None = None

    @model_validator(mode="before")
    @classmethod
    def _auto_fallback(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("fallback") is None and _is_auto(data.get("position")):
            return {**data, "fallback": cls.model_fields["position"].default}
        return data

    def placement(self, shape: Shape) -> tuple[Placement, float | None, float | None, float]:
        """(position, width, size, margin) on an output of this shape (each may be set per shape)."""
        width, size = getattr(self, "width", None), getattr(self, "size", None)
        return (
            for_shape(self.position, shape),  # type: ignore[attr-defined]
            None if width is None else for_shape(width, shape),
            None if size is None else for_shape(size, shape),
            for_shape(self.margin, shape),  # type: ignore[attr-defined]
        )


def _is_auto(position: Any) -> bool:
    """Whether a position as written (a name, a spot, or one per shape) is "auto" on some shape."""
    if isinstance(position, dict):
        return any(value == "auto" for value in position.values())
    return position == "auto"


class LogoSpec(Placeable):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path
    position: Position = "top-right"
    width: float = Field(default=0.18, gt=0, le=1)
    opacity: float = Field(default=0.9, ge=0, le=1)
    margin: float = Field(default=0.03, ge=0, lt=0.5)


class WatermarkSpec(Placeable):
    """A handle drawn as text, or an image; either way it becomes one overlay image."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str | None = Field(default=None, min_length=1, max_length=120)
    image: Path | None = None
    position: Position = "bottom-left"
    size: float = Field(default=0.035, gt=0, le=0.5)  # text height, or image height, / output height
    opacity: float = Field(default=0.6, ge=0, le=1)
    color: HexColour = "#FFFFFF"
    margin: float = Field(default=0.03, ge=0, lt=0.5)

    @model_validator(mode="after")
    def _text_or_image(self) -> WatermarkSpec:
        if (self.text is None) == (self.image is None):
            raise ValueError("give exactly one of 'text' or 'image'")
        return self


class ShapeImages(ByShape[Path]):
    """One image per output shape; a missing shape uses the nearest one (NEAREST_SHAPES)."""

    def paths(self) -> list[Path]:
        return self.values()


# Placement settings a version-2 layer may give once, or per output shape (DESIGN 4.10).
LayerPlacement = Annotated[
    Annotated[Position, Tag("Anchor")] | Annotated[Spot, Tag("Spot")]
    | Annotated[ByShape[Placement], Tag("ByShape")],
    Discriminator(_placement_kind),
]  # fmt: skip
LayerWidth = Annotated[float, Field(gt=0, le=1)]
LayerMargin = Margin | ByShape[Margin]


class ImageLayer(Placeable):
    """A picture: full-frame (`fit: cover`, decoration, exempt from the safe zone) or placed like a logo.

    A placed layer is `width` wide (fraction of the output width) or `size` tall (fraction of its height),
    `margin` (fraction of the width) inside the safe rectangle. `key_color` makes a flat background
    transparent: pixels within `key_tolerance` of it (0..1, like FFmpeg's colorkey similarity).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: Path | ShapeImages
    fit: Literal["cover"] | None = None
    scale: float = Field(default=1.0, gt=0, le=4)  # cover only: >1 crops a padded PNG's empty border
    opacity: Fraction01 = 1.0
    position: LayerPlacement = "bottom-right"
    width: LayerWidth | ByShape[LayerWidth] | None = None
    size: LayerWidth | ByShape[LayerWidth] | None = None
    margin: LayerMargin = 0.03
    key_color: HexColour | None = None
    key_tolerance: float = Field(default=0.1, gt=0, le=1)
    enabled: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> ImageLayer:
        # compared with the defaults (not "was it given") so a saved and re-read layer validates the same
        defaults = {name: field.default for name, field in type(self).model_fields.items()}
        if self.fit == "cover":
            placed = [
                name
                for name in ("position", "width", "size", "margin")
                if getattr(self, name) != defaults[name]
            ]
            if placed:
                raise ValueError(f"a cover layer fills the frame: remove {', '.join(placed)}")
        elif self.scale != defaults["scale"]:
            raise ValueError("'scale' is for fit: cover layers; a placed layer takes width or size")
        if self.width is not None and self.size is not None:
            raise ValueError("give 'width' or 'size', not both")
        return self

    def to_json(self) -> dict[str, Any]:
        """The layer as brand_config.json holds it: every setting that applies to its kind, spelled out."""
        skip = {"enabled"} if self.enabled else set()
        skip |= {"position", "width", "size", "margin"} if self.fit == "cover" else {"scale"}
        skip |= set() if self.key_color else {"key_tolerance"}
        return self.model_dump(mode="json", exclude=skip, exclude_none=True)

    def image_for(self, shape: Shape) -> Path:
        return self.image if isinstance(self.image, Path) else self.image.for_shape(shape)

    def image_paths(self) -> list[Path]:
        return [self.image] if isinstance(self.image, Path) else self.image.paths()


class TextBox(BaseModel):
    """A filled rectangle behind a text layer (v3's text background)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    color: HexColour = "#000000"
    opacity: Fraction01 = 0.6


TextSize = Annotated[float, Field(gt=0, le=0.5)]


class TextLayer(Placeable):
    """A line of text, `size` tall (fraction of the output height), drawn with the bundled font."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, max_length=120)
    position: LayerPlacement = "bottom"
    size: TextSize | ByShape[TextSize] = 0.035
    color: HexColour = "#FFFFFF"
    opacity: Fraction01 = 1.0
    margin: LayerMargin = 0.03
    box: TextBox | None = None
    enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        """The layer as brand_config.json holds it."""
        return self.model_dump(
            mode="json", exclude=set() if not self.enabled else {"enabled"}, exclude_none=True
        )


# Where captions sit in the safe zone, always centred across it (a caption's lines change width as it plays).
CaptionPosition = Literal["bottom", "center", "top"]


class CaptionStyle(BaseModel):
    """How a brand draws a clip's transcript (DESIGN 4.13): every key optional.

    The bundled font (the one text layers use), `size` tall (fraction of the output height, made smaller
    when a line of `max_chars` would not fit the safe width), at most `max_lines` lines per caption, centred
    across the safe zone at its `position` (by default its bottom, so above the platform's own caption
    band; may be set per output shape), the word being spoken in `highlight`; an `outline` around the
    letters, or a `box` behind them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: float = Field(default=0.045, gt=0, le=0.2)
    color: HexColour = "#FFFFFF"
    highlight: HexColour | None = "#FFD400"  # the active word's colour; null: no highlight
    outline: HexColour | None = "#000000"
    outline_width: float = Field(default=0.08, ge=0, le=0.5)  # fraction of the font size
    box: TextBox | None = None
    max_lines: int = Field(default=2, ge=1, le=2)
    max_chars: int = Field(default=32, ge=8, le=60)  # per line
    margin: Margin = 0.03
    position: CaptionPosition | ByShape[CaptionPosition] = "bottom"


class CaptionsLayer(BaseModel):
    """The layer `{"captions": {...}}`: the clip's transcript, burned in (drawn above the other layers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    captions: CaptionStyle = CaptionStyle()
    enabled: bool = True

    def to_json(self) -> dict[str, Any]:
        """The layer as brand_config.json holds it: every setting spelled out, no empty box or shapes; a
        null highlight or outline is kept (it turns that off)."""
        style = self.captions.model_dump(mode="json", exclude_none=True)
        style |= {key: None for key in ("highlight", "outline") if getattr(self.captions, key) is None}
        return {"captions": style} | ({} if self.enabled else {"enabled": False})


def _layer_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "CaptionsLayer" if "captions" in value else "TextLayer" if "text" in value else "ImageLayer"
    return type(value).__name__


# Tags are class names so error paths read "layers.1.opacity", not "layers.1.image.opacity".
Layer = Annotated[
    Annotated[ImageLayer, Tag("ImageLayer")]
    | Annotated[TextLayer, Tag("TextLayer")]
    | Annotated[CaptionsLayer, Tag("CaptionsLayer")],
    Discriminator(_layer_kind),
]


# What a brand's post text may name (DESIGN 4.14); portal.library.post_text fills them per output.
POST_TEXT_FIELDS = ("title", "uploader", "url", "brand", "hashtags")
HASHTAG = re.compile(r"^#?[^\s#]{1,100}$")


def _post_text_template(value: str) -> str:
    try:
        names = [name for _text, name, _spec, _conv in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        raise ValueError(f"not a template: {exc} (write a brace as {{{{ or }}}})") from None
    unknown = sorted({name for name in names if name not in POST_TEXT_FIELDS})
    if unknown:
        known = ", ".join(f"{{{field}}}" for field in POST_TEXT_FIELDS)
        raise ValueError(f"unknown field {{{unknown[0]}}}: use {known}")
    return value


def _hashtag(value: str) -> str:
    if not HASHTAG.fullmatch(value):
        raise ValueError("a hashtag is one word, with or without its #")
    return "#" + value.lstrip("#")


class Brand(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str = Field(min_length=1, max_length=80)
    logo: LogoSpec | None = None
    watermark: WatermarkSpec | None = None
    layers: tuple[Layer, ...] = ()
    safe_zone: SafeZoneName | SafeZone = "none"
    # names and handles speech recognition is to spell this way (captions "auto", DESIGN 4.13)
    glossary: tuple[Annotated[str, Field(min_length=1, max_length=60)], ...] = Field(
        default=(), max_length=200
    )
    # the brand's own loudness target (LUFS), or "off" to keep the source's; unset: WTF_LOUDNESS_LUFS
    loudness_lufs: (
        Annotated[float, Field(ge=LOUDNESS_LUFS_RANGE[0], le=LOUDNESS_LUFS_RANGE[1])] | Literal["off"] | None
    ) = None
    # version 2: the text to post with each output, e.g. "{title} | via @{uploader}\n{url}\n{hashtags}"
    post_text: Annotated[str, AfterValidator(_post_text_template), Field(max_length=2200)] | None = None
    hashtags: tuple[Annotated[str, AfterValidator(_hashtag)], ...] = ()

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not BRAND_ID.fullmatch(value):
            raise ValueError("brand id must match [A-Za-z0-9][A-Za-z0-9_-]{0,63}")
        return value

    def safe_zone_for(self, width: int, height: int) -> SafeZone:
        """The zone for an output of this size, as the platform shows it (see portal.media.safezone)."""
        return project_zone(self.safe_zone, width, height)

    def all_layers(self) -> tuple[ImageLayer | TextLayer | CaptionsLayer, ...]:
        """Every layer in drawing order, disabled ones included: a version-1 logo, then its watermark
        (the order version 1 always drew them in), then the version-2 layers."""
        legacy: list[ImageLayer | TextLayer | CaptionsLayer] = []
        if self.logo is not None:
            legacy.append(ImageLayer(image=self.logo.path, **self.logo.model_dump(exclude={"path"})))
        mark = self.watermark
        if mark is not None and mark.image is not None:
            legacy.append(ImageLayer(**mark.model_dump(exclude={"text", "color"})))
        elif mark is not None:
            legacy.append(TextLayer(**mark.model_dump(exclude={"image"})))
        return (*legacy, *self.layers)

    def drawn_layers(self) -> tuple[ImageLayer | TextLayer, ...]:
        """The overlays the engine draws, bottom first (captions aside: see `captions`)."""
        return tuple(
            layer for layer in self.all_layers() if layer.enabled and not isinstance(layer, CaptionsLayer)
        )

    @property
    def captions(self) -> CaptionStyle | None:
        """The style of the brand's enabled captions layer, or None: it burns in no captions."""
        return next(
            (layer.captions for layer in self.layers if isinstance(layer, CaptionsLayer) and layer.enabled),
            None,
        )

    def as_layers(self) -> Brand:
        """The same brand in version-2 form (logo and watermark become layers), e.g. before editing layers."""
        return self.model_copy(update={"logo": None, "watermark": None, "layers": self.all_layers()})

    def asset_paths(self) -> list[Path]:
        return [
            path
            for layer in self.all_layers()
            if isinstance(layer, ImageLayer)
            for path in layer.image_paths()
        ]


# A new brand starts as version 1's defaults would draw it: its logo top-right, its handle bottom-left, inside
# the union of the platforms' safe zones. They never overlap, on any shape, in any zone
# (tests/brands/test_starter_brand.py).
STARTER_SAFE_ZONE: SafeZoneName = "all"


def starter_layers(logo: str, handle: str) -> list[dict]:
    """The layers a new brand starts with (brand_config.json's shape): `logo` image and `handle` text."""
    logo_spec, mark = LogoSpec.model_fields, WatermarkSpec.model_fields
    return [
        {"image": logo, **{key: logo_spec[key].default for key in ("position", "width", "margin")}},
        {"text": handle, **{key: mark[key].default for key in ("position", "size", "margin")}},
    ]


class BrandConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1, 2] = 1
    brands: dict[str, Brand]
    source: Path | None = Field(default=None, exclude=True)  # the file it came from

    @model_validator(mode="after")
    def _ids_unique_ignoring_case(self) -> BrandConfig:
        seen: dict[str, str] = {}
        for brand_id in self.brands:
            other = seen.setdefault(brand_id.casefold(), brand_id)
            if other != brand_id:
                raise ValueError(f"brand ids {other!r} and {brand_id!r} differ only in case")
        return self

    def find(self, brand_id: str) -> Brand:
        """The brand with this id in any case (`ScotlandWTF`, `scotlandwtf`); UnknownBrandError if none.

        The CLI, the API and the dashboard all look brands up here, so they agree on what a name means.
        """
        brand = self.brands.get(brand_id)
        if brand is None:
            wanted = brand_id.casefold()
            brand = next((b for key, b in self.brands.items() if key.casefold() == wanted), None)
        if brand is None:
            known = ", ".join(self.brands) or "none"
            raise UnknownBrandError(f"unknown brand {brand_id!r} (known: {known})")
        return brand

    def select(self, ids: list[str] | Literal["all"]) -> list[Brand]:
        """Brands by id (any case), in the order asked; unknown ids raise UnknownBrandError naming them."""
        if ids == "all":
            return list(self.brands.values())
        found: dict[str, Brand] = {}
        unknown = []
        for brand_id in ids:
            try:
                brand = self.find(brand_id)
            except UnknownBrandError:
                unknown.append(brand_id)
                continue
            found.setdefault(brand.id, brand)
        if unknown:
            known = ", ".join(self.brands) or "none"
            raise UnknownBrandError(f"unknown brand {', '.join(map(repr, unknown))} (known: {known})")
        return list(found.values())

    def with_brand(self, brand: Brand) -> BrandConfig:
        """This config with `brand` added or replacing the brand of the same id in any case; version 2
        once any brand has layers."""
        brands = {}
        for key, existing in self.brands.items():  # keep the brand's place in the file
            replaced = key.casefold() == brand.id.casefold()
            brands[brand.id if replaced else key] = brand if replaced else existing
        brands.setdefault(brand.id, brand)
        version = 2 if any(b.layers or b.post_text or b.hashtags for b in brands.values()) else self.version
        return self.model_copy(update={"brands": brands, "version": version})


class BrandConfigError(PortalError):
    """The brand config cannot be used; the message names the file, the brand and the field."""

    code = "brand_config_invalid"
    status = 503  # the service's own file is broken: nothing the client can fix


class UnknownBrandError(BrandConfigError):
    code = "unknown_brand"  # e.g. removed from the config after a job asked for it
    status = 422


def map_asset_paths(brand: dict, convert: Callable[[str], str]) -> dict:
    """A copy of a brand's JSON with every asset path passed through `convert` (the one list of where
    paths live: logo.path, watermark.image, layers[].image as one path or one per shape)."""

    def mapped(value: Any) -> Any:
        if isinstance(value, str):
            return convert(value)
        if isinstance(value, dict):
            return {shape: convert(v) if isinstance(v, str) else v for shape, v in value.items()}
        return value

    brand = dict(brand)
    for key, field in (("logo", "path"), ("watermark", "image")):
        spec = brand.get(key)
        if isinstance(spec, dict) and isinstance(spec.get(field), str):
            brand[key] = {**spec, field: convert(spec[field])}
    if isinstance(brand.get("layers"), list):
        brand["layers"] = [
            {**layer, "image": mapped(layer["image"])}
            if isinstance(layer, dict) and "image" in layer
            else layer
            for layer in brand["layers"]
        ]
    return brand


def inside_folder(folder: Path, path: str | Path) -> Path:
    """`path` (relative to `folder`, or absolute) resolved, links followed; BrandConfigError if it lands
    outside `folder`. The message is the same whether or not such a file exists: it tells nothing of it."""
    resolved = (folder / path).resolve()
    if not resolved.is_relative_to(folder.resolve()):
        raise BrandConfigError(f"{str(path)[:200]!r}: an asset path must stay inside its brands folder")
    return resolved


def _asset(base_dir: Path, path: str, confined: bool) -> str:
    return str(inside_folder(base_dir, path) if confined else base_dir / path)


def parse_brand_config(
    data: object, base_dir: Path, source: str = "brand config", confined: bool = False
) -> BrandConfig:
    """Validate a decoded config; relative asset paths are resolved against `base_dir`.

    `confined`: every asset path must stay inside `base_dir` (a config that came from a bucket or a client,
    not the operator's own file, which may name files anywhere on its machine).
    """
    if not isinstance(data, dict) or not isinstance(data.get("brands"), dict):
        raise BrandConfigError(f"{source}: expected an object with a 'brands' object")
    version = data.get("version", 1)
    brands: dict[str, dict] = {}
    for brand_id, raw in data["brands"].items():
        if not isinstance(raw, dict):
            raise BrandConfigError(f"{source}: brand {brand_id!r}: expected an object")
        for field in ("layers", "post_text", "hashtags"):
            if field in raw and version == 1:
                verb = "need" if field.endswith("s") else "needs"
                raise BrandConfigError(f'{source}: brand {brand_id!r}: {field} {verb} "version": 2')
        brands[brand_id] = {
            **map_asset_paths(raw, lambda path: _asset(base_dir, path, confined)),
            "id": brand_id,
        }
    try:
        return BrandConfig.model_validate({"version": version, "brands": brands})
    except ValidationError as exc:
        raise BrandConfigError(_describe(exc, source)) from None


def read_json_file(path: Path, what: str) -> object:
    """The decoded JSON of a file; ValueError with one line naming the file (`what` it should be)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno}") from None


def load_brand_config(path: Path | str, confined: bool = False) -> BrandConfig:
    """Read, parse and validate a brand_config.json file (`confined`: see `parse_brand_config`)."""
    path = Path(path)
    try:
        data = read_json_file(path, "brand config")
    except ValueError as exc:
        raise BrandConfigError(str(exc)) from None
    config = parse_brand_config(data, path.resolve().parent, str(path), confined)
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


def asset_problem(path: Path, formats: tuple[str, ...] = ()) -> str | None:
    """Why an image file cannot be a brand asset (missing, too big, not an image, not one of `formats`
    such as ("PNG",)), or None if it can."""
    from PIL import Image, UnidentifiedImageError

    from portal.media.images import MAX_IMAGE_BYTES, TOO_LARGE, image_problem

    if not path.is_file():
        return "file not found"
    if path.stat().st_size > MAX_IMAGE_BYTES:
        return f"larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB"
    try:
        with Image.open(path) as image:
            if problem := image_problem(image.size, "logo"):
                return problem
            if formats and image.format not in formats:
                return f"a {image.format} image, not {' or '.join(formats)}"
            image.load()
    except Image.DecompressionBombError:
        return TOO_LARGE
    except (UnidentifiedImageError, OSError) as exc:
        return f"not a readable image ({exc})"
    return None


def check_brand_assets(config: BrandConfig) -> list[AssetProblem]:
    """Every logo and watermark image exists, decodes, and is a sensible size."""
    return [
        AssetProblem(brand.id, path, problem)
        for brand in config.brands.values()
        for path in brand.asset_paths()
        if (problem := asset_problem(path)) is not None
    ]


def config_to_json(config: BrandConfig, base_dir: Path) -> dict:
    """The config as brand_config.json holds it: asset paths relative to the file's folder where possible."""

    def relative(path: str) -> str:
        try:
            return str(Path(path).resolve().relative_to(base_dir.resolve()))
        except ValueError:
            return path

    brands = {}
    for brand in config.brands.values():
        skip = {"id", "layers"} | (set() if brand.glossary else {"glossary"})
        data = brand.model_dump(mode="json", exclude=skip, exclude_none=True)
        if not brand.hashtags:  # a version-1 brand stays exactly version 1
            data.pop("hashtags")
        if brand.layers:  # a version-1 brand stays exactly version 1
            data["layers"] = [layer.to_json() for layer in brand.layers]
        brands[brand.id] = map_asset_paths(data, relative)
    return {"version": config.version, "brands": brands}


def update_brand_config(path: Path, change: Callable[[BrandConfig], BrandConfig]) -> BrandConfig:
    """Read the config, `change` it and save it, holding a lock beside it (`<config>.lock`) throughout.

    Every read-modify-write of the file goes through here, so two saves at once (two brands edited in two
    tabs, or two gunicorn workers) cannot lose one; flock is per open file, so it also orders threads.
    """
    import fcntl

    path = Path(path)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed, whatever `change` raises
        config = change(load_brand_config(path))
        save_brand_config(config, path)
        return config


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
