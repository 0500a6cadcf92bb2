"""The limits of every image the service decodes (logos, watermarks, drawn text, uploaded brand art), in one
place: the engine, the brand model and the brandkit import them from here.

An image's header says how big it decodes; a few KB of PNG can declare a picture of gigabytes, and a
1-pixel-wide picture scaled to a full frame becomes one. So a header is checked before a pixel is decoded
(`open_image`), each kind of layer has an aspect limit, and nothing is scaled beyond the output it goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from PIL import Image

from portal.errors import PortalError

# A logo bigger than this is a mistake (a camera photo, a print file), not a watermark: 64 MB as RGBA.
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_IMAGE_BYTES = 10 * 1024 * 1024

TOO_LARGE = f"is too large (the limit is {MAX_IMAGE_PIXELS} pixels, 4096x4096)"

LayerKind = Literal["logo", "cover", "text"]
# Longest side over shortest side, for each kind of layer: a logo may be a wide word mark, a full-frame
# (cover) image is cropped to the output's shape (9:16 to 16:9) so a thinner one is mostly thrown away,
# and a text line is one line of a handle or a short caption.
MAX_ASPECT: dict[LayerKind, float] = {"logo": 20.0, "cover": 8.0, "text": 60.0}


class ImageLimitError(PortalError):
    """An image over a limit: too many bytes or pixels, or too thin for its kind of layer."""

    code = "image_over_limit"
    status = 422


def image_problem(size: tuple[int, int], kind: LayerKind | None = None) -> str | None:
    """Why a picture of `size` cannot be a layer of `kind` (too many pixels, too thin), or None; with no
    kind, the pixels alone are checked."""
    width, height = size
    if width < 1 or height < 1 or width * height > MAX_IMAGE_PIXELS:
        return f"{width}x{height} {TOO_LARGE}"
    if kind is not None and max(width, height) / min(width, height) > MAX_ASPECT[kind]:
        return f"{width}x{height} is too thin for a {kind} (at most {MAX_ASPECT[kind]:g}:1)"
    return None


def check_image_size(size: tuple[int, int], kind: LayerKind | None, what: str) -> None:
    """Refuse a picture of `size` for a layer of `kind` (`what` names it) before it is made."""
    problem = image_problem(size, kind)
    if problem:
        raise ImageLimitError(f"{what}: {problem}")


def open_image(path: Path, kind: LayerKind | None = None) -> Image.Image:
    """The image opened lazily (header read, nothing decoded) once its bytes, pixels and (for a `kind` of
    layer) aspect are within the limits; ImageLimitError names the file otherwise, OSError if it is not an
    image."""
    if path.stat().st_size > MAX_IMAGE_BYTES:
        raise ImageLimitError(f"{path}: larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    try:
        image = Image.open(path)
    except Image.DecompressionBombError:  # Pillow's own guard, for claims far beyond ours
        raise ImageLimitError(f"{path}: {TOO_LARGE}") from None
    try:
        check_image_size(image.size, kind, str(path))
    except ImageLimitError:
        image.close()
        raise
    return image
