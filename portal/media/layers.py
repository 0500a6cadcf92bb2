"""What a brand draws, before placement: layers, each an art (image or text) and where it wants to go.

Pure data, no I/O. The facade measures each layer's art (`overlays.measure_art`) and hands the sizes to the
plan, which places the layers on the canvas; `overlays.render_art` then draws each art once per render at
its exact pixel size (scaled, keyed, boxed and faded in Pillow), so FFmpeg only overlays still pictures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from portal.brand_loader import Brand, LogoSpec, Placement, Shape, TextLayer
from portal.media.errors import EngineError
from portal.media.options import FixedPosition


@dataclass(frozen=True)
class OverlayArt:
    """What one overlay shows: an image file or a line of text, with its opacity."""

    image: Path | None = None
    text: str | None = None
    color: str = "#FFFFFF"
    opacity: float = 1.0
    key_color: str | None = None  # image: pixels near this colour become transparent
    key_tolerance: float = 0.1
    box: tuple[str, float] | None = None  # text: (colour, opacity) of a rectangle behind it
    cover: float | None = None  # image: scaled to cover its (full-frame) box times this, centred, cropped


# A text box reaches this far beyond the text on each side, as a fraction of the text's height
# (v3's drawtext box: a 10 px border around 48 px text).
TEXT_BOX_PADDING = 0.2


# Natural (width, height) in pixels of each art, measured by the facade before planning.
ArtSizes = Mapping[OverlayArt, tuple[int, int]]


@dataclass(frozen=True)
class Layer:
    """One positioned overlay: its art, its anchor and margin, and its size as ONE of two fractions."""

    art: OverlayArt
    position: Placement  # an anchor, "auto", or a free spot (the layer's centre)
    margin: float  # fraction of the output width, kept clear inside the safe zone
    width: float | None = None  # fraction of the output width (logos)
    height: float | None = None  # fraction of the output height (text handles)
    full_frame: bool = False  # covers the canvas; decoration, exempt from the safe zone
    fallback: FixedPosition | None = None  # position "auto": where to go when nothing in the clip matters
    # an explicit centre (x, y as fractions of the output frame), from a review's override: replaces
    # `position` and `margin`; the layer stays whole on the canvas
    centre: tuple[float, float] | None = None


class OverrideError(EngineError):
    """An override that does not fit the layer it names (its message names the field)."""

    code = "invalid_override"
    status = 422


@dataclass(frozen=True)
class LayerOverride:
    """One output's change to one of its brand's drawn layers (DESIGN 4.12): `index` counts the brand's
    drawn layers in order; every other field, when given, replaces the layer's own."""

    index: int
    x: float | None = None  # the centre, as fractions of the output frame (both or neither)
    y: float | None = None
    width: float | None = None  # fraction of the output width
    opacity: float | None = None
    text: str | None = None  # text layers only


def apply_overrides(layers: tuple[Layer, ...], overrides: Sequence[LayerOverride]) -> tuple[Layer, ...]:
    """The layers with each override applied (OverrideError naming `layers[i].<field>` if one cannot be)."""
    result = list(layers)
    for position, override in enumerate(overrides):
        where = f"layers[{position}]"
        if not 0 <= override.index < len(layers):
            raise OverrideError(f"{where}.index: the brand draws {len(layers)} layers (0..{len(layers) - 1})")
        layer = result[override.index]
        if (override.x is None) != (override.y is None):
            raise OverrideError(f"{where}: give both x and y (the layer's centre) or neither")
        moved = override.x is not None or override.width is not None
        if layer.full_frame and moved:
            raise OverrideError(
                f"{where}.index: layer {override.index} covers the whole frame; it cannot move"
            )
        if override.text is not None and layer.art.text is None:
            raise OverrideError(f"{where}.text: layer {override.index} is an image, not text")
        art = replace(
            layer.art,
            opacity=layer.art.opacity if override.opacity is None else override.opacity,
            text=layer.art.text if override.text is None else override.text,
        )
        layer = replace(layer, art=art)
        if override.width is not None:
            layer = replace(layer, width=override.width, height=None)
        if override.x is not None and override.y is not None:
            layer = replace(layer, centre=(override.x, override.y))
        result[override.index] = layer
    return tuple(result)


def brand_layers(brand: Brand, shape: Shape) -> tuple[Layer, ...]:
    """The layers the brand draws on an output of this shape, bottom first: each layer's image and
    placement for the shape (or the nearest shape's)."""
    layers = []
    for spec in brand.drawn_layers():
        if isinstance(spec, TextLayer):
            position, _width, size, margin = spec.placement(shape)
            box = (spec.box.color, spec.box.opacity) if spec.box is not None else None
            art = OverlayArt(text=spec.text, color=spec.color, opacity=spec.opacity, box=box)
            # `size` is the text's own height; a box adds its padding above and below
            height = size * (1 + 2 * TEXT_BOX_PADDING) if box else size
            layers.append(Layer(art, position, margin, height=height, fallback=spec.fallback))
        elif spec.fit == "cover":
            art = OverlayArt(image=spec.image_for(shape), opacity=spec.opacity, cover=spec.scale)
            layers.append(Layer(art, "center", 0.0, full_frame=True))
        else:
            position, width, size, margin = spec.placement(shape)
            art = OverlayArt(
                image=spec.image_for(shape),
                opacity=spec.opacity,
                key_color=spec.key_color,
                key_tolerance=spec.key_tolerance,
            )
            if size is not None:
                layers.append(Layer(art, position, margin, height=size, fallback=spec.fallback))
            else:
                width = width or LogoSpec.model_fields["width"].default
                layers.append(Layer(art, position, margin, width=width, fallback=spec.fallback))
    return tuple(layers)
