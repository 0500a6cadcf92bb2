"""The render plan: a pure function from (source facts, formats, brands) to FFmpeg work.

Nothing here runs FFmpeg or writes files, so every decision (canvas size, filters, where each logo goes,
how encoders are batched) is testable on its own. One batch is one FFmpeg process: it decodes the source
once, normalizes its timing once, splits to each format's fit chain (`fit_chain`: size, colour, fill or
crop), and splits each of those to every brand's overlays and encoder in the batch (DESIGN 4.10).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from portal.brand_loader import SHAPES, Brand, Placement, SafeZone, Spot, output_shape
from portal.media.captions import ass_document, caption_layout, sample_transcript
from portal.media.errors import EngineError
from portal.media.layers import ArtSizes, Layer, LayerOverride, OverlayArt, apply_overrides, brand_layers
from portal.media.loudness import GainPlan, Loudness, plan_gain
from portal.media.options import (
    DEFAULT_FIT,
    DEFAULT_REFRAME,
    ENGINE_DEFAULTS,
    FIXED_POSITIONS,
    MAX_FPS,
    MAX_LONG_SIDE,
    PRESET_CANVAS,
    PRESETS,
    EngineOptions,
    Fit,
    OutputFormat,
    Reframe,
)
from portal.media.placement import AutoPlacement, Rect, SceneMaps, anchor, choose_position
from portal.media.probe import MediaInfo
from portal.media.reframe import FollowPath, crop_step, window_origin
from portal.media.transcript import Cue

ASPECT_TOLERANCE = 0.01  # closer than this, a source is scaled to the canvas rather than fitted and filled
FILL_DOWNSCALE = 8  # the blurred fill is made at 1/8 size: the blur hides the detail anyway
FILL_BLUR_RADIUS = 6  # of the 1/8-size fill
FILL_DARKEN = 0.55  # luma factor of the fill, so the real picture stands out
AUDIO_BITRATE = "160k"
FILL_STEP_PREFIX = "split=2[fg"  # the fill's own graph starts so (its labels carry the format's index)

# Peak memory model, measured on this project's reference machine (2 cores, FFmpeg 9.0 from the
# imageio-ffmpeg wheel, x264 veryfast; `make bench BENCH_ARGS=memory`; see docs/PERFORMANCE.md):
# decode-only peaks at 46/63/136 MB for 0.9/2.1/8.3 MP sources, and each libx264 encoder adds about
# 105 MB at 720x1280 and 225 MB at 1080x1920, i.e. ~110 MB per output megapixel. Whole engine runs
# (vertical, 1 / 3 brands) peaked at 314/804 MB from a 1080x1920 H.264 source, 400/870 MB from 4K H.264
# with the blurred fill, and 600/1065 MB from 4K 10-bit PQ HEVC (estimates 353/870, 428/945, 652/1169).
BASE_MB = 70.0  # overlay inputs, audio, filter buffers: measured engine runs peak ~25 MB above bare encodes
DECODE_MB_PER_MP = 12.0
ENCODER_MB_PER_MP = 115.0
ENCODER_FIXED_MB = 20.0
HDR_MB_PER_MP = 60.0  # float planes of the tone-mapping chain at output size
# A full-frame (cover) layer is a canvas-sized RGBA picture held by its overlay for the whole run: measured
# 2.9 and 8.6 MB per output megapixel per layer (3 brands at 1080x1920; docs/PERFORMANCE.md), the larger
# rounded up.
FULL_FRAME_MB_PER_MP = 9.0
# x264's default threads are 1.5 x the cores it sees (all of the host's, whatever the CPU quota); each frame
# thread holds frames. ENCODER_MB_PER_MP was measured at 3 threads (2 cores); every further thread adds
# ~22 MB at 1080x1920 (measured at 4, 8 and 16 threads; `make bench BENCH_ARGS=memory`).
REFERENCE_CPUS = 2
THREAD_MB_PER_MP = 11.0


@dataclass(frozen=True)
class EncoderTuning:
    """libx264 settings for a memory budget, and what one encoder then holds per output megapixel."""

    label: str
    x264_params: str  # "" keeps x264's own: threads from the cores, the preset's lookahead
    mb_per_mp: float | None  # None: x264's own, which grows with the cores (see THREAD_MB_PER_MP)


# Leanest last. Measured peaks of one 1080x1920 veryfast encoder (docs/PERFORMANCE.md, "x264 under a
# budget"), +10 % as ENCODER_MB_PER_MP has: fewer frame threads and a shorter lookahead hold fewer frames;
# no lookahead also turns mb-tree off (a few % more bits at the same CRF), so it comes last.
TUNINGS = (
    EncoderTuning("x264 defaults", "", None),
    EncoderTuning("2 threads, 5-frame lookahead", "threads=2:rc-lookahead=5", 84.0),
    EncoderTuning("1 thread, 5-frame lookahead", "threads=1:rc-lookahead=5", 57.0),
    EncoderTuning("1 thread, no lookahead", "threads=1:rc-lookahead=0", 54.0),
)


class MemoryBudgetError(EngineError):
    """Even one brand at the asked size, with the leanest encoder, needs more than the budget."""

    code = "memory_budget"


class PlanError(EngineError, ValueError):
    """The request cannot be planned (unknown preset, no brands)."""

    code = "invalid_render_request"


@dataclass(frozen=True)
class PlacedOverlay:
    art: OverlayArt
    x: int
    y: int
    width: int
    height: int
    png: Path  # where the facade writes the art before FFmpeg runs
    auto: AutoPlacement | None = None  # for a layer at position "auto": the position chosen, and why


# Output names: `<stem>_<brand>.mp4`, written first as `.<stem>_<brand>[.<run tag>].mp4.part`. A job's stem
# ends in `-<job id's first JOB_TAG_LENGTH chars>`, so every file a job writes carries its tag.
JOB_TAG_LENGTH = 8
STEM_SOURCE_CHARS = 40  # of the source's name, in a job's stem
TEMP_SUFFIX = ".part"


def safe_stem(name: str) -> str:
    """A file-name stem that is safe in any folder and any shell."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:80]
    return cleaned or "clip"


def job_stem(source_stem: str, job_id: str) -> str:
    """The stem of every file a job writes: its source's name, cut short, and the job's tag."""
    return f"{safe_stem(source_stem)[:STEM_SOURCE_CHARS]}-{job_id[:JOB_TAG_LENGTH]}"


