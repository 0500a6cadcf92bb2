"""The engine facade: probe -> plan -> run -> verify. No Flask, no database, no queue.

The CLI, the API and the worker all call `render_source`: every brand in every format from one FFmpeg
process per memory batch (DESIGN 4.10). It reports progress through a callback and raises the typed
errors of `portal.media.errors`; a reader of `out_dir` never sees half a file.

Around that pass, only the source's loudness is measured by another (audio-only) FFmpeg run, while the
clip is analysed for `auto` placement; each output's loudness is measured inside the render pass.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import av

from portal.brand_loader import Brand
from portal.media.binary import locate_ffmpeg
from portal.media.captions import write_font
from portal.media.cover import choose_cover_time, clamp_cover_time, write_cover
from portal.media.errors import EngineError, RenderError, RenderTimeoutError
from portal.media.ffmpeg import capabilities, run_ffmpeg, usable_ffmpeg
from portal.media.layers import LayerOverride
from portal.media.loudness import (
    MAKEUP_PASSES,
    SUMMARY_LINES,
    Loudness,
    LoudnessReport,
    makeup_needed,
    parse_meter_log,
    parse_summary,
    plan_gain,
)
from portal.media.options import (
    DEFAULT_FIT,
    ENGINE_DEFAULTS,
    FITS,
    PRESETS,
    EngineOptions,
    Fit,
    OutputFormat,
)
from portal.media.overlays import measure_art, render_art
from portal.media.placement import analyse_scene
from portal.media.plan import (
    OutputPlan,
    RenderPlan,
    brand_arts,
    brand_encoders,
    loudness_target,
    needs_scene,
    plan_preview,
    plan_render,
    safe_stem,
    source_loudness_args,
    temp_name,
    wants_loudness,
)
from portal.media.probe import MediaInfo, probe_media
from portal.media.transcript import Cue, to_webvtt

__all__ = [
    "FITS",
    "PRESETS",
    "EngineOptions",
    "MediaInfo",
    "OutputFormat",
    "PreviewStill",
    "ProgressCallback",
    "RenderedOutput",
    "ffmpeg_report",
    "probe_media",
    "render_preview",
    "render_source",
    "safe_stem",
]

ProgressCallback = Callable[[str, float], None]  # (stage, percent 0..100): monotonic, ends at 100
DURATION_TOLERANCE_S = 0.1
PREVIEW_TIMEOUT_S = 60


@dataclass(frozen=True)
class RenderedOutput:
    brand: str
    path: Path
    width: int
    height: int
    duration: float
    size_bytes: int
    loudness: LoudnessReport | None = None  # None: no sound, or loudness normalization off for it
    preset: str = "source"  # its format
    # one per overlay at position "auto": {"overlay": index, "position", "reason", "scores"}
    placements: tuple[dict, ...] = ()
    cover: Path | None = None  # its JPEG cover (DESIGN 4.11), named like it with .jpg
    cover_at: float | None = None  # the time of the cover, in seconds
    captions: Path | None = None  # the sidecar WebVTT beside it, when the clip has a transcript


def render_source(
    source: Path,
    brands: Sequence[Brand],
    out_dir: Path,
    *,
    preset: str = "source",
    fit: Fit = DEFAULT_FIT,
    formats: Sequence[OutputFormat] | None = None,
    options: EngineOptions = ENGINE_DEFAULTS,
    stem: str | None = None,
    cover_at: float | None = None,
    overrides: Sequence[LayerOverride] = (),
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    transcript: Sequence[Cue] = (),
) -> list[RenderedOutput]:
    """Render every brand in every format from `source` into `out_dir` (see the module docstring).

    `formats` (several presets, each with its fit) replaces `preset` and `fit` when given; with more than
    one, outputs are named `<stem>_<brand>_<preset>.mp4`. Each output gets a cover at `cover_at` seconds,
    or at the engine's choice (`choose_cover_time`). `overrides`: a review's changes to the layers, for a
    render of one output (`layers.apply_overrides`). `transcript`: the clip's cues, burned in by brands
    with a captions layer and written beside every output as `<output stem>.vtt`.
    """
    source = Path(source)
    binary = usable_ffmpeg(options.ffmpeg_path)
    info = probe_media(source, options.source_limits)
    report = _ProgressReporter(on_progress)
    wanted = formats if formats is not None else preset
    # the cores x264 sees (its default threads, and memory, grow with them), whatever the CPU quota
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    brand_encoders(info, brands, wanted, options, cpus, fit)  # a budget even one output cannot fit fails here
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the source's sound is measured (audio only) while its picture is analysed: the gain goes into
        # the render's single pass
        sound = pool.submit(_source_loudness, binary, info, brands, options)
        scene = analyse_scene(info) if needs_scene(brands) else None  # once, for every brand and shape
        cover_time = (
            clamp_cover_time(cover_at, info.duration) if cover_at is not None else choose_cover_time(info)
        )
        before, makeup = sound.result()
    with tempfile.TemporaryDirectory(prefix="wtf-overlays-") as work:
        plan = plan_render(
            info, brands, wanted, out_dir, safe_stem(stem or source.stem), Path(work),
            measure_art(brand_arts(brands, overrides)), options, temp_tag=secrets.token_hex(4), fit=fit,
            loudness=before, makeup_db=makeup, scene=scene, cpus=cpus, overrides=overrides,
            transcript=transcript,
        )  # fmt: skip
        out_dir.mkdir(parents=True, exist_ok=True)
        _draw_overlays(plan)
        try:
            _run_batches(binary, plan, options, report, cancel)
            rendered = [_verify(output, plan, before) for output in plan.outputs]
            for output in plan.outputs:
                write_cover(output.temp_path, cover_time, output.cover_path)
                os.replace(output.temp_path, output.path)
                if output.sidecar is not None:
                    _write_sidecar(output.sidecar, transcript)
        except BaseException:
            for output in plan.outputs:
                output.temp_path.unlink(missing_ok=True)
            raise
    report("rendering", 100.0)
    return [
        replace(
            r,
            path=output.path,
            placements=_placements(output),
            cover=output.cover_path,
            cover_at=cover_time,
            captions=output.sidecar,
        )
        for r, output in zip(rendered, plan.outputs, strict=True)
    ]


def _placements(output: OutputPlan) -> tuple[dict, ...]:
    """Where each overlay at position \"auto\" went and why (its index in the output's drawing order)."""
    return tuple(
        {"overlay": index, **overlay.auto.as_dict()}
        for index, overlay in enumerate(output.overlays)
        if overlay.auto
    )


