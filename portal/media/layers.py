"""What a brand draws, before placement: layers, each an art (image or text) and where it wants to go.

Pure data, no I/O. The facade measures each layer's art (`overlays.measure_art`) and hands the sizes to the
plan, which places the layers on the canvas; `overlays.render_art` then draws each art once per render at
its exact pixel size (scaled, keyed, boxed and faded in Pillow), so FFmpeg only overlays still pictures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from portal.brand_loader import Brand, LogoSpec, Placement, Shape, TextLayer
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