def output_name(stem: str, brand: str, suffix: str = ".mp4", preset: str | None = None) -> str:
    """The final name of one output: `<stem>_<brand>.mp4`, or `<stem>_<brand>_<preset>.mp4` when the job
    has several formats (`preset` given). A fetch job's kept original uses brand "original"."""
    return f"{stem}_{brand}{'_' + preset if preset else ''}{suffix}"


def version_name(final_name: str, version: int) -> str:
    """The name of a later version of an output (rendered again alone, DESIGN 4.12): `<name>_v<n>.mp4`."""
    final = Path(final_name)
    return f"{final.stem}_v{version}{final.suffix}"


def temp_name(final_name: str, run_tag: str = "") -> str:
    """Where `final_name` is written until it is complete: hidden, `.part`, unique to one run if tagged."""
    final = Path(final_name)
    return f".{final.stem}{'.' + run_tag if run_tag else ''}{final.suffix}{TEMP_SUFFIX}"


def temp_glob(stem: str) -> str:
    """A glob matching every temporary file of every output of `stem` (any run)."""
    return f".{stem}_*{TEMP_SUFFIX}"


def names_job(file_name: str, job_id: str) -> bool:
    """Whether `file_name` is one of the job's outputs or temporary files (by the job's tag in its stem).

    A source whose own name holds `-<tag>_` also matches: that only keeps a file longer, never deletes one.
    """
    return f"-{job_id[:JOB_TAG_LENGTH]}_" in file_name


@dataclass(frozen=True)
class OutputPlan:
    brand: str
    path: Path  # final name
    temp_path: Path  # written here, renamed to `path` once complete and verified
    overlays: tuple[PlacedOverlay, ...]
    gain: GainPlan  # what is done to its sound (the brand may have its own loudness target)
    preset: str  # its format
    width: int
    height: int
    # where the render pass writes its sound's EBU R128 meter readings (None: not measured)
    loudness_log: Path | None
    captions: CaptionsPlan | None = None  # the transcript burned in, when the brand has a captions layer
    sidecar: Path | None = None  # the transcript as WebVTT beside the output, when there is one

    cover_temp: Path | None = None  # its cover as the render pass writes it (None: no cover in this plan)

    @property
    def cover_path(self) -> Path:
        """Its cover (DESIGN 4.11): named like the output, with `.jpg`."""
        return self.path.with_suffix(".jpg")


@dataclass(frozen=True)
class CaptionsPlan:
    """One output's burned-in captions: the ASS document libass draws (written by the facade before
    FFmpeg runs, the bundled font beside it)."""

    ass: Path
    document: str
    band: tuple[int, int, int, int]  # (x, y, w, h) its captions can take: `captions.CaptionLayout.band`


@dataclass(frozen=True)
class FormatPlan:
    """One format of the render: its canvas and the fit chain from the source's frames to that canvas."""

    format: OutputFormat
    width: int
    height: int
    fit_steps: tuple[str, ...]


@dataclass(frozen=True)
class Batch:
    outputs: tuple[OutputPlan, ...]
    inputs: tuple[str, ...]  # the source's and every overlay's input arguments
    filter_graph: str
    args: tuple[str, ...]  # FFmpeg arguments after the binary


@dataclass(frozen=True)
class RenderPlan:
    fps: float
    duration: float
    source_steps: tuple[str, ...]  # done once per batch, before the split to the formats
    formats: tuple[FormatPlan, ...]
    batches: tuple[Batch, ...]
    encoders: EncoderPlan  # batching and x264 tuning under the memory budget

    @property
    def width(self) -> int:
        """The first format's width (a one-format plan's size)."""
        return self.formats[0].width

    @property
    def height(self) -> int:
        return self.formats[0].height

    @property
    def normalize_filters(self) -> tuple[str, ...]:
        """The filter names from the source to the first format's canvas, for diagnostics and tests."""
        return _step_names((*self.source_steps, *self.formats[0].fit_steps))

    @property
    def outputs(self) -> tuple[OutputPlan, ...]:
        return tuple(output for batch in self.batches for output in batch.outputs)

    @property
    def overlays(self) -> tuple[PlacedOverlay, ...]:
        return tuple(overlay for output in self.outputs for overlay in output.overlays)


def canvas_size(info: MediaInfo, preset: str, max_short_side: int | None = None) -> tuple[int, int]:
    """Output size for a preset: fixed canvases, or the source's displayed shape capped and made even;
    then, if `max_short_side` is set (v3's 720-wide outputs), scaled down so the short side fits it."""
    size = output_size(preset, (info.width, info.height), max_short_side)
    assert size is not None
    return size


def output_size(
    preset: str, source: tuple[int, int] | None, max_short_side: int | None = None
) -> tuple[int, int] | None:
    """`canvas_size` from the source's displayed size alone; None for `source` when that is not known yet."""
    if preset in PRESET_CANVAS:
        width, height = PRESET_CANVAS[preset]
    elif preset == "source":
        if source is None:
            return None
        width, height = source
    else:
        raise PlanError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    scale = min(1.0, MAX_LONG_SIDE / max(width, height), (max_short_side or 10**6) / min(width, height))
    if scale == 1.0 and preset != "source":
        return width, height
    return _even(width * scale), _even(height * scale)


def _even(value: float) -> int:
    """Nearest even integer, halves rounded up (Python's round() would send 853 to 852)."""
    return max(2, math.floor(value / 2 + 0.5) * 2)


def place(
    aspect: float,
    width_px: float,
    position: Placement,
    margin: float,
    zone: SafeZone,
    canvas: tuple[int, int],
) -> tuple[int, int, int, int]:
    """(x, y, w, h) of an overlay of the wanted width at an anchor inside the safe rectangle less the
    margin, or centred on a free spot and moved inside the safe rectangle (a spot takes no margin).

    If it cannot fit at that width it is scaled down until it does, never pushed into a UI area.
    """
    cw, ch = canvas
    gap = 0.0 if isinstance(position, Spot) else margin * cw
    left, right = zone.left * cw + gap, cw - zone.right * cw - gap
    top, bottom = zone.top * ch + gap, ch - zone.bottom * ch - gap
    box_w, box_h = max(2.0, right - left), max(2.0, bottom - top)
    w = min(width_px, box_w, box_h * aspect)
    h = w / aspect
    w_px, h_px = max(2, math.floor(w / 2) * 2), max(2, math.floor(h / 2) * 2)
    if isinstance(position, Spot):
        # the nearest even pixel to the centred spot, unless that leaves the box
        x = max(
            math.ceil(left / 2) * 2, round(min(max(left, position.x * cw - w_px / 2), right - w_px) / 2) * 2
        )
        y = max(
            math.ceil(top / 2) * 2, round(min(max(top, position.y * ch - h_px / 2), bottom - h_px) / 2) * 2
        )
    else:
        horizontal, vertical = anchor(position)
        x = left + (box_w - w_px) * horizontal
        y = top + (box_h - h_px) * vertical
    # Round inward so the rectangle stays inside the box after snapping to even (chroma) positions.
    x_px = min(math.ceil(x / 2) * 2, math.floor((right - w_px) / 2) * 2)
    y_px = min(math.ceil(y / 2) * 2, math.floor((bottom - h_px) / 2) * 2)
    return max(0, x_px), max(0, y_px), w_px, h_px


