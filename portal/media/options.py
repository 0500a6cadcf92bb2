"""The engine's vocabulary and defaults, each in one place: presets, fits, positions, caps, EngineOptions.

Everything else (the settings, the CLI's choices, the API's validation, the dashboard's selects) imports
these; nothing here reads the environment: `portal.config` turns settings into `EngineOptions`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, get_args

FixedPosition = Literal[
    "top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right"
]
FIXED_POSITIONS: tuple[str, ...] = get_args(FixedPosition)
# "auto": the engine picks the fixed position that covers the least of the clip (DESIGN 4.2)
Position = Literal[FixedPosition, "auto"]
POSITIONS: tuple[str, ...] = get_args(Position)

X264Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
]

# Fixed output canvases (DESIGN 4.3); `source` keeps the source's shape.
PRESET_CANVAS: dict[str, tuple[int, int]] = {
    "vertical": (1080, 1920),
    "portrait": (1080, 1350),  # 4:5, the Instagram and Facebook feed
    "square": (1080, 1080),
    "landscape": (1920, 1080),
}
PRESETS: tuple[str, ...] = ("source", *PRESET_CANVAS)

# How a source of another shape fills a fixed canvas: fitted inside over a blurred, darkened copy of itself,
# cropped to fill (at the centre, or where the user's anchor puts the window), or cropped by a window that
# follows the subject (DESIGN 4.3, 4.11).
Fit = Literal["blur", "crop", "follow"]
FITS: tuple[str, ...] = get_args(Fit)
DEFAULT_FIT: Fit = "blur"
# What `follow` does where it finds no subject at all: a still window (at the anchor, else the centre), or
# the blurred fill.
FollowFallback = Literal["crop", "blur"]
FOLLOW_FALLBACKS: tuple[str, ...] = get_args(FollowFallback)
MAX_ZOOM = 4.0  # a window a quarter of the cover crop's size: tighter is mostly upscaling blur


@dataclass(frozen=True)
class Trim:
    """The part of the source every output keeps (DESIGN 4.11): seconds from the source's start.

    `end` None keeps to the end; `end_card` also cuts a trailing card (a still tail after a hard cut).
    """

    start: float = 0.0
    end: float | None = None
    end_card: bool = False

    def __post_init__(self) -> None:
        if not (self.start >= 0 and math.isfinite(self.start)):
            raise ValueError(f"trim start {self.start:g} must be 0 or more seconds")
        if self.end is not None and not (math.isfinite(self.end) and self.end > self.start):
            raise ValueError(f"trim end {self.end:g} must come after its start ({self.start:g} s)")

    @property
    def cuts(self) -> bool:
        return self.start > 0 or self.end is not None or self.end_card


@dataclass(frozen=True)
class Reframe:
    """How a source of another shape becomes a format's canvas (DESIGN 4.11).

    `anchor` (x, y in 0..1 of the picture) is where a crop window is centred (clamped so it stays on the
    picture): the user's window for `crop`, the resting place for `follow` when no subject is found.
    `zoom` >= 1 makes the window that much smaller than the largest crop of the canvas's shape.
    """

    fit: Fit = DEFAULT_FIT
    anchor: tuple[float, float] | None = None
    zoom: float = 1.0
    fallback: FollowFallback = "crop"

    def __post_init__(self) -> None:
        if self.fit == "blur" and (self.anchor is not None or self.zoom != 1.0):
            raise ValueError("anchor and zoom place a crop window: use them with fit crop or follow")
        if self.anchor is not None and not all(0.0 <= value <= 1.0 for value in self.anchor):
            raise ValueError(f"anchor {self.anchor} must be two numbers from 0 to 1")
        if not 1.0 <= self.zoom <= MAX_ZOOM:
            raise ValueError(f"zoom {self.zoom:g} must be from 1 to {MAX_ZOOM:g}")

    def for_fit(self, fit: Fit) -> Reframe:
        """This framing for one format of `fit` (DESIGN 4.10: each format has its own): a blurred fill
        takes no window, so the anchor and zoom only frame the formats that crop."""
        return Reframe() if fit == "blur" else replace(self, fit=fit)


def parse_trim_range(text: str) -> tuple[float, float | None]:
    """`2.5:14` as (2.5, 14.0); an empty side is the clip's start or end (`2.5:`, `:14`)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)?\s*:\s*(\d+(?:\.\d+)?)?\s*", text)
    if not match or not (match[1] or match[2]):
        raise ValueError(f"{text!r}: expected START:END in seconds, e.g. 2.5:14 (or 2.5: or :14)")
    return float(match[1] or 0), float(match[2]) if match[2] else None


