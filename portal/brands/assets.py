"""Logo and watermark images as they come in: checked, cleaned, and kept as the PNG the engine draws.

A team's logo arrives as whatever they have: a JPEG on black, a PNG with empty borders, a camera-sized
WebP. `clean_image` turns it into what a brand layer wants, without a setting to find first:

1. refused in one line if it is not a PNG, JPEG or WebP (an SVG is refused: drawing one can make the
   server fetch the files and fonts it names), if its header declares more pixels than an asset may have
   (checked before a pixel is decoded: a few KB of PNG can declare gigabytes), or if it does not decode
   whole (a truncated file);
2. turned upright (a phone's EXIF rotation) and made RGBA;
3. its flat background removed: when the four corners share one opaque colour, the pixels of that colour
   (within BACKGROUND_TOLERANCE) *connected to the image's edges* become transparent, with a soft edge;
   a logo whose own colour also appears inside it (a black ring, black letters) keeps it, and a picture
   that would be all background (a plain badge) is left whole;
4. trimmed to what is visible, masked to a shape if asked (circle, rounded square), and scaled down so
   its long side is at most the longest output side.

With `clean=False` the pixels are kept as sent (still checked, and stored as PNG). Pure: bytes in, bytes out.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from portal.errors import PortalError
from portal.media.images import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS
from portal.media.options import MAX_LONG_SIDE

AssetShape = Literal["original", "circle", "rounded"]
ASSET_SHAPES: tuple[str, ...] = get_args(AssetShape)
ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP")
# Colour distance as a fraction of the RGB cube's diagonal (as a layer's key_tolerance): JPEG noise on a
# black background stays well under it, a dark grey logo on black does not.
BACKGROUND_TOLERANCE = 0.12
EDGE_SOFTNESS = 0.08  # beyond the tolerance, opacity ramps up over this distance (no hard fringe)
# Removing a background must leave at least this share of the picture, or there was no background to remove.
MIN_LOGO_SHARE = 0.01
VISIBLE_ALPHA = 8  # a pixel at or under this opacity counts as empty when trimming
ROUNDED_RADIUS = 0.2  # of the short side
MASK_OVERSAMPLE = 4  # shape masks are drawn this much larger and scaled down: smooth edges


class AssetRefusedError(PortalError):
    """The file cannot be a brand image; the message says why in one line."""

    code = "invalid_image"
    status = 422


class AssetTooLargeError(AssetRefusedError):
    code = "image_too_large"
    status = 413


@dataclass(frozen=True)
class CleanedImage:
    """The PNG to store, its size, and what was done to the image as sent (in words, for the editor)."""

    png: bytes
    width: int
    height: int
    original: dict  # {"format", "width", "height", "bytes"} as sent
    changes: tuple[str, ...] = field(default=())
    background: str | None = None  # "#RRGGBB" removed, if any

    def describe(self) -> dict:
        return {
            "width": self.width,
            "height": self.height,
            "size": len(self.png),
            "original": self.original,
            "changes": list(self.changes),
            "background": self.background,
        }


def clean_image(
    data: bytes, filename: str, *, clean: bool = True, shape: AssetShape = "original"
) -> CleanedImage:
    """The upload as a brand image (see the module docstring); AssetRefusedError says why not."""
    picture, original = _decode(data, filename)
    changes: list[str] = []
    background = None
    if clean:
        picture, background = _remove_background(picture)
        if background:
            changes.append(f"background {background} removed")
        trimmed = _trim(picture)
        if trimmed.size != picture.size:
            changes.append(
                f"empty edges trimmed ({picture.width}x{picture.height} to {trimmed.width}x{trimmed.height})"
            )
        picture = trimmed
        if shape != "original":
            picture = _mask(picture, shape)
            changes.append(f"{shape} shape")
        if max(picture.size) > MAX_LONG_SIDE:
            before = picture.size
            picture.thumbnail((MAX_LONG_SIDE, MAX_LONG_SIDE), Image.Resampling.LANCZOS)
            changes.append(f"scaled down from {before[0]}x{before[1]} to {picture.width}x{picture.height}")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return CleanedImage(
        buffer.getvalue(), picture.width, picture.height, original, tuple(changes), background
    )


def _decode(data: bytes, filename: str) -> tuple[Image.Image, dict]:
    """The image decoded whole, upright, RGBA; refused before decoding if its header is too big."""
    if len(data) > MAX_IMAGE_BYTES:
        raise AssetTooLargeError(f"{filename}: larger than {MAX_IMAGE_BYTES // 1_048_576} MB")
    if not data:
        raise AssetRefusedError(f"{filename}: the file is empty")
    if _looks_like_svg(data):
        raise AssetRefusedError(
            f"{filename}: SVG drawings are not accepted (drawing one can fetch the files it links to); "
            "export the logo as PNG, JPEG or WebP"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # Pillow's guard, as an error
        try:
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise AssetTooLargeError(
                    f"{filename}: {width}x{height} is too large for a logo or watermark "
                    f"(at most {MAX_IMAGE_PIXELS:,} pixels, e.g. 4096x4096)"
                )
            image.load()
            original = {"format": image.format, "width": width, "height": height, "bytes": len(data)}
            picture = ImageOps.exif_transpose(image).convert("RGBA")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise AssetTooLargeError(f"{filename}: too large to decode safely ({exc})") from None
        except UnidentifiedImageError:
            raise AssetRefusedError(f"{filename}: not a PNG, JPEG or WebP image") from None
        except (OSError, SyntaxError, ValueError) as exc:  # Pillow's words for a file that stops or lies
            raise AssetRefusedError(f"{filename}: a broken image that does not decode ({exc})") from None
    return picture, original


def _looks_like_svg(data: bytes) -> bool:
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return head.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head


def _distance(rgb: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Distance of each pixel from `colour`, 0..1 over the RGB cube's diagonal."""
    return np.sqrt(((rgb - colour) ** 2).sum(axis=-1) / (3 * 255.0**2))


