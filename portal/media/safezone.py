"""Platform safe zones and how they fall on an output of any shape (DESIGN 4.2). Pure: no I/O.

A named zone describes the platform's 9:16 phone screen: the strips its buttons, captions and header cover.
The platform shows an output of another shape fitted inside that screen (letterboxed or pillarboxed), so
the zone that matters is the screen's zone projected onto the picture as shown. Explicit fractions are the
brand asking for exactly those margins, so they apply to the output canvas as given.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SafeZoneName = Literal["none", "tiktok", "reels", "shorts", "all"]

# The phone screen the named zones describe (the platforms' own reference size).
SCREEN_WIDTH, SCREEN_HEIGHT = 1080, 1920


class SafeZone(BaseModel):
    """Fractions of the output canvas that platform UI covers; overlays stay inside the rest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    top: float = Field(default=0.0, ge=0, lt=0.5)
    bottom: float = Field(default=0.0, ge=0, lt=0.5)
    left: float = Field(default=0.0, ge=0, lt=0.5)
    right: float = Field(default=0.0, ge=0, lt=0.5)


def _union(*zones: SafeZone) -> SafeZone:
    """The zone that avoids every given zone's UI: the largest margin on each side."""
    return SafeZone(**{side: max(getattr(zone, side) for zone in zones) for side in SafeZone.model_fields})


_TIKTOK = SafeZone(top=0.08, bottom=0.23, left=0.06, right=0.14)
_REELS = SafeZone(top=0.14, bottom=0.35, left=0.06, right=0.06)
# Google's vertical video safe zone, published in pixels of the 1080x1920 screen.
_SHORTS = SafeZone(
    top=288 / SCREEN_HEIGHT, bottom=672 / SCREEN_HEIGHT, left=48 / SCREEN_WIDTH, right=192 / SCREEN_WIDTH
)

# Fractions of the 9:16 screen; where each number comes from and when it was checked: docs/ENGINE.md.
SAFE_ZONE_PRESETS: dict[str, SafeZone] = {
    "none": SafeZone(),
    "tiktok": _TIKTOK,
    "reels": _REELS,
    "shorts": _SHORTS,
    "all": _union(_TIKTOK, _REELS, _SHORTS),
}


def shown_picture(width: int, height: int) -> tuple[float, float, float, float]:
    """(x, y, w, h) of a width x height picture fitted inside the screen, in screen pixels."""
    scale = min(SCREEN_WIDTH / width, SCREEN_HEIGHT / height)
    shown_w, shown_h = width * scale, height * scale
    return (SCREEN_WIDTH - shown_w) / 2, (SCREEN_HEIGHT - shown_h) / 2, shown_w, shown_h


def project_zone(zone: SafeZoneName | SafeZone, width: int, height: int) -> SafeZone:
    """The zone as fractions of a width x height output, as the platform shows that output.

    Each UI strip of the screen covers the picture only where it reaches past the letterbox or
    pillarbox bars; what it covers there, as a fraction of the picture, is the output's margin.
    """
    if isinstance(zone, SafeZone):
        return zone
    screen = SAFE_ZONE_PRESETS[zone]
    x, y, w, h = shown_picture(width, height)
    return SafeZone(
        top=max(0.0, screen.top * SCREEN_HEIGHT - y) / h,
        bottom=max(0.0, screen.bottom * SCREEN_HEIGHT - y) / h,
        left=max(0.0, screen.left * SCREEN_WIDTH - x) / w,
        right=max(0.0, screen.right * SCREEN_WIDTH - x) / w,
    )
