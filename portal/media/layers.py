"""What a brand draws, before placement: layers, each an art (image or text) and where it wants to go.

Pure data, no I/O. The facade measures each layer's art (`overlays.measure_art`) and hands the sizes to the
plan, which places the layers on the canvas. A new kind of layer or art (full-frame cover, key colour,
text box, auto placement) extends `Layer`/`OverlayArt` and `brand_layers`; the facade stays as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from portal.brand_loader import Brand, LogoSpec, Shape, TextLayer
from portal.media.options import Position


@dataclass(frozen=True)
class OverlayArt:
    """What one overlay shows: an image file or a line of text, with its opacity."""

    image: Path | None = None
    text: str | None = None
    color: str = "#FFFFFF"
    opacity: float = 1.0


# Natural (width, height) in pixels of each art, measured by the facade before planning.
ArtSizes = Mapping[OverlayArt, tuple[int, int]]


@dataclass(frozen=True)
class Layer:
    """One positioned overlay: its art, its anchor and margin, and its size as ONE of two fractions."""

    art: OverlayArt
    position: Position
    margin: float  # fraction of the output width, kept clear inside the safe zone
    width: float | None = None  # fraction of the output width (logos)
    height: float | None = None  # fraction of the output height (text handles)


def brand_layers(brand: Brand, shape: Shape) -> tuple[Layer, ...]:
    """The positioned layers the brand draws on an output of this shape, bottom first.

    Full-frame (`fit: cover`) layers, key colours and text boxes are not drawn yet: the brand-layers
    change adds them here and in `overlays.render_art`.
    """
    layers = []
    for spec in brand.drawn_layers():
        if isinstance(spec, TextLayer):
            art = OverlayArt(text=spec.text, color=spec.color, opacity=spec.opacity)
            layers.append(Layer(art, spec.position, spec.margin, height=spec.size))
        elif spec.fit is None:
            art = OverlayArt(image=spec.image_for(shape), opacity=spec.opacity)
            if spec.size is not None:
                layers.append(Layer(art, spec.position, spec.margin, height=spec.size))
            else:
                width = spec.width or LogoSpec.model_fields["width"].default
                layers.append(Layer(art, spec.position, spec.margin, width=width))
    return tuple(layers)
