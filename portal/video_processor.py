"""The engine facade: probe -> plan -> run -> verify. No Flask, no database, no queue.

The CLI, the API and the worker all call `render_source`. It reports progress through a callback and
raises the typed errors of `portal.media.errors`; a reader of `out_dir` never sees half a file.
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av

from portal.brand_loader import Brand
from portal.media.binary import locate_ffmpeg
from portal.media.errors import EngineError, RenderError, RenderTimeoutError
from portal.media.ffmpeg import capabilities, run_ffmpeg, usable_ffmpeg
from portal.media.options import ENGINE_DEFAULTS, PRESETS, EngineOptions
from portal.media.overlays import measure_art, render_art
from portal.media.plan import RenderPlan, brand_arts, plan_preview, plan_render, safe_stem
from portal.media.probe import MediaInfo, probe_media

__all__ = [
    "PRESETS",
    "EngineOptions",
    "MediaInfo",
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


def render_source(
    source: Path,
    brands: Sequence[Brand],
    out_dir: Path,
    *,
    preset: str = "source",
    options: EngineOptions = ENGINE_DEFAULTS,
    stem: str | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> list[RenderedOutput]:
    """Render one output per brand from `source` into `out_dir` (see the module docstring)."""
    source = Path(source)
    binary = usable_ffmpeg(options.ffmpeg_path)
    info = probe_media(source)
    report = _ProgressReporter(on_progress)
    with tempfile.TemporaryDirectory(prefix="wtf-overlays-") as work:
        plan = plan_render(
            info, brands, preset, out_dir, safe_stem(stem or source.stem), Path(work),
            measure_art(brand_arts(brands)), options, temp_tag=secrets.token_hex(4),
        )  # fmt: skip
        out_dir.mkdir(parents=True, exist_ok=True)
        _draw_overlays(plan)
        try:
            _run_batches(binary, plan, options, report, cancel)
            rendered = [_verify(output.temp_path, output.brand, plan) for output in plan.outputs]
            for output in plan.outputs:
                os.replace(output.temp_path, output.path)
        except BaseException:
            for output in plan.outputs:
                output.temp_path.unlink(missing_ok=True)
            raise
    report("rendering", 100.0)
    return [
        RenderedOutput(r.brand, output.path, r.width, r.height, r.duration, r.size_bytes)
        for r, output in zip(rendered, plan.outputs, strict=True)
    ]


def _draw_overlays(plan: RenderPlan) -> None:
    for overlay in plan.overlays:
        render_art(overlay.art, overlay.width, overlay.height, overlay.png)


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


def _verify(path: Path, brand: str, plan: RenderPlan) -> RenderedOutput:
    """Read the output back: H.264 at the planned size and the source's duration, or RenderError."""
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
    if codec != "h264" or (width, height) != (plan.width, plan.height):
        raise RenderError(
            f"output for brand {brand!r} is {codec} {width}x{height}, "
            f"expected h264 {plan.width}x{plan.height}"
        )
    if abs(duration - plan.duration) > max(DURATION_TOLERANCE_S, 1.5 / plan.fps):
        raise RenderError(f"output for brand {brand!r} lasts {duration:.3f} s, source {plan.duration:.3f} s")
    return RenderedOutput(brand, path, width, height, round(duration, 3), path.stat().st_size)


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


def render_preview(brand: Brand, preset: str, options: EngineOptions = ENGINE_DEFAULTS) -> bytes:
    """A JPEG still, at the preset's size, of the brand's overlays on a generated frame (same plan)."""
    binary = usable_ffmpeg(options.ffmpeg_path)
    with tempfile.TemporaryDirectory(prefix="wtf-preview-") as work:
        still = Path(work) / "preview.jpg"
        plan, args = plan_preview(brand, preset, Path(work), measure_art(brand_arts([brand])), still)
        _draw_overlays(plan)
        run_ffmpeg(binary, args, duration=plan.duration, timeout=PREVIEW_TIMEOUT_S)
        return still.read_bytes()


def ffmpeg_report(options: EngineOptions = ENGINE_DEFAULTS) -> dict:
    """Which FFmpeg is used, its version, and what it lacks (for /api/debug/ffmpeg)."""
    try:
        return dict(capabilities(locate_ffmpeg(options.ffmpeg_path)))
    except EngineError as exc:
        return {"path": options.ffmpeg_path, "version": None, "missing": [], "ok": False, "error": str(exc)}
