"""The render plan: a pure function from (source facts, preset, brands) to FFmpeg work.

Nothing here runs FFmpeg or writes files, so every decision (canvas size, filters, where each logo goes,
how encoders are batched) is testable on its own. One batch is one FFmpeg process: it decodes the source
once, normalizes once, and splits to every brand's overlays and encoder in the batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from portal.brand_loader import Brand, Position, SafeZone
from portal.media.errors import EngineError
from portal.media.overlays import OverlayArt, art_aspect
from portal.media.probe import MediaInfo

PRESETS = ("source", "vertical", "square", "landscape")
PRESET_CANVAS = {"vertical": (1080, 1920), "square": (1080, 1080), "landscape": (1920, 1080)}
MAX_LONG_SIDE = 1920
ASPECT_TOLERANCE = 0.01  # closer than this, a source is scaled to the canvas rather than fitted and filled
FILL_DOWNSCALE = 8  # the blurred fill is made at 1/8 size: the blur hides the detail anyway
FILL_DARKEN = 0.55  # luma factor of the fill, so the real picture stands out
AUDIO_BITRATE = "160k"
MAX_FPS = 60.0
FILL_STEP_PREFIX = "split=2[fg][bg]"

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


@dataclass(frozen=True)
class OutputPlan:
    brand: str
    path: Path  # final name
    temp_path: Path  # written here, renamed to `path` once complete and verified
    overlays: tuple[PlacedOverlay, ...]


@dataclass(frozen=True)
class Batch:
    outputs: tuple[OutputPlan, ...]
    filter_graph: str
    args: tuple[str, ...]  # FFmpeg arguments after the binary


@dataclass(frozen=True)
class RenderPlan:
    width: int
    height: int
    fps: float
    duration: float
    normalize_filters: tuple[str, ...]  # the filter names used once per source, for diagnostics and tests
    batches: tuple[Batch, ...]

    @property
    def outputs(self) -> tuple[OutputPlan, ...]:
        return tuple(output for batch in self.batches for output in batch.outputs)

    @property
    def overlays(self) -> tuple[PlacedOverlay, ...]:
        return tuple(overlay for output in self.outputs for overlay in output.overlays)


@dataclass(frozen=True)
class EncodeSettings:
    x264_preset: str = "veryfast"
    crf: int = 21
    memory_mb: int = 1536


def canvas_size(info: MediaInfo, preset: str) -> tuple[int, int]:
    """Output size for a preset: fixed canvases, or the source's displayed shape capped and made even."""
    if preset in PRESET_CANVAS:
        return PRESET_CANVAS[preset]
    if preset != "source":
        raise PlanError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    width, height = info.width, info.height
    scale = min(1.0, MAX_LONG_SIDE / max(width, height))
    return _even(width * scale), _even(height * scale)


def _even(value: float) -> int:
    """Nearest even integer, halves rounded up (Python's round() would send 853 to 852)."""
    return max(2, math.floor(value / 2 + 0.5) * 2)


def place(
    art: OverlayArt,
    width_px: float,
    position: Position,
    margin: float,
    zone: SafeZone,
    canvas: tuple[int, int],
) -> tuple[int, int, int, int]:
    """(x, y, w, h) of an overlay of the wanted width, inside the safe rectangle less the margin.

    If it cannot fit at that width it is scaled down until it does, never pushed into a UI area.
    """
    cw, ch = canvas
    gap = margin * cw
    left, right = zone.left * cw + gap, cw - zone.right * cw - gap
    top, bottom = zone.top * ch + gap, ch - zone.bottom * ch - gap
    box_w, box_h = max(2.0, right - left), max(2.0, bottom - top)
    aspect = art_aspect(art)
    w = min(width_px, box_w, box_h * aspect)
    h = w / aspect
    w_px, h_px = max(2, math.floor(w / 2) * 2), max(2, math.floor(h / 2) * 2)
    horizontal, vertical = _anchor(position)
    x = left + (box_w - w_px) * horizontal
    y = top + (box_h - h_px) * vertical
    # Round inward so the rectangle stays inside the box after snapping to even (chroma) positions.
    x_px = min(math.ceil(x / 2) * 2, math.floor((right - w_px) / 2) * 2)
    y_px = min(math.ceil(y / 2) * 2, math.floor((bottom - h_px) / 2) * 2)
    return max(0, x_px), max(0, y_px), w_px, h_px