def place_at(
    aspect: float, width_px: float, centre: tuple[float, float], canvas: tuple[int, int]
) -> tuple[int, int, int, int]:
    """(x, y, w, h) of an overlay of the wanted width centred at `centre` (fractions of the canvas), moved
    only as far as keeps it whole on the canvas (a reviewer chose the spot: the safe zone is theirs to judge).
    """
    cw, ch = canvas
    w = min(width_px, cw, ch * aspect)
    w_px = max(2, math.floor(w / 2) * 2)
    h_px = max(2, math.floor(w_px / aspect / 2) * 2)
    x = min(max(0.0, centre[0] * cw - w_px / 2), cw - w_px)
    y = min(max(0.0, centre[1] * ch - h_px / 2), ch - h_px)
    return math.floor(x / 2) * 2, math.floor(y / 2) * 2, w_px, h_px


def place_layers(
    layers: Sequence[Layer],
    zone: SafeZone,
    canvas: tuple[int, int],
    art_sizes: ArtSizes,
    png_prefix: Path,
    scene: SceneMaps | None = None,
    picture: Rect | None = None,
) -> tuple[PlacedOverlay, ...]:
    """Layers placed on this canvas, each at its measured art's proportions (PNG n at `<prefix>-n.png`).

    A layer at position "auto" goes to the fixed position whose rectangle covers the least of `scene`
    (the source's faces, text and motion, shown at `picture` on the canvas) and of the layers before it.
    """
    cw, ch = canvas
    overlays: list[PlacedOverlay] = []
    placed: list[Rect] = []  # positioned overlays so far: an auto layer avoids them too
    for index, layer in enumerate(layers):
        png = png_prefix.with_name(f"{png_prefix.name}-{index}.png")
        if layer.full_frame:  # drawn at the canvas's size, whatever the art's: no measure needed
            overlays.append(PlacedOverlay(layer.art, 0, 0, cw, ch, png))
            continue
        if layer.art not in art_sizes:
            raise PlanError(f"no measured size for overlay art {layer.art}")
        art_w, art_h = art_sizes[layer.art]
        aspect = art_w / art_h
        # a height fraction (text handles) is expressed as a width for `place`
        width_px = layer.width * cw if layer.width is not None else (layer.height or 0) * ch * aspect
        auto = None
        if layer.centre is not None:
            x, y, w, h = place_at(aspect, width_px, layer.centre, canvas)
        elif layer.position == "auto":
            candidates = {p: place(aspect, width_px, p, layer.margin, zone, canvas) for p in FIXED_POSITIONS}
            if layer.fallback is None:
                raise PlanError(f"overlay {layer.art} is placed automatically but has no fallback position")
            auto = choose_position(candidates, scene, picture or (0, 0, cw, ch), layer.fallback, placed)
            x, y, w, h = candidates[auto.position]
        else:
            x, y, w, h = place(aspect, width_px, layer.position, layer.margin, zone, canvas)
        overlays.append(PlacedOverlay(layer.art, x, y, w, h, png, auto))
        placed.append((x, y, w, h))
    return tuple(overlays)


def brand_overlays(
    brand: Brand,
    canvas: tuple[int, int],
    work_dir: Path,
    art_sizes: ArtSizes,
    scene: SceneMaps | None = None,
    picture: Rect | None = None,
    overrides: Sequence[LayerOverride] = (),
) -> tuple[PlacedOverlay, ...]:
    """The brand's layers placed on this canvas, inside its safe zone, with a review's `overrides`."""
    zone = brand.safe_zone_for(*canvas)
    layers = apply_overrides(brand_layers(brand, output_shape(*canvas)), overrides)
    return place_layers(layers, zone, canvas, art_sizes, work_dir / brand.id, scene, picture)


def needs_scene(brands: Sequence[Brand]) -> bool:
    """Whether any brand has a layer at position "auto" (the facade then analyses the source once)."""
    return any(
        layer.position == "auto"
        for brand in brands
        for shape in SHAPES
        for layer in brand_layers(brand, shape)
    )


def picture_rect(info: MediaInfo, canvas: tuple[int, int], reframe: Reframe) -> Rect:
    """Where the source's picture sits on the canvas: centred, inside (the blurred fill around it) or
    overflowing it (a crop window: the parts off the canvas are cut; a moving window is taken as centred)."""
    width, height = _fitted(info, canvas, reframe)
    return (canvas[0] - width) // 2, (canvas[1] - height) // 2, width, height


def _fitted(info: MediaInfo, canvas: tuple[int, int], reframe: Reframe) -> tuple[int, int]:
    """The source's displayed size on the canvas before any fill or crop (a zoomed window: larger)."""
    if reframe.fit == "blur":
        return _fit_inside(info.width, info.height, canvas)
    width, height = _cover(info.width, info.height, canvas)
    return (
        (width, height) if reframe.zoom == 1 else (_even(width * reframe.zoom), _even(height * reframe.zoom))
    )


def changes_shape(info: MediaInfo, canvas: tuple[int, int], reframe: Reframe) -> bool:
    """Whether this canvas crops or fills the source (a format of the source's own shape, unzoomed, does not):
    only then is a subject worth following."""
    return _fitted(info, canvas, reframe) != canvas


def fit_step(
    picture: tuple[int, int],
    canvas: tuple[int, int],
    reframe: Reframe,
    follow: FollowPath | None = None,
    tag: str = "",
) -> str:
    """The last step of a format's fit chain, from the scaled picture to the canvas: the blurred fill, a
    still crop window (centred, or at the user's anchor), or one that moves along `follow`'s path."""
    if reframe.fit == "blur":
        return _fill_graph(picture, canvas, tag)
    if reframe.fit == "follow" and follow is not None and follow.found:
        return crop_step(picture, canvas, follow.keys)
    if reframe.anchor is None:
        return f"crop={canvas[0]}:{canvas[1]}"
    x, y = (window_origin(reframe.anchor[axis], picture[axis], canvas[axis]) for axis in (0, 1))
    return f"crop={canvas[0]}:{canvas[1]}:{x}:{y}"