def _remove_background(picture: Image.Image) -> tuple[Image.Image, str | None]:
    """The flat background connected to the edges made transparent (see the module docstring)."""
    import cv2  # imported here: only an upload pays for loading OpenCV

    rgba = np.asarray(picture, dtype=np.float32)
    height, width = rgba.shape[:2]
    corners = rgba[[0, 0, height - 1, height - 1], [0, width - 1, 0, width - 1]]
    if (corners[:, 3] < 255).any():
        return picture, None  # already transparent where it matters
    colour = np.median(corners[:, :3], axis=0)
    if _distance(corners[:, :3], colour).max() > BACKGROUND_TOLERANCE:
        return picture, None  # the corners differ: no flat background to take away
    distance = _distance(rgba[..., :3], colour)
    near = (distance <= BACKGROUND_TOLERANCE + EDGE_SOFTNESS).astype(np.uint8)
    # the regions of near-background colour that touch an edge are the background; any other is the logo's
    count, labels = cv2.connectedComponents(near, connectivity=4)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    background = np.isin(labels, edge_labels[edge_labels > 0]) if count > 1 else np.zeros_like(near, bool)
    if background.mean() > 1 - MIN_LOGO_SHARE:
        return picture, None  # all of it is "background": the image is the logo (a plain badge, a flag)
    keep = np.clip((distance - BACKGROUND_TOLERANCE) / EDGE_SOFTNESS, 0.0, 1.0)
    alpha = np.where(background, rgba[..., 3] * keep, rgba[..., 3])
    rgba[..., 3] = alpha
    hex_colour = "#{:02X}{:02X}{:02X}".format(*(round(float(c)) for c in colour))
    return Image.fromarray(rgba.round().astype(np.uint8), "RGBA"), hex_colour


def _trim(picture: Image.Image) -> Image.Image:
    """The picture cut to the box of its visible pixels (unchanged if none is visible)."""
    visible = picture.getchannel("A").point(lambda value: 255 if value > VISIBLE_ALPHA else 0)
    box = visible.getbbox()
    return picture.crop(box) if box else picture


def _mask(picture: Image.Image, shape: AssetShape) -> Image.Image:
    """The picture centred on a transparent square and cut to a circle or a rounded square."""
    side = max(picture.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.alpha_composite(picture, ((side - picture.width) // 2, (side - picture.height) // 2))
    big = side * MASK_OVERSAMPLE
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    if shape == "circle":
        draw.ellipse((0, 0, big - 1, big - 1), fill=255)
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=round(big * ROUNDED_RADIUS), fill=255)
    mask = mask.resize((side, side), Image.Resampling.LANCZOS)
    alpha = np.minimum(np.asarray(square.getchannel("A")), np.asarray(mask))
    square.putalpha(Image.fromarray(alpha))
    return square