def _source_loudness(
    binary: Path, info: MediaInfo, brands: Sequence[Brand], options: EngineOptions
) -> tuple[Loudness | None, dict[float, float]]:
    """The source's loudness and each limited target's make-up gain (None, {}: nothing to measure)."""
    if not (info.has_audio and wants_loudness(brands, options)):
        return None, {}
    before = _loudness(binary, source_loudness_args(info))
    return before, _limiter_makeup(binary, info, before, brands, options)


def _limiter_makeup(
    binary: Path, info: MediaInfo, before: Loudness, brands: Sequence[Brand], options: EngineOptions
) -> dict[float, float]:
    """Per target that needs the limiter: the extra gain that makes up for what the limiter takes.

    The limited chain is run over the source's sound alone (cheap) and corrected, a few times at most.
    """
    makeups = {}
    for target in {loudness_target(brand, options) for brand in brands} - {None}:
        makeup = 0.0
        for _ in range(MAKEUP_PASSES):
            gain = plan_gain(before, target, makeup)
            if not gain.limited:
                break
            corrected = makeup_needed(gain, _loudness(binary, source_loudness_args(info, gain)), makeup)
            if corrected is None:
                break
            makeup = corrected
        makeups[target] = makeup
    return makeups


def _loudness(binary: Path, args: tuple[str, ...]) -> Loudness:
    return parse_summary("\n".join(run_ffmpeg(binary, args, duration=0, tail_lines=SUMMARY_LINES)))


def _draw_overlays(plan: RenderPlan) -> None:
    for overlay in plan.overlays:
        overlay.png.parent.mkdir(parents=True, exist_ok=True)  # a folder per format when there are several
        render_art(overlay.art, overlay.width, overlay.height, overlay.png)
    for output in plan.outputs:
        if output.captions is not None:
            write_font(output.captions.ass.parent)  # libass's fontsdir: the ASS file's folder
            output.captions.ass.write_text(output.captions.document, encoding="utf-8")


def _write_sidecar(path: Path, transcript: Sequence[Cue]) -> None:
    temp = path.with_name(temp_name(path.name))
    temp.write_text(to_webvtt(transcript), encoding="utf-8")
    os.replace(temp, path)