def trim_input(path: Path, span: tuple[float, float] | None) -> list[str]:
    """The source as an FFmpeg input, cut to `span` (start, end in seconds) before it is decoded.

    An input seek is frame-accurate when decoding (FFmpeg decodes from the keyframe before and drops what
    comes before `start`), cuts sound and picture alike, and starts both at 0: every filter after sees
    only the kept range.
    """
    if span is None:
        return ["-i", str(path)]
    start, end = span
    return ["-ss", f"{start:.6f}", "-t", f"{end - start:.6f}", "-i", str(path)]


def brand_arts(brands: Sequence[Brand], overrides: Sequence[LayerOverride] = ()) -> list[OverlayArt]:
    """Every art the brands can draw, on an output of any shape (with a review's `overrides`): what the
    facade measures before planning."""
    return [
        layer.art
        for brand in brands
        for shape in SHAPES
        for layer in apply_overrides(brand_layers(brand, shape), overrides)
    ]


def normalize_chain(
    info: MediaInfo,
    canvas: tuple[int, int],
    reframe: Reframe = DEFAULT_REFRAME,
    follow: FollowPath | None = None,
) -> list[str]:
    """Filter steps that turn any source into the canvas: 8-bit BT.709 SDR, square pixels, capped rate
    (`source_chain`, done once, then `fit_chain`, done per format)."""
    return [*source_chain(info), *fit_chain(info, canvas, reframe, follow=follow)]


def source_chain(info: MediaInfo) -> list[str]:
    """The steps every format shares, done once per source: timing (start at 0, deinterlace, capped rate).

    Autorotation is FFmpeg's (on by default), so frames arrive already turned. Steps that would do
    nothing for this source are left out.
    """
    steps: list[str] = []
    if info.align_streams:
        steps.append("setpts=PTS-STARTPTS")
    if info.interlaced:
        # one frame per frame (the source's rate), and only frames flagged interlaced are touched
        steps.append("bwdif=mode=send_frame:deint=interlaced")
    if info.variable_frame_rate or info.declared_fps > MAX_FPS + 0.01:
        steps.append(f"fps={_rate_text(info.fps)}")
    return steps


def fit_chain(
    info: MediaInfo,
    canvas: tuple[int, int],
    reframe: Reframe = DEFAULT_REFRAME,
    tag: str = "",
    follow: FollowPath | None = None,
) -> list[str]:
    """The steps from the source's (timed) frames to one format's canvas: size, colour, fill or crop.

    Colour is converted at the fitted size, after scaling (HDR tone-mapping at output size is 4x cheaper
    than at 4K). Each step is one filter, except the fill, which is a small graph of its own
    (FILL_STEP_PREFIX, its labels suffixed with `tag` so several formats' fills can share one graph). A
    source of another shape is fitted inside over the fill (`fit` blur) or scaled to cover the canvas and
    cropped (`fit_step`: a still window, or one moving along `follow`, whose path is in fractions of the
    picture, so one analysis serves every format).
    """
    steps: list[str] = []
    fitted = _fitted(info, canvas, reframe)
    resize = (info.coded_width, info.coded_height) != _rotated(fitted, info) or info.sar != 1
    if info.hdr:
        # Tone-map at output size (4x cheaper than at 4K); scaling the PQ/HLG signal first is common practice.
        if resize:
            steps.append(f"scale={fitted[0]}:{fitted[1]}")
        transfer = "smpte2084" if info.hdr == "pq" else "arib-std-b67"
        source_range = "pc" if info.full_range else "tv"
        steps += [
            f"zscale=tin={transfer}:min=bt2020nc:pin=bt2020:rin={source_range}:t=linear:npl=100",
            "format=gbrpf32le",
            "zscale=p=bt709",
            "tonemap=tonemap=hable:desat=0",
            "zscale=t=bt709:m=bt709:r=tv",
            "format=yuv420p",
        ]
    else:
        bt601 = info.color_matrix in (5, 6)  # SD sources: convert the matrix, don't just re-tag it
        if resize or bt601 or info.full_range:
            steps.append(
                f"scale={fitted[0]}:{fitted[1]}"
                + (":out_color_matrix=bt709" if bt601 else "")
                # full-range samples are squeezed into 16..235; re-tagging alone would crush blacks
                + (":out_range=tv" if info.full_range else "")
            )
        if info.pix_fmt != "yuv420p":
            steps.append("format=yuv420p")
    if resize:
        steps.append("setsar=1")
    if fitted != canvas:
        steps.append(fit_step(fitted, canvas, reframe, follow, tag))
    steps.append("setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709:range=tv")
    return steps


def _rotated(size: tuple[int, int], info: MediaInfo) -> tuple[int, int]:
    """A displayed size in the orientation the frames have before autorotation."""
    return (size[1], size[0]) if info.rotation in (90, 270) else size


def _rate_text(fps: float) -> str:
    for numerator, denominator in ((24000, 1001), (30000, 1001), (60000, 1001)):
        if abs(fps - numerator / denominator) < 0.005:
            return f"{numerator}/{denominator}"
    return f"{fps:g}"


def _fit_inside(width: int, height: int, canvas: tuple[int, int]) -> tuple[int, int]:
    cw, ch = canvas
    if abs(width / height - cw / ch) <= ASPECT_TOLERANCE * (cw / ch):
        return canvas
    scale = min(cw / width, ch / height)
    return min(cw, _even(width * scale)), min(ch, _even(height * scale))


def _cover(width: int, height: int, canvas: tuple[int, int]) -> tuple[int, int]:
    """The smallest even size of the source's shape that covers the canvas (then cropped to it)."""
    cw, ch = canvas
    if abs(width / height - cw / ch) <= ASPECT_TOLERANCE * (cw / ch):
        return canvas
    scale = max(cw / width, ch / height)
    return max(cw, _even(width * scale)), max(ch, _even(height * scale))


