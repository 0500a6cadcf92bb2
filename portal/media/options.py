"""The engine's vocabulary and defaults, each in one place: presets, fits, positions, caps, EngineOptions.

Everything else (the settings, the CLI's choices, the API's validation, the dashboard's selects) imports
these; nothing here reads the environment: `portal.config` turns settings into `EngineOptions`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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
# or centre-cropped to fill (DESIGN 4.3).
Fit = Literal["blur", "crop"]
FITS: tuple[str, ...] = get_args(Fit)
DEFAULT_FIT: Fit = "blur"


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
