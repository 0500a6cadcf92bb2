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
from typing import TYPE_CHECKING

import av

from portal.brand_loader import Brand
from portal.media.binary import locate_ffmpeg
from portal.media.captions import write_font
from portal.media.cover import choose_cover_time, clamp_cover_time
from portal.media.errors import EngineError, RenderError, RenderTimeoutError, TrimError
from portal.media.ffmpeg import capabilities, run_ffmpeg, usable_ffmpeg
from portal.media.frames import decode_span
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
    DEFAULT_REFRAME,
    ENGINE_DEFAULTS,
    FITS,
    NO_TRIM,
    PRESETS,
    EngineOptions,
    OutputFormat,
    Reframe,
    Trim,
)
from portal.media.overlays import measure_art, render_art
from portal.media.placement import analyse_scene
from portal.media.plan import (
    OutputPlan,
    RenderPlan,
    as_formats,
    brand_arts,
    brand_encoders,
    canvas_size,
    changes_shape,
    format_reframe,
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
from portal.media.reframe import (
    MAX_CARD_S,
    SAMPLE_FPS,
    EndCard,
    FollowPath,
    find_end_card,
    find_subjects,
    follow_path,
    scene_cuts,
)
from portal.media.transcript import Cue, to_webvtt, trimmed

if TYPE_CHECKING:  # numpy comes with the analyses, imported when a clip is looked at
    import numpy as np

__all__ = [
    "FITS",
    "PRESETS",
    "Edits",
    "EngineOptions",
    "MediaInfo",
    "OutputFormat",
    "PreviewStill",
    "ProgressCallback",
    "RenderedOutput",
    "ffmpeg_report",
    "plan_edits",
    "probe_media",
    "render_preview",
    "render_source",
    "safe_stem",
    "trim_span",
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
    edits: dict | None = None  # what the trim kept and cut, and the reframe's window path and reasons
    cover: Path | None = None  # its JPEG cover (DESIGN 4.11), named like it with .jpg
    cover_at: float | None = None  # the time of the cover, in seconds
    captions: Path | None = None  # the sidecar WebVTT beside it, when the clip has a transcript


@dataclass(frozen=True)
class Edits:
    """The source's edits as the engine resolved them for one render (DESIGN 4.11).

    `span` is the kept range (None: all of it), `info` the source as the outputs see it (the kept range's
    duration), `reframe` the fit actually used (a `follow` that found nothing may become the blur),
    `follow` the window's path, `decoded` the grey frames the analysis looked at (`position: auto` reuses
    them).
    """

    info: MediaInfo
    span: tuple[float, float] | None
    reframe: Reframe
    follow: FollowPath | None
    end_card: EndCard | None
    decoded: tuple[np.ndarray, ...] = ()

    def as_dict(self, asked: Reframe) -> dict:
        start, end = self.span or (0.0, self.info.duration)
        return {
            "trim": {
                "start": round(start, 3),
                "end": round(end, 3),
                "end_card": self.end_card.as_dict() if self.end_card else None,
            },
            "reframe": {
                "fit": asked.fit,
                "used": self.reframe.fit,
                "anchor": list(asked.anchor) if asked.anchor else None,
                "zoom": asked.zoom,
                "path": self.follow.as_dict() if self.follow else None,
            },
        }


def plan_edits(
    source: Path | MediaInfo, formats: str | Sequence[OutputFormat], reframe: Reframe = DEFAULT_REFRAME,
    trim: Trim = NO_TRIM, options: EngineOptions = ENGINE_DEFAULTS,
) -> Edits:  # fmt: skip
    """Resolve the trim (and its end card) against the source, and follow its subject when a format of fit
    follow changes the shape: one decode of the kept range, a few frames a second, for every format."""
    info = source if isinstance(source, MediaInfo) else probe_media(source, options.source_limits)
    start, end = trim_span(trim, info.duration, info.fps, info.path.name)
    follows = any(
        changes_shape(info, canvas_size(info, item.preset, options.max_short_side), reframe.for_fit(item.fit))
        for item in as_formats(formats, reframe.fit)
        if item.fit == "follow"
    )
    end_card = follow = None
    decoded: tuple[np.ndarray, ...] = ()
    if follows or trim.end_card:
        # without a subject to follow, only the tail is decoded to look for a card
        scan_from = start if follows else max(start, end - MAX_CARD_S - 1.0)
        frames = decode_span(info, scan_from, end, SAMPLE_FPS if follows else None)
        if trim.end_card:
            end_card = find_end_card(frames.times, frames.changes, end)
            end = end_card.start if end_card else end
        if follows:
            samples = [sample for sample in frames.samples if sample[0] < end]
            cuts = [t - start for t in scene_cuts(frames.times, frames.changes) if t < end]
            follow = follow_path(
                find_subjects(samples, start), end - start, cuts, reframe.anchor or (0.5, 0.5)
            )
            decoded = tuple(grey for _, grey in samples)
    span = (start, end) if start > 0 or end < info.duration else None
    kept = replace(info, duration=end - start) if span else info
    return Edits(kept, span, format_reframe(reframe, reframe.fit, follow), follow, end_card, decoded)


def trim_span(trim: Trim, duration: float, fps: float, name: str) -> tuple[float, float]:
    """The trim's (start, end) on a source this long, or TrimError naming the file and what does not fit
    (an end up to a frame past the end is the end)."""
    frame = 1 / fps if fps else 0.0
    the_end = f"the end of the clip ({duration:.2f} s)"
    if trim.start >= duration - frame:
        raise TrimError(f"{name}: trim start {trim.start:g} s is at or past {the_end}")
    if trim.end is not None and trim.end > duration + frame:
        raise TrimError(f"{name}: trim end {trim.end:g} s is past {the_end}")
    return trim.start, min(duration, trim.end if trim.end is not None else duration)


def render_source(
    source: Path,
    brands: Sequence[Brand],
    out_dir: Path,
    *,
    preset: str = "source",
    reframe: Reframe = DEFAULT_REFRAME,
    formats: Sequence[OutputFormat] | None = None,
    trim: Trim = NO_TRIM,
    options: EngineOptions = ENGINE_DEFAULTS,
    stem: str | None = None,
    cover_at: float | None = None,
    overrides: Sequence[LayerOverride] = (),
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    transcript: Sequence[Cue] = (),
) -> list[RenderedOutput]:
    """Render every brand in every format from `source` into `out_dir` (see the module docstring), cut to
    `trim` and framed by `reframe`, both resolved once for every brand and format (`plan_edits`).

    `formats` (several presets, each with its fit) replaces `preset` and `reframe`'s fit when given; with
    more than one, outputs are named `<stem>_<brand>_<preset>.mp4`. Each output gets a cover at `cover_at`
    seconds of the output, or at the engine's choice (`choose_cover_time`). `overrides`: a review's changes
    to the layers, for a render of one output (`layers.apply_overrides`). `transcript`: the clip's cues,
    burned in by brands with a captions layer and written beside every output as `<output stem>.vtt`.
    """
    source = Path(source)
    binary = usable_ffmpeg(options.ffmpeg_path)
    report = _ProgressReporter(on_progress)
    wanted = formats if formats is not None else preset
    edits = plan_edits(source, wanted, reframe, trim, options)
    info, span = edits.info, edits.span
    transcript = trimmed(transcript, span)  # cues are timed on the source; the outputs start at the cut
    # the cores x264 sees (its default threads, and memory, grow with them), whatever the CPU quota
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    # a budget even one output cannot fit fails here
    brand_encoders(info, brands, wanted, options, cpus, reframe)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the kept range's sound is measured (audio only) while its picture is analysed: the gain goes into
        # the render's single pass
        sound = pool.submit(_source_loudness, binary, info, brands, options, span)
        # once, for every brand and shape; on the frames the reframe decoded, if it did
        scene = analyse_scene(info, span=span, decoded=edits.decoded) if needs_scene(brands) else None
        cover_time = (
            clamp_cover_time(cover_at, info.duration, info.fps)
            if cover_at is not None
            else choose_cover_time(info, span[0] if span else 0.0)
        )
        before, makeup = sound.result()
    with tempfile.TemporaryDirectory(prefix="wtf-overlays-") as work:
        plan = plan_render(
            info, brands, wanted, out_dir, safe_stem(stem or source.stem), Path(work),
            measure_art(brand_arts(brands, overrides)), options, temp_tag=secrets.token_hex(4),
            reframe=reframe, loudness=before, makeup_db=makeup, scene=scene, cpus=cpus, follow=edits.follow,
            span=span, overrides=overrides, transcript=transcript, cover_at=cover_time,
        )  # fmt: skip
        out_dir.mkdir(parents=True, exist_ok=True)
        _draw_overlays(plan)
        try:
            _run_batches(binary, plan, options, report, cancel)
            rendered = [_verify(output, plan, before) for output in plan.outputs]
            for output in plan.outputs:
                _place_cover(output, cover_time)
                os.replace(output.temp_path, output.path)
                if output.sidecar is not None:
                    _write_sidecar(output.sidecar, transcript)
        except BaseException:
            for output in plan.outputs:
                for temp in (output.temp_path, output.cover_temp):
                    if temp is not None:
                        temp.unlink(missing_ok=True)
            raise
    report("rendering", 100.0)
    done = edits.as_dict(reframe)
    return [
        replace(
            r,
            path=output.path,
            placements=_placements(output),
            edits=done,
            cover=output.cover_path,
            cover_at=cover_time,
            captions=output.sidecar,
        )
        for r, output in zip(rendered, plan.outputs, strict=True)
    ]


def _place_cover(output: OutputPlan, at: float) -> None:
    """The cover the render pass wrote, renamed into place beside its output; RenderError if it has none."""
    temp = output.cover_temp
    if temp is None or not temp.is_file() or temp.stat().st_size == 0:
        raise RenderError(f"output for brand {output.brand!r} has no frame at {at:.2f} s for its cover")
    os.replace(temp, output.cover_path)


def _placements(output: OutputPlan) -> tuple[dict, ...]:
    """Where each overlay at position \"auto\" went and why (its index in the output's drawing order)."""
    return tuple(
        {"overlay": index, **overlay.auto.as_dict()}
        for index, overlay in enumerate(output.overlays)
        if overlay.auto
    )


def _source_loudness(
    binary: Path,
    info: MediaInfo,
    brands: Sequence[Brand],
    options: EngineOptions,
    span: tuple[float, float] | None = None,
) -> tuple[Loudness | None, dict[float, float]]:
    """The loudness of the source's kept `span` and each limited target's make-up gain (None, {}: nothing
    to measure)."""
    if not (info.has_audio and wants_loudness(brands, options)):
        return None, {}
    before = _loudness(binary, source_loudness_args(info, span=span))
    return before, _limiter_makeup(binary, info, before, brands, options, span)


def _limiter_makeup(
    binary: Path,
    info: MediaInfo,
    before: Loudness,
    brands: Sequence[Brand],
    options: EngineOptions,
    span: tuple[float, float] | None,
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
            corrected = makeup_needed(gain, _loudness(binary, source_loudness_args(info, gain, span)), makeup)
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
    captions: tuple[int, int, int, int] | None = None  # (x, y, w, h) the captions can take, if drawn


def render_preview(
    brand: Brand,
    preset: str,
    options: EngineOptions = ENGINE_DEFAULTS,
    source: Path | None = None,
    *,
    at: float | None = None,
    reframe: Reframe = DEFAULT_REFRAME,
    overrides: Sequence[LayerOverride] = (),
    sample_captions: bool = False,
) -> PreviewStill:
    """A JPEG still, at the preset's size, of the brand's overlays on a generated frame or on the frame of
    `source` (a user's clip) at `at` seconds (its middle by default), through the same plan as a render
    (the same framing and a review's `overrides`); `sample_captions`: with a sample caption where the
    brand's captions would go (`plan_preview`)."""
    binary = usable_ffmpeg(options.ffmpeg_path)
    info = probe_media(source, options.source_limits) if source is not None else None
    with tempfile.TemporaryDirectory(prefix="wtf-preview-") as work:
        still = Path(work) / "preview.jpg"
        sizes = measure_art(brand_arts([brand], overrides))
        plan, args = plan_preview(
            brand, preset, Path(work), sizes, still, info, at=at, reframe=reframe, overrides=overrides,
            sample_captions=sample_captions,
        )  # fmt: skip
        _draw_overlays(plan)
        run_ffmpeg(binary, args, duration=plan.duration, timeout=PREVIEW_TIMEOUT_S)
        rects = tuple((o.x, o.y, o.width, o.height) for o in plan.overlays)
        [output] = plan.outputs
        band = output.captions.band if output.captions is not None else None
        return PreviewStill(still.read_bytes(), plan.width, plan.height, rects, band)


def ffmpeg_report(options: EngineOptions = ENGINE_DEFAULTS) -> dict:
    """Which FFmpeg is used, its version, and what it lacks (for /api/debug/ffmpeg)."""
    try:
        return dict(capabilities(locate_ffmpeg(options.ffmpeg_path)))
    except EngineError as exc:
        return {"path": options.ffmpeg_path, "version": None, "missing": [], "ok": False, "error": str(exc)}