def _run_batches(
    binary: Path,
    plan: RenderPlan,
    options: EngineOptions,
    report: _ProgressReporter,
    cancel: threading.Event | None,
) -> None:
    deadline = time.monotonic() + options.timeout_s
    total = len(plan.batches)
    for index, batch in enumerate(plan.batches):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise RenderTimeoutError(f"render did not finish within {options.timeout_s:g} s")

        def batch_progress(fraction: float, index: int = index) -> None:
            # keep the last percent for verify and rename: 100 means the files are in place
            report("rendering", (index + fraction) / total * 99.0)

        run_ffmpeg(
            binary,
            batch.args,
            duration=plan.duration,
            on_fraction=batch_progress,
            cancel=cancel,
            timeout=remaining,
        )


def _verify(output: OutputPlan, plan: RenderPlan, before: Loudness | None) -> RenderedOutput:
    """Read the output back: H.264 at the planned size and the source's duration, or RenderError.

    Its loudness, measured in the render pass on the sound sent to its encoder, is read too.
    """
    path, brand = output.temp_path, output.brand
    try:
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            duration = container.duration / av.time_base if container.duration else 0.0
            codec, width, height = (
                video.codec_context.name,
                video.codec_context.width,
                video.codec_context.height,
            )
    except (av.error.FFmpegError, IndexError) as exc:
        raise RenderError(f"output for brand {brand!r} cannot be read back ({exc})") from None
    if codec != "h264" or (width, height) != (output.width, output.height):
        raise RenderError(
            f"output for brand {brand!r} is {codec} {width}x{height}, "
            f"expected h264 {output.width}x{output.height}"
        )
    if abs(duration - plan.duration) > max(DURATION_TOLERANCE_S, 1.5 / plan.fps):
        raise RenderError(f"output for brand {brand!r} lasts {duration:.3f} s, source {plan.duration:.3f} s")
    loudness = None
    if before is not None and output.loudness_log is not None:
        after = parse_meter_log(output.loudness_log.read_text(errors="replace"))
        gain = output.gain
        loudness = LoudnessReport(gain.target_lufs, gain.gain_db, gain.limited, before, after)
    size = path.stat().st_size
    return RenderedOutput(brand, path, width, height, round(duration, 3), size, loudness, output.preset)


class _ProgressReporter:
    """Forwards progress only when it moves forward, so callers see a monotonic series."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.last = -1.0

    def __call__(self, stage: str, percent: float) -> None:
        percent = round(min(100.0, percent), 1)
        if self.callback is not None and percent > self.last:
            self.last = percent
            self.callback(stage, percent)


@dataclass(frozen=True)
class PreviewStill:
    """A preview's JPEG and where the plan put each drawn layer on it (what the brand editor outlines)."""

    jpeg: bytes
    width: int
    height: int
    overlays: tuple[tuple[int, int, int, int], ...]  # (x, y, w, h) of each drawn layer, bottom first


def render_preview(
    brand: Brand,
    preset: str,
    options: EngineOptions = ENGINE_DEFAULTS,
    source: Path | None = None,
    *,
    at: float | None = None,
    fit: Fit = DEFAULT_FIT,
    overrides: Sequence[LayerOverride] = (),
) -> PreviewStill:
    """A JPEG still, at the preset's size, of the brand's overlays on a generated frame or on the frame of
    `source` (a user's clip) at `at` seconds (its middle by default), through the same plan as a render
    (the same `fit` and a review's `overrides`)."""
    binary = usable_ffmpeg(options.ffmpeg_path)
    info = probe_media(source, options.source_limits) if source is not None else None
    with tempfile.TemporaryDirectory(prefix="wtf-preview-") as work:
        still = Path(work) / "preview.jpg"
        sizes = measure_art(brand_arts([brand], overrides))
        plan, args = plan_preview(
            brand, preset, Path(work), sizes, still, info, at=at, fit=fit, overrides=overrides
        )
        _draw_overlays(plan)
        run_ffmpeg(binary, args, duration=plan.duration, timeout=PREVIEW_TIMEOUT_S)
        rects = tuple((o.x, o.y, o.width, o.height) for o in plan.overlays)
        return PreviewStill(still.read_bytes(), plan.width, plan.height, rects)


def ffmpeg_report(options: EngineOptions = ENGINE_DEFAULTS) -> dict:
    """Which FFmpeg is used, its version, and what it lacks (for /api/debug/ffmpeg)."""
    try:
        return dict(capabilities(locate_ffmpeg(options.ffmpeg_path)))
    except EngineError as exc:
        return {"path": options.ffmpeg_path, "version": None, "missing": [], "ok": False, "error": str(exc)}