def _fill_graph(fitted: tuple[int, int], canvas: tuple[int, int], tag: str = "") -> str:
    """Fit the picture inside the canvas over a blurred, darkened copy of itself."""
    cw, ch = canvas
    fw, fh = fitted
    sw, sh = _even(cw / FILL_DOWNSCALE), _even(ch / FILL_DOWNSCALE)
    # boxblur's radius must stay under half the (4:2:0, halved) chroma plane: small canvases blur less
    radius = min(FILL_BLUR_RADIUS, min(sw, sh) // 4 - 1)
    return (
        f"split=2[fg{tag}][bg{tag}];"
        f"[bg{tag}]scale={sw}:{sh}:force_original_aspect_ratio=increase,crop={sw}:{sh},"
        f"boxblur={radius}:2,lutyuv=y=val*{FILL_DARKEN},scale={cw}:{ch},setsar=1[fill{tag}];"
        f"[fill{tag}][fg{tag}]overlay={(cw - fw) // 2}:{(ch - fh) // 2}"
    )


def _step_names(steps: Sequence[str]) -> tuple[str, ...]:
    return tuple("fill" if step.startswith(FILL_STEP_PREFIX) else step.split("=")[0] for step in steps)


def encoder_mb_per_mp(tuning: EncoderTuning, cpus: int) -> float:
    """Megabytes per output megapixel one encoder holds with this tuning on `cpus` cores."""
    if tuning.mb_per_mp is not None:
        return tuning.mb_per_mp
    threads = max(1, cpus * 3 // 2)  # x264's automatic thread count
    return ENCODER_MB_PER_MP + THREAD_MB_PER_MP * (threads - REFERENCE_CPUS * 3 // 2)


def estimate_peak_mb(
    info: MediaInfo,
    canvas: tuple[int, int],
    encoders: int,
    full_frame_layers: int = 0,
    tuning: EncoderTuning = TUNINGS[0],
    cpus: int = REFERENCE_CPUS,
) -> float:
    """Estimated peak RSS of one FFmpeg process running `encoders` outputs of one size that draw
    `full_frame_layers` cover layers in all, its encoders tuned so, x264 seeing `cpus` cores."""
    return estimate_batch_mb(info, [FormatLoad(canvas, encoders, full_frame_layers)], tuning, cpus)


@dataclass(frozen=True)
class FormatLoad:
    """What one format puts in one FFmpeg process: its canvas, its encoders and their cover layers."""

    canvas: tuple[int, int]
    encoders: int
    full_frame_layers: int = 0


def estimate_batch_mb(
    info: MediaInfo,
    loads: Sequence[FormatLoad],
    tuning: EncoderTuning = TUNINGS[0],
    cpus: int = REFERENCE_CPUS,
) -> float:
    """Estimated peak RSS of one FFmpeg process decoding the source once for these formats' encoders
    (see the model above): the decode is counted once, each format's fit chain and encoders at its size."""
    # 10-bit decoders hold 16-bit samples: twice the bytes per frame (measured on a 4K PQ HEVC source)
    source_mp = info.coded_width * info.coded_height / 1e6 * (2 if info.bit_depth > 8 else 1)
    total = BASE_MB + DECODE_MB_PER_MP * source_mp
    for load in loads:
        output_mp = load.canvas[0] * load.canvas[1] / 1e6
        hdr = HDR_MB_PER_MP * output_mp if info.hdr else 0.0
        per_encoder = ENCODER_FIXED_MB + encoder_mb_per_mp(tuning, cpus) * output_mp
        total += hdr + per_encoder * load.encoders + FULL_FRAME_MB_PER_MP * output_mp * load.full_frame_layers
    return total


@dataclass(frozen=True)
class EncoderPlan:
    """How the encoders are batched into FFmpeg runs, and how x264 is tuned to fit the budget."""

    batch_sizes: tuple[int, ...]
    tuning: EncoderTuning
    peak_mb: float  # the estimate of the largest batch
    allowance_mb: float  # what FFmpeg may use: the budget less the service's measured footprint


@dataclass(frozen=True)
class OutputLoad:
    """One output as the memory model sees it: its format (outputs of a format share its fit chain)."""

    format: int  # index in the render's formats
    canvas: tuple[int, int]
    full_frame_layers: int = 0


def plan_batches(
    info: MediaInfo, outputs: Sequence[OutputLoad], options: EngineOptions, cpus: int = REFERENCE_CPUS
) -> EncoderPlan:
    """As few, as even batches of consecutive outputs as fit the budget with x264's defaults (one batch:
    every output from one decode); if not even one encoder fits, x264 tuned down (TUNINGS); if not even
    the leanest fits, MemoryBudgetError, before any FFmpeg starts.

    The budget covers FFmpeg and the service's Python processes (`options.service_mb`, measured by the
    caller), since on a small instance they share the same memory.
    """
    allowance = options.memory_mb - options.service_mb
    total = len(outputs)

    def peak(group: Sequence[OutputLoad], tuning: EncoderTuning) -> float:
        loads: dict[int, FormatLoad] = {}
        for output in group:
            load = loads.get(output.format, FormatLoad(output.canvas, 0, 0))
            loads[output.format] = FormatLoad(
                load.canvas, load.encoders + 1, load.full_frame_layers + output.full_frame_layers
            )
        return estimate_batch_mb(info, list(loads.values()), tuning, cpus)

    for tuning in TUNINGS:
        for count in range(1, total + 1):
            base, extra = divmod(total, count)
            sizes = tuple(base + (1 if index < extra else 0) for index in range(count))
            peaks = [peak(outputs[sum(sizes[:i]) : sum(sizes[: i + 1])], tuning) for i in range(count)]
            if max(peaks) <= allowance:
                return EncoderPlan(sizes, tuning, max(peaks), allowance)
    largest = max(outputs, key=lambda output: output.canvas[0] * output.canvas[1] + output.full_frame_layers)
    need = peak([largest], TUNINGS[-1])
    service = f" ({options.service_mb:.0f} MB of it measured for the service's own processes)"
    raise MemoryBudgetError(
        f"memory budget {options.memory_mb} MB{service if options.service_mb else ''} is too small: "
        f"one output at {largest.canvas[0]}x{largest.canvas[1]} needs about {need:.0f} MB even with x264 "
        f"at {TUNINGS[-1].label}; raise WTF_RENDER_MEMORY_MB or choose a smaller output"
    )


def plan_encoders(
    info: MediaInfo,
    canvas: tuple[int, int],
    brands: int,
    options: EngineOptions,
    full_frame_per_brand: int = 0,
    cpus: int = REFERENCE_CPUS,
) -> EncoderPlan:
    """`plan_batches` for `brands` outputs of one size (one format)."""
    return plan_batches(info, [OutputLoad(0, canvas, full_frame_per_brand)] * max(1, brands), options, cpus)


def as_formats(formats: str | Sequence[OutputFormat], fit: Fit = DEFAULT_FIT) -> tuple[OutputFormat, ...]:
    """The formats of a render: a preset name (with `fit`) or a list; each preset once, known, in order.

    A preset given twice with the same fit counts once; with two fits it is refused (the outputs would
    have the same name).
    """
    wanted = [OutputFormat(formats, fit)] if isinstance(formats, str) else list(formats)
    if not wanted:
        raise PlanError("no formats to render")
    chosen: dict[str, OutputFormat] = {}
    for item in wanted:
        if item.preset not in PRESETS:
            raise PlanError(f"unknown preset {item.preset!r} (choose from {', '.join(PRESETS)})")
        if chosen.get(item.preset, item) != item:
            raise PlanError(f"preset {item.preset!r} is given twice with different fits; give it once")
        chosen[item.preset] = item
    return tuple(chosen.values())


def format_reframe(reframe: Reframe, fit: Fit, follow: FollowPath | None) -> Reframe:
    """The framing of one format of `fit`: the job's anchor and zoom if it crops; a `follow` that found no
    subject falls back as the job asked (a still window, or the blurred fill)."""
    lost = fit == "follow" and not (follow is not None and follow.found)
    return reframe.for_fit("blur" if lost and reframe.fallback == "blur" else fit)


def plan_formats(
    info: MediaInfo,
    formats: str | Sequence[OutputFormat],
    options: EngineOptions,
    reframe: Reframe = DEFAULT_REFRAME,
    follow: FollowPath | None = None,
) -> tuple[FormatPlan, ...]:
    """Each format's canvas and fit chain for this source (several: their fills' labels numbered).

    A preset name takes `reframe`'s fit; the job's anchor, zoom and `follow` path frame every format that
    crops (`format_reframe`)."""
    chosen = as_formats(formats, reframe.fit)
    plans = []
    for index, item in enumerate(chosen):
        canvas = canvas_size(info, item.preset, options.max_short_side)
        tag = str(index) if len(chosen) > 1 else ""
        chain = fit_chain(info, canvas, format_reframe(reframe, item.fit, follow), tag, follow)
        plans.append(FormatPlan(item, *canvas, tuple(chain)))
    return tuple(plans)


def _output_loads(brands: Sequence[Brand], formats: Sequence[FormatPlan]) -> list[OutputLoad]:
    """Every output, format by format and brand by brand within it (the order of the plan's outputs)."""
    return [
        OutputLoad(
            index,
            (fmt.width, fmt.height),
            sum(layer.full_frame for layer in brand_layers(brand, output_shape(fmt.width, fmt.height))),
        )
        for index, fmt in enumerate(formats)
        for brand in brands
    ]


def brand_encoders(
    info: MediaInfo,
    brands: Sequence[Brand],
    formats: str | Sequence[OutputFormat],
    options: EngineOptions,
    cpus: int,
    reframe: Reframe = DEFAULT_REFRAME,
) -> EncoderPlan:
    """`plan_batches` for these brands in these formats: what the facade checks before any FFmpeg runs."""
    if not brands:
        raise PlanError("no brands to render")
    loads = _output_loads(brands, plan_formats(info, formats, options, reframe))
    return plan_batches(info, loads, options, cpus)


def plan_render(
    info: MediaInfo,
    brands: Sequence[Brand],
    formats: str | Sequence[OutputFormat],
    out_dir: Path,
    stem: str,
    work_dir: Path,
    art_sizes: ArtSizes,
    options: EngineOptions = ENGINE_DEFAULTS,
    input_args: Sequence[str] | None = None,
    temp_tag: str = "",
    reframe: Reframe = DEFAULT_REFRAME,
    loudness: Loudness | None = None,
    makeup_db: Mapping[float, float] | None = None,
    scene: SceneMaps | None = None,
    cpus: int = REFERENCE_CPUS,
    follow: FollowPath | None = None,
    span: tuple[float, float] | None = None,
    overrides: Sequence[LayerOverride] = (),
    transcript: Sequence[Cue] = (),
    cover_at: float | None = None,
) -> RenderPlan:
    """Everything FFmpeg must do to make every brand in every format from `info`'s source.

    `formats`: a preset name (its fill or crop from `reframe`'s fit) or a list of `OutputFormat`s; with
    several, outputs are named `<stem>_<brand>_<preset>.mp4`. `art_sizes` holds the measured size of every
    art the brands draw (`brand_arts`); `loudness` the source's measured loudness (`source_loudness_args`),
    None to leave the sound as it is (each output's sound is then also measured in the render pass, into
    its `loudness_log`); `makeup_db` the measured make-up gain of each limited target
    (`loudness.makeup_needed`). `input_args` replaces `-i SOURCE` (the preview renders a generated frame
    through the same plan). `temp_tag` makes the temporary names unique to one run, so two runs of the
    same job (a re-queued job whose first worker is still alive) never write into each other's files.
    `scene` (the source's `analyse_scene`) places the layers at position "auto"; without it they take
    their fallback position. `cpus`: the cores x264 sees (its default thread count, and so its memory,
    grows with them). `reframe`: the anchor and zoom of every format that crops; `follow`: the subject's
    path for a format of fit follow (`portal.media.reframe`); `span`: the trim (start, end in seconds of
    the source), applied once on the input, with `info` already describing the kept range (its duration).
    `overrides`: a review's changes to the layers (`layers.apply_overrides`), for a render of one output
    (every brand gets them). `transcript`: the clip's cues in the output's time (`transcript.trimmed`),
    burned in by brands with a captions layer and written beside every output as WebVTT. `cover_at`: the
    time (output seconds) of each output's cover, taken in the same pass from the frame its encoder gets.
    """
    if not brands:
        raise PlanError("no brands to render")
    format_plans = plan_formats(info, formats, options, reframe, follow)
    encoders = plan_batches(info, _output_loads(brands, format_plans), options, cpus)
    makeup = makeup_db or {}
    named_by_format = len(format_plans) > 1
    outputs = []
    for fmt in format_plans:
        canvas = (fmt.width, fmt.height)
        picture = picture_rect(info, canvas, format_reframe(reframe, fmt.format.fit, follow))
        preset = fmt.format.preset
        for brand in brands:
            final = output_name(stem, brand.id, preset=preset if named_by_format else None)
            art_dir = work_dir / preset if named_by_format else work_dir
            overlays = brand_overlays(brand, canvas, art_dir, art_sizes, scene, picture, overrides)
            target = loudness_target(brand, options)
            gain = plan_gain(loudness, target, makeup.get(target, 0.0))
            measured = work_dir / f"{Path(final).stem}.r128" if loudness and info.has_audio else None
            temp = out_dir / temp_name(final, temp_tag)
            captions = _captions_plan(brand, canvas, transcript, art_dir)
            sidecar = (out_dir / final).with_suffix(".vtt") if transcript else None
            cover_name = temp_name(str(Path(final).with_suffix(".jpg")), temp_tag)
            cover = out_dir / cover_name if cover_at is not None else None
            outputs.append(
                OutputPlan(
                    brand.id, out_dir / final, temp, overlays, gain, preset, *canvas, measured, captions,
                    sidecar, cover,
                )
            )  # fmt: skip
    source_input = list(input_args) if input_args is not None else trim_input(info.path, span)
    source_steps = tuple(source_chain(info))
    batches = []
    start = 0
    for size in encoders.batch_sizes:
        group = tuple(outputs[start : start + size])
        start += size
        overlay_inputs = [arg for output in group for ov in output.overlays for arg in ("-i", str(ov.png))]
        inputs = (*source_input, *overlay_inputs)
        graph = _batch_graph(info, source_steps, format_plans, group, cover_at)
        encode = _encode_args(info, group, options, encoders.tuning)
        args = (*PROGRESS_HEAD, *inputs, "-filter_complex", graph, *encode)
        batches.append(Batch(outputs=group, inputs=inputs, filter_graph=graph, args=args))
    return RenderPlan(info.fps, info.duration, source_steps, format_plans, tuple(batches), encoders)


def _captions_plan(
    brand: Brand, canvas: tuple[int, int], transcript: Sequence[Cue], art_dir: Path
) -> CaptionsPlan | None:
    style = brand.captions
    if style is None or not transcript:
        return None
    zone = brand.safe_zone_for(*canvas)
    document = ass_document(transcript, style, canvas, zone)
    return CaptionsPlan(art_dir / f"{brand.id}.ass", document, caption_layout(style, canvas, zone).band)


def _filter_path(path: Path) -> str:
    """A path as a quoted filter option; FFmpeg's quoting cannot hold a quote or a backslash."""
    text = str(path)
    if "'" in text or "\\" in text:
        raise PlanError(f"a work folder with a quote or backslash in its name cannot be used: {text}")
    return f"'{text}'"


def _chain(head: str, steps: Sequence[str], outs: Sequence[str], audio: bool = False) -> str:
    """One filter chain from `head`, through `steps`, split to `outs` (labels) when more than one."""
    prefix = "a" if audio else ""
    body = list(steps)
    if len(outs) > 1:
        body.append(f"{prefix}split={len(outs)}")
    return head + ",".join(body or [f"{prefix}null"]) + "".join(outs)


def _batch_graph(
    info: MediaInfo,
    source_steps: Sequence[str],
    formats: Sequence[FormatPlan],
    outputs: tuple[OutputPlan, ...],
    cover_at: float | None = None,
) -> str:
    """Decode once, time once, split to each format's fit chain, split again to each output's overlays;
    with `cover_at`, each output's finished picture also goes to its cover (one frame, `cover_select`)."""
    chains = []
    groups = [
        (fmt, [f"[s{index}]" for index, output in enumerate(outputs) if output.preset == fmt.format.preset])
        for fmt in formats
    ]
    groups = [(fmt, labels) for fmt, labels in groups if labels]
    video = f"[0:{info.video_index}]"
    if len(groups) == 1:
        [(fmt, labels)] = groups
        chains.append(_chain(video, (*source_steps, *fmt.fit_steps), labels))
    else:
        chains.append(_chain(video, source_steps, [f"[f{index}]" for index in range(len(groups))]))
        chains += [_chain(f"[f{index}]", fmt.fit_steps, labels) for index, (fmt, labels) in enumerate(groups)]
    overlay_input = 1
    for index, output in enumerate(outputs):
        label = f"[s{index}]"
        for step, overlay in enumerate(output.overlays):
            out_label = f"[o{index}_{step}]"
            chains.append(f"{label}[{overlay_input}:v]overlay={overlay.x}:{overlay.y}{out_label}")
            label = out_label
            overlay_input += 1
        if output.captions is not None:  # drawn last: above every layer
            ass = output.captions.ass
            fonts = _filter_path(ass.parent)
            chains.append(f"{label}ass=filename={_filter_path(ass)}:fontsdir={fonts}[c{index}]")
            label = f"[c{index}]"
        if output.cover_temp is not None and cover_at is not None:
            chains.append(f"{label}split=2[v{index}][k{index}]")
            chains.append(f"[k{index}]{cover_select(cover_at, info.fps)}[cover{index}]")
        else:
            chains.append(f"{label}null[v{index}]")
    if info.has_audio:
        labels = [f"[as{index}]" for index in range(len(outputs))]
        chains.append(_chain(f"[0:{info.audio_index}]", audio_prep(info), labels, audio=True))
        for index, output in enumerate(outputs):
            steps = list(output.gain.steps)
            if output.loudness_log is not None:
                steps += measure_steps(output.loudness_log)
            chains.append(_chain(f"[as{index}]", steps, [f"[a{index}]"], audio=True))
    return ";".join(chains)


def audio_prep(info: MediaInfo) -> list[str]:
    """Steps that make any source's sound 48 kHz stereo (surround downmixed), to be measured or split."""
    steps = ["asetpts=PTS-STARTPTS"] if info.align_streams else []
    if info.audio_sample_rate != 48000:
        steps.append("aresample=48000")
    steps.append("aformat=sample_fmts=fltp:channel_layouts=stereo")
    return steps


def loudness_target(brand: Brand, options: EngineOptions) -> float | None:
    """The brand's own target if it has one ("off" keeps the source's sound), else the engine's."""
    if brand.loudness_lufs is None:
        return options.loudness_lufs
    return None if brand.loudness_lufs == "off" else brand.loudness_lufs


def wants_loudness(brands: Sequence[Brand], options: EngineOptions) -> bool:
    """Whether any output gets a loudness target (if none does, nothing is measured)."""
    return any(loudness_target(brand, options) is not None for brand in brands)


# A measurement: the audio alone (no video decoded), prepared as the render prepares it, into ebur128.
MEASURE_HEAD = ("-hide_banner", "-nostdin", "-nostats", "-loglevel", "info")
MEASURE_FILTER = "ebur128=peak=true:framelog=verbose"  # the summary only (frame lines are verbose)


def source_loudness_args(
    info: MediaInfo, gain: GainPlan | None = None, span: tuple[float, float] | None = None
) -> tuple[str, ...]:
    """Measure the source's sound as the outputs get it (48 kHz stereo: a 5.1 source as its downmix; only
    the trim's `span`), after `gain`'s steps if given (to see what a limiter took away)."""
    graph = ",".join([*audio_prep(info), *(gain.steps if gain else ()), MEASURE_FILTER])
    return (
        *MEASURE_HEAD,
        *trim_input(info.path, span),
        "-map",
        f"0:{info.audio_index}",
        "-af",
        graph,
        "-f",
        "null",
        "-",
    )


def output_loudness_args(path: Path) -> tuple[str, ...]:
    """Measure an output's sound (already 48 kHz stereo)."""
    return (*MEASURE_HEAD, "-i", str(path), "-map", "0:a:0", "-af", MEASURE_FILTER, "-f", "null", "-")


# Each output's sound is measured in the render pass, after its gain, as it goes to the AAC encoder:
# ebur128 tags every 100 ms frame with its readings so far and ametadata writes them to a file.
MEASURE_IN_PASS = "ebur128=peak=true:metadata=1"
SAFE_FILTER_PATH = re.compile(r"[A-Za-z0-9/._-]+")  # needs no escaping inside a filter graph


def measure_steps(log: Path) -> list[str]:
    """The steps that measure a sound in the render pass into `log` (`loudness.parse_meter_log` reads it)."""
    if not SAFE_FILTER_PATH.fullmatch(str(log)):
        raise PlanError(f"cannot measure loudness into {log}: only letters, digits and /._- are safe there")
    return [MEASURE_IN_PASS, f"ametadata=mode=print:file={log}"]


def _encode_args(
    info: MediaInfo, outputs: tuple[OutputPlan, ...], settings: EngineOptions, tuning: EncoderTuning
) -> list[str]:
    args: list[str] = []
    for index, output in enumerate(outputs):
        args += ["-map", f"[v{index}]"]
        if info.has_audio:
            args += ["-map", f"[a{index}]"]
        args += [
            "-c:v", "libx264", "-preset", settings.x264_preset, "-crf", str(settings.crf),
            "-profile:v", "high", "-pix_fmt", "yuv420p",
            "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv",
        ]  # fmt: skip
        if tuning.x264_params:
            args += ["-x264-params", tuning.x264_params]
        if info.has_audio:
            args += ["-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", "48000", "-ac", "2"]
        args += [
            "-map_metadata", "-1", "-map_chapters", "-1",
            "-movflags", "+faststart", "-f", "mp4", str(output.temp_path),
        ]  # fmt: skip
        if output.cover_temp is not None:
            args += [
                "-map", f"[cover{index}]", "-frames:v", "1", "-q:v", STILL_JPEG_QUALITY,
                "-f", "image2", "-update", "1", str(output.cover_temp),
            ]  # fmt: skip
    return args


def cover_select(at: float, fps: float) -> str:
    """The steps that keep, of an output's frames, only the one shown at `at` seconds (the first within half
    a frame of it: what a player seeking there shows), then end that branch (`trim`), so the cover costs
    one JPEG per output and holds no frame."""
    half_frame = 0.5 / (fps or 30)
    return f"select='gte(t,{max(0.0, at - half_frame):.6f})',trim=end_frame=1"


# Every FFmpeg run starts so: quiet, no prompts, progress as key=value lines on stdout (ffmpeg.run_ffmpeg).
PROGRESS_HEAD = ("-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1", "-nostats")

# The preview draws a brand on a generated frame of the preset's size (`source` has none: a phone clip's).
PREVIEW_SOURCE_CANVAS = (1080, 1920)
PREVIEW_INFO = MediaInfo(
    path=Path("preview"), width=1080, height=1920, coded_width=1080, coded_height=1920,
    rotation=0, sar=Fraction(1), fps=30.0, declared_fps=30.0, variable_frame_rate=False, duration=1.0,
    bit_depth=8, pix_fmt="rgb24", video_codec="lavfi", hdr=None, color_matrix=2, full_range=False,
    interlaced=False, video_index=0, has_audio=False, audio_index=None, audio_channels=0, audio_sample_rate=0,
)  # fmt: skip
STILL_JPEG_QUALITY = "3"  # FFmpeg's -q:v for MJPEG (previews and covers): 2 (best) .. 31


def plan_preview(
    brand: Brand,
    preset: str,
    work_dir: Path,
    art_sizes: ArtSizes,
    dest: Path,
    source: MediaInfo | None = None,
    *,
    at: float | None = None,
    reframe: Reframe = DEFAULT_REFRAME,
    overrides: Sequence[LayerOverride] = (),
    sample_captions: bool = False,
) -> tuple[RenderPlan, tuple[str, ...]]:
    """The plan of a one-frame render of the brand at the preset's size, and the args writing it as JPEG.

    The frame is generated (a gradient), or the frame of `source` (a user's clip) at `at` seconds (default:
    its middle), which then goes through the same normalization (`reframe`: fill, or a still crop window)
    and the same layers (with a review's `overrides`) as its render would. `sample_captions`: a brand with
    a captions layer draws `captions.SAMPLE_CAPTION` in its style, where a clip's captions would go.
    """
    if preset not in PRESETS:
        raise PlanError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    if source is not None:
        frame = replace(source, has_audio=False, audio_index=None)  # a still: its sound is not mapped
        inputs = ["-ss", f"{source.duration / 2 if at is None else at:.3f}", "-i", str(source.path)]
    else:
        width, height = PRESET_CANVAS.get(preset, PREVIEW_SOURCE_CANVAS)
        frame = replace(PREVIEW_INFO, width=width, height=height, coded_width=width, coded_height=height)
        gradient = (
            f"gradients=s={width}x{height}:c0=0x1d2b53:c1=0x7e2553:x0=0:y0=0:x1={width}:y1={height}:d=1"
        )
        inputs = ["-f", "lavfi", "-i", gradient]
    transcript = sample_transcript(frame.duration) if sample_captions else ()
    plan = plan_render(
        frame, [brand], preset, work_dir, "preview", work_dir, art_sizes, input_args=inputs,
        reframe=reframe, overrides=overrides, transcript=transcript,
    )  # fmt: skip
    batch = plan.batches[0]
    args = (
        *PROGRESS_HEAD, *batch.inputs, "-filter_complex", batch.filter_graph,
        "-map", "[v0]", "-frames:v", "1", "-q:v", STILL_JPEG_QUALITY, str(dest),
    )  # fmt: skip
    return plan, args


def sample_clip_args(path: Path, seconds: float, size: tuple[int, int]) -> tuple[str, ...]:
    """The demo's sample clip: a moving test pattern with a tone, made by FFmpeg's lavfi sources."""
    width, height = size
    return (
        *PROGRESS_HEAD,
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=30:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
        str(path),
    )  # fmt: skip
