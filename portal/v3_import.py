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

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from portal.brand_loader import Brand, HexColour, ImageLayer, Shape, ShapeImages, TextBox, TextLayer

V3_OUTPUT_WIDTH = 720  # v3 scaled every video to 720 px wide before branding; its px settings mean that
V3_OUTPUT_HEIGHT = 1280  # the 9:16 height at that width: v3's text_size is read as a fraction of it
V3_KEY_COLOR = "#000000"  # v3's logos are opaque circles on black: colorkey=black:0.1:0.1
V3_KEY_TOLERANCE = 0.1
V3_LOGO_POSITION = "bottom-right"


# v3 stored pixels as integers (and its API int()-ed them); a fraction read back is rounded, not refused
Pixels = Annotated[int, BeforeValidator(lambda value: round(value) if isinstance(value, float) else value)]


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
    return round(fraction * V3_OUTPUT_WIDTH)


def _roles(layers: tuple) -> dict[str, int]:
    """Which layer plays v3's watermark, logo and text: the first cover image, the first placed image,
    the first text layer (indexes into `layers`)."""
    roles: dict[str, int] = {}
    for index, layer in enumerate(layers):
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
        size=settings.text_size / V3_OUTPUT_HEIGHT,
        color=settings.text_color,
        margin=settings.text_margin / V3_OUTPUT_WIDTH,
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
            "logo_padding": ("margin", settings.logo_padding / V3_OUTPUT_WIDTH),
        }),
        "text": _picked(asked, {
            "text_enabled": ("enabled", settings.text_enabled),
            "text_content": ("text", settings.text_content),
            "text_position": ("position", settings.text_position),
            "text_size": ("size", settings.text_size / V3_OUTPUT_HEIGHT),
            "text_color": ("color", settings.text_color),
            "text_margin": ("margin", settings.text_margin / V3_OUTPUT_WIDTH),
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
                margin=settings.logo_padding / V3_OUTPUT_WIDTH,
            )
        )
    if settings.text_content:
        layers.append(_text_layer(settings))
    return tuple(layers)