def _anchor(position: Position) -> tuple[float, float]:
    vertical = 0.0 if position.startswith("top") else 1.0 if position.startswith("bottom") else 0.5
    horizontal = 0.0 if position.endswith("left") else 1.0 if position.endswith("right") else 0.5
    return horizontal, vertical


def brand_overlays(brand: Brand, canvas: tuple[int, int], work_dir: Path) -> tuple[PlacedOverlay, ...]:
    """The brand's logo and watermark placed on this canvas."""
    cw, ch = canvas
    zone = brand.safe_zone_for(cw, ch)
    placed = []
    if brand.logo is not None:
        art = OverlayArt(image=brand.logo.path, opacity=brand.logo.opacity)
        placed.append((art, brand.logo.width * cw, brand.logo.position, brand.logo.margin))
    if brand.watermark is not None:
        mark = brand.watermark
        art = OverlayArt(image=mark.image, text=mark.text, color=mark.color, opacity=mark.opacity)
        # `size` is the height as a fraction of the canvas height; express it as a width for `place`.
        placed.append((art, mark.size * ch * art_aspect(art), mark.position, mark.margin))
    overlays = []
    for index, (art, width_px, position, margin) in enumerate(placed):
        x, y, w, h = place(art, width_px, position, margin, zone, canvas)
        overlays.append(PlacedOverlay(art, x, y, w, h, work_dir / f"{brand.id}-{index}.png"))
    return tuple(overlays)


def normalize_chain(info: MediaInfo, canvas: tuple[int, int]) -> list[str]:
    """Filter steps that turn any source into the canvas: 8-bit BT.709 SDR, square pixels, capped rate.

    Autorotation is FFmpeg's (on by default), so frames arrive already turned. Steps that would do
    nothing for this source are left out. Each step is one filter, except the fill, which is a small
    graph of its own (FILL_STEP_PREFIX).
    """
    steps: list[str] = []
    if info.interlaced:
        # one frame per frame (the source's rate), and only frames flagged interlaced are touched
        steps.append("bwdif=mode=send_frame:deint=interlaced")
    if info.variable_frame_rate or info.declared_fps > MAX_FPS + 0.01:
        steps.append(f"fps={_rate_text(info.fps)}")

    fitted = _fit_inside(info.width, info.height, canvas)
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
        steps.append(_fill_graph(fitted, canvas))
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


def _fill_graph(fitted: tuple[int, int], canvas: tuple[int, int]) -> str:
    """Fit the picture inside the canvas over a blurred, darkened copy of itself."""
    cw, ch = canvas
    fw, fh = fitted
    sw, sh = _even(cw / FILL_DOWNSCALE), _even(ch / FILL_DOWNSCALE)
    return (
        f"{FILL_STEP_PREFIX};"
        f"[bg]scale={sw}:{sh}:force_original_aspect_ratio=increase,crop={sw}:{sh},"
        f"boxblur=6:2,lutyuv=y=val*{FILL_DARKEN},scale={cw}:{ch},setsar=1[fill];"
        f"[fill][fg]overlay={(cw - fw) // 2}:{(ch - fh) // 2}"
    )


def estimate_peak_mb(info: MediaInfo, canvas: tuple[int, int], encoders: int) -> float:
    """Estimated peak RSS of one FFmpeg process running `encoders` outputs (see the model above)."""
    # 10-bit decoders hold 16-bit samples: twice the bytes per frame (measured on a 4K PQ HEVC source)
    source_mp = info.coded_width * info.coded_height / 1e6 * (2 if info.bit_depth > 8 else 1)
    output_mp = canvas[0] * canvas[1] / 1e6
    hdr = HDR_MB_PER_MP * output_mp if info.hdr else 0.0
    per_encoder = ENCODER_FIXED_MB + ENCODER_MB_PER_MP * output_mp
    return BASE_MB + DECODE_MB_PER_MP * source_mp + hdr + per_encoder * encoders


def batch_sizes(info: MediaInfo, canvas: tuple[int, int], brands: int, memory_mb: int) -> list[int]:
    """Split `brands` encoders into as few, as even batches as keep each under the memory budget.

    A single encoder is always allowed, whatever the budget: the alternative is not rendering at all.
    """
    per_batch = max(1, brands)
    while per_batch > 1 and estimate_peak_mb(info, canvas, per_batch) > memory_mb:
        per_batch -= 1
    count = math.ceil(brands / per_batch)
    base, extra = divmod(brands, count)
    return [base + (1 if index < extra else 0) for index in range(count)]