def parse_anchor(text: str) -> tuple[float, float]:
    """`0.3,0.5` as (0.3, 0.5): the crop window's centre as fractions of the picture."""
    match = re.fullmatch(r"\s*(\d*\.?\d+)\s*,\s*(\d*\.?\d+)\s*", text)
    point = (float(match[1]), float(match[2])) if match else (-1.0, -1.0)
    if not all(0 <= side <= 1 for side in point):
        raise ValueError(f"{text!r}: expected X,Y as fractions from 0 to 1, e.g. 0.3,0.5")
    return point


NO_TRIM = Trim()
DEFAULT_REFRAME = Reframe()


@dataclass(frozen=True)
class OutputFormat:
    """One format of a job's outputs (DESIGN 4.10): a preset, and how a source of another shape fills it."""

    preset: str
    fit: Fit = DEFAULT_FIT


def formats_from_choices(presets: Sequence[str], fits: Sequence[str] = ()) -> list[OutputFormat]:
    """Formats from presets and fit choices as the CLI and a multipart form give them: each fit is `FIT`
    (every preset) or `PRESET=FIT` (that one); the later wins. ValueError names a bad choice."""
    default: Fit = DEFAULT_FIT
    per_preset: dict[str, Fit] = {}
    for choice in fits:
        preset, _, fit = choice.rpartition("=")
        if fit not in FITS:
            raise ValueError(f"fit {choice!r}: the fit must be one of {', '.join(FITS)}")
        if preset and preset not in presets:
            raise ValueError(f"fit {choice!r}: {preset!r} is not one of the presets asked for")
        if preset:
            per_preset[preset] = fit  # type: ignore[assignment]
        else:
            default = fit  # type: ignore[assignment]
    return [OutputFormat(preset, per_preset.get(preset, default)) for preset in presets]


MAX_LONG_SIDE = 1920  # the `source` preset's cap
MAX_FPS = 60.0  # outputs keep the source's rate up to this


@dataclass(frozen=True)
class SourceLimits:
    """What reading one source may cost and what it may declare; the defaults are the settings' too."""

    max_duration_s: int = 600  # WTF_MAX_DURATION_S: longer sources are refused (links and uploads alike)
    memory_mb: int = 512  # WTF_PROBE_MEMORY_MB: the probe child's address space
    timeout_s: int = 60  # WTF_PROBE_TIMEOUT_S: the probe child's CPU seconds


SOURCE_LIMITS = SourceLimits()


@dataclass(frozen=True)
class EngineOptions:
    """How the engine renders; the defaults here are the settings' defaults too."""

    ffmpeg_path: str | None = None
    x264_preset: X264Preset = "veryfast"
    crf: int = 21
    memory_mb: int = 1536  # estimated peak of one FFmpeg process (+ service_mb) must stay under this
    # what the service's own processes were measured to use of the same memory (0: not counted, e.g. the
    # CLI); measured by the caller, since only it knows its process layout
    service_mb: float = 0.0
    max_short_side: int | None = None  # every output scaled so its short side fits (720: v3's outputs)
    timeout_s: int = 1800  # seconds
    loudness_lufs: float | None = -14.0  # integrated loudness target (EBU R128); None keeps the source's
    source_limits: SourceLimits = SOURCE_LIMITS  # what reading a source may cost and declare


# Loudness targets a setting or a brand may ask for: broadcast (-23) to the loudest streaming norms.
LOUDNESS_LUFS_RANGE = (-40.0, -5.0)


ENGINE_DEFAULTS = EngineOptions()