def plan_render(
    info: MediaInfo,
    brands: Sequence[Brand],
    preset: str,
    out_dir: Path,
    stem: str,
    work_dir: Path,
    settings: EncodeSettings = EncodeSettings(),
    input_args: Sequence[str] | None = None,
    temp_tag: str = "",
) -> RenderPlan:
    """Everything FFmpeg must do to make one output per brand from `info`'s source.

    `input_args` replaces `-i SOURCE` (the preview renders a generated frame through the same plan).
    `temp_tag` makes the temporary names unique to one run, so two runs of the same job (a re-queued
    job whose first worker is still alive) never write into each other's files.
    """
    if not brands:
        raise PlanError("no brands to render")
    canvas = canvas_size(info, preset)
    normalize = normalize_chain(info, canvas)
    outputs = [
        OutputPlan(
            brand=brand.id,
            path=out_dir / f"{stem}_{brand.id}.mp4",
            temp_path=out_dir / f".{stem}_{brand.id}{'.' + temp_tag if temp_tag else ''}.mp4.part",
            overlays=brand_overlays(brand, canvas, work_dir),
        )
        for brand in brands
    ]
    batches = []
    start = 0
    for size in batch_sizes(info, canvas, len(outputs), settings.memory_mb):
        group = tuple(outputs[start : start + size])
        start += size
        graph = _batch_graph(info, normalize, group)
        args = _batch_args(info, group, graph, settings, input_args)
        batches.append(Batch(outputs=group, filter_graph=graph, args=args))
    names = tuple("fill" if step.startswith(FILL_STEP_PREFIX) else step.split("=")[0] for step in normalize)
    return RenderPlan(canvas[0], canvas[1], info.fps, info.duration, names, tuple(batches))


def _batch_graph(info: MediaInfo, normalize: list[str], outputs: tuple[OutputPlan, ...]) -> str:
    chains = []
    video = f"[0:{info.video_index}]" + ",".join(normalize)
    count = len(outputs)
    if count > 1:
        video += f",split={count}" + "".join(f"[s{index}]" for index in range(count))
    else:
        video += "[s0]"
    chains.append(video)
    overlay_input = 1
    for index, output in enumerate(outputs):
        label = f"[s{index}]"
        for step, overlay in enumerate(output.overlays):
            out_label = f"[o{index}_{step}]"
            chains.append(f"{label}[{overlay_input}:v]overlay={overlay.x}:{overlay.y}{out_label}")
            label = out_label
            overlay_input += 1
        chains.append(f"{label}null[v{index}]")
    if info.has_audio:
        audio = f"[0:{info.audio_index}]"
        if info.audio_sample_rate != 48000:
            audio += "aresample=48000,"
        audio += "aformat=sample_fmts=fltp:channel_layouts=stereo"
        if count > 1:
            audio += f",asplit={count}" + "".join(f"[a{index}]" for index in range(count))
        else:
            audio += "[a0]"
        chains.append(audio)
    return ";".join(chains)


def _batch_args(
    info: MediaInfo,
    outputs: tuple[OutputPlan, ...],
    graph: str,
    settings: EncodeSettings,
    input_args: Sequence[str] | None,
) -> tuple[str, ...]:
    args = ["-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1", "-nostats"]
    args += list(input_args) if input_args is not None else ["-i", str(info.path)]
    for output in outputs:
        for overlay in output.overlays:
            args += ["-i", str(overlay.png)]
    args += ["-filter_complex", graph]
    for index, output in enumerate(outputs):
        args += ["-map", f"[v{index}]"]
        if info.has_audio:
            args += ["-map", f"[a{index}]"]
        args += [
            "-c:v", "libx264", "-preset", settings.x264_preset, "-crf", str(settings.crf),
            "-profile:v", "high", "-pix_fmt", "yuv420p",
            "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-color_range", "tv",
        ]  # fmt: skip
        if info.has_audio:
            args += ["-c:a", "aac", "-b:a", AUDIO_BITRATE, "-ar", "48000", "-ac", "2"]
        args += [
            "-map_metadata", "-1", "-map_chapters", "-1",
            "-movflags", "+faststart", "-f", "mp4", str(output.temp_path),
        ]  # fmt: skip
    return tuple(args)
