"""`wtf-portal`: render on a laptop, check brands, run the demo (and, for the service, serve and work).

Every user error is one line on stderr and exit code 2; a traceback at a user is a bug.
Service commands live in `portal.commands.service` and are added to the group here; what all commands share
(one-line errors, settings) is in `portal.commands.base`.
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import click

from portal.brand_loader import Brand, BrandConfig, BrandConfigError, check_brand_assets, load_brand_config
from portal.commands.base import USAGE_ERROR, PortalGroup, UserError, error_line, settings_or_exit
from portal.commands.service import SERVICE_COMMANDS
from portal.config import Settings
from portal.media.binary import locate_ffmpeg
from portal.media.errors import EngineError
from portal.media.options import (
    DEFAULT_FIT,
    FITS,
    FOLLOW_FALLBACKS,
    MAX_ZOOM,
    OutputFormat,
    Reframe,
    Trim,
    formats_from_choices,
    parse_anchor,
    parse_trim_range,
)
from portal.media.plan import PlanError, as_formats
from portal.media.recognize import recognize
from portal.media.transcript import (
    Cue,
    NoPlatformSubtitlesError,
    TranscriptError,
    checked_cues,
    fitted_cues,
    parse_subtitles,
)
from portal.video_processor import PRESETS, ProgressCallback, probe_media, render_source, safe_stem

# Signals that stop a render cleanly; the exit code is then the shell's 128 + signal number (130, 143).
STOP_SIGNALS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
LINK_SCHEMES = ("http://", "https://", "ftp://", "file://")


@click.group(cls=PortalGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wtf-portal")
def main() -> None:
    """WatchTheFall Orchestrator: one clip in, one ready-to-post MP4 per brand out."""


@dataclass
class SourceResult:
    source: str
    outputs: list[dict]
    error: dict | None

    @classmethod
    def failure(cls, source: str, code: str, reason: str) -> SourceResult:
        message = reason if source in reason else f"{source}: {reason}"
        return cls(source, [], {"source": source, "code": code, "message": message})


@dataclass
class RenderRun:
    """What the sources of one `render` call share: brands, destination, settings, cancel."""

    brands: list[Brand]
    out_dir: Path
    formats: list[OutputFormat]
    reframe: Reframe
    trim: Trim
    settings: Settings
    cancel: threading.Event = field(default_factory=threading.Event)
    stems: set[str] = field(default_factory=set)
    stopped_by: signal.Signals | None = None
    # --captions: a file's cues (checked against each source's length), "auto" (recognized per source) or
    # "platform" (each link's subtitles as its site offers them)
    captions: list[Cue] | Literal["auto", "platform"] = field(default_factory=list)

    def render(self, source: str, on_progress: ProgressCallback) -> SourceResult:
        if self.stopped_by:
            return SourceResult.failure(
                source, "cancelled", f"not rendered ({STOP_SIGNALS[self.stopped_by]})"
            )
        try:
            path, subtitles = self.local_path(source, on_progress)
            transcript = self.transcript(source, path, subtitles, on_progress)
            rendered = render_source(
                path, self.brands, self.out_dir, formats=self.formats, reframe=self.reframe, trim=self.trim,
                options=self.settings.engine_options(), stem=self.claim_stem(path),
                on_progress=on_progress, cancel=self.cancel, transcript=transcript,
            )  # fmt: skip
        except (EngineError, TranscriptError) as exc:  # NoPlatformSubtitlesError is an EngineError
            return SourceResult.failure(source, exc.code, str(exc).splitlines()[0])
        except OSError as exc:  # the machine's, not the engine's: e.g. the disk filled up during the rename
            return SourceResult.failure(source, "os_error", str(exc))
        outputs = [
            {"source": source, "brand": r.brand, "format": r.preset, "path": str(r.path),
             "width": r.width, "height": r.height, "duration": r.duration,
             "loudness": r.loudness.as_dict() if r.loudness else None,
             "placements": list(r.placements), "edits": r.edits,
             "captions": str(r.captions) if r.captions else None}
            for r in rendered
        ]  # fmt: skip
        return SourceResult(source, outputs, None)

    def transcript(
        self, source: str, path: Path, subtitles: str | None, on_progress: ProgressCallback
    ) -> list[Cue]:
        if self.captions == "platform":
            if subtitles is None:
                raise NoPlatformSubtitlesError(source)
            return fitted_cues(parse_subtitles(subtitles), probe_media(path).duration)
        if self.captions == "auto":
            options = self.settings.engine_options()
            return recognize(
                locate_ffmpeg(options.ffmpeg_path), path, engine=self.settings.captions_engine,
                model=self.settings.captions_model,
                glossary=[word for brand in self.brands for word in brand.glossary],
                on_fraction=lambda fraction: on_progress("recognizing", fraction * 100), cancel=self.cancel,
                timeout=options.timeout_s,
            )  # fmt: skip
        return checked_cues(self.captions, probe_media(path).duration) if self.captions else []

    def local_path(self, source: str, on_progress: ProgressCallback) -> tuple[Path, str | None]:
        """A file argument as is; a link downloaded (or reused) by portal.acquire.downloader first, with
        its site's subtitles when --captions platform wants them."""
        if not source.startswith(LINK_SCHEMES):
            return Path(source), None
        from portal.acquire.downloader import DownloadOptions, download

        options, wanted = DownloadOptions.from_settings(self.settings), self.captions == "platform"
        media = download(source, options, on_progress, self.cancel, subtitles=wanted)
        return media.path, media.subtitles

    def claim_stem(self, path: Path) -> str:
        """The file's stem, numbered if an earlier source of this run had it (a/clip.mp4, b/clip.mp4)."""
        base = stem = safe_stem(path.stem)
        number = 2
        while stem in self.stems:
            stem, number = f"{base}-{number}", number + 1
        self.stems.add(stem)
        return stem


def _trim_range(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[float, float | None]:
    """`--trim 2.5:14` as (start, end); an empty side is the clip's start or end."""
    try:
        return parse_trim_range(value) if value is not None else (0.0, None)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _anchor_point(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[float, float] | None:
    try:
        return parse_anchor(value) if value is not None else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--brand", "brand_ids", multiple=True, metavar="ID", help="A brand to render (repeatable).")
@click.option("--all-brands", is_flag=True, help="Render every brand in the config.")
@click.option(
    "--preset",
    "presets",
    type=click.Choice(PRESETS),
    multiple=True,
    help="A format (repeatable: every brand in each, named <stem>_<brand>_<preset>.mp4); default: source.",
)
@click.option("--fit", "fits", multiple=True, metavar="[PRESET=]FIT",
              help=f"How a source of another shape fills a format: {' or '.join(FITS)} (over a blurred copy "
                   f"of itself, cropped, or cropped by a window that follows the subject), for every preset, "
                   f"or PRESET=FIT for one (repeatable); "
                   f"default: {DEFAULT_FIT}.")  # fmt: skip
@click.option("--trim", "trim_range", metavar="START:END", callback=_trim_range,
              help="Keep only START to END seconds (either may be left out: 2.5:, :14).")  # fmt: skip
@click.option(
    "--trim-end-card", is_flag=True, help="Also cut a trailing card (a still tail after a hard cut)."
)
@click.option("--anchor", metavar="X,Y", callback=_anchor_point,
              help="Crop window's centre, fractions 0..1 of the picture (--fit crop or follow).")  # fmt: skip
@click.option("--zoom", type=click.FloatRange(1.0, MAX_ZOOM), default=1.0, show_default=True,
              help="A crop window this much tighter (with --fit crop or follow).")  # fmt: skip
@click.option("--follow-fallback", type=click.Choice(FOLLOW_FALLBACKS), default="crop", show_default=True,
              help="--fit follow, no subject found: a still crop window, or the blur.")  # fmt: skip
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="brand_config.json to use.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("."), show_default=True)
@click.option(
    "--captions",
    "captions_file",
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FILE.srt|FILE.vtt|auto|platform",
    help="Burn these captions in (brands with a captions layer) and write each output's .vtt: a file, "
    "'auto' (speech recognition) or 'platform' (each link's subtitles, as its site offers them).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with outputs and errors.")
def render(
    sources: tuple[str, ...],
    brand_ids: tuple[str, ...],
    all_brands: bool,
    presets: tuple[str, ...],
    fits: tuple[str, ...],
    trim_range: tuple[float, float | None],
    trim_end_card: bool,
    anchor: tuple[float, float] | None,
    zoom: float,
    follow_fallback: str,
    config_path: Path | None,
    out_dir: Path,
    captions_file: Path | None,
    as_json: bool,
) -> None:
    """Brand each SOURCE (a video file or a link) for every chosen brand."""
    captions = _read_captions(captions_file) if captions_file else []

    if bool(brand_ids) == all_brands:
        raise UserError("choose brands with --brand ID (repeatable) or --all-brands")
    try:
        formats = list(as_formats(formats_from_choices(list(dict.fromkeys(presets or ["source"])), fits)))
    except (ValueError, PlanError) as exc:
        raise UserError(f"--fit: {exc}") from None
    # the window (anchor, zoom) frames every format that crops: the reframe takes the first one's fit
    fit = next((item.fit for item in formats if item.fit != "blur"), DEFAULT_FIT)
    try:
        reframe = Reframe(fit, anchor, zoom, follow_fallback)  # type: ignore[arg-type]
        trim = Trim(*trim_range, end_card=trim_end_card)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    settings = settings_or_exit()
    brands = _select_brands(config_path or settings.brand_config, "all" if all_brands else list(brand_ids))
    _prepare_out_dir(out_dir)
    run = RenderRun(brands, out_dir, formats, reframe, trim, settings, captions=captions)
    with _stop_on_signals(run), _progress_display(enabled=not as_json) as progress_for:
        results = [run.render(source, progress_for(source)) for source in sources]
    outputs = [output for result in results for output in result.outputs]
    failed = [result for result in results if result.error]
    if as_json:
        click.echo(json.dumps({"outputs": outputs, "errors": [result.error for result in failed]}, indent=2))
    else:
        for output in outputs:
            click.echo(
                f"{output['brand']}: {output['path']} ({output['width']}x{output['height']}, "
                f"{output['duration']:.2f} s)"
            )
    for result in failed:
        error_line(result.error["message"])
    if run.stopped_by:
        error_line(f"{STOP_SIGNALS[run.stopped_by]}; finished outputs were kept, nothing partial was left")
        sys.exit(128 + run.stopped_by)
    if failed:
        sys.exit(USAGE_ERROR)


def _read_captions(path: Path) -> list[Cue] | Literal["auto", "platform"]:
    """The cues of an SRT or WebVTT file ("auto": recognition; "platform": each link's site's subtitles),
    or a one-line UserError naming the file and the problem."""
    if str(path) == "auto":
        return "auto"
    if str(path) == "platform":
        return "platform"
    try:
        return parse_subtitles(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--captions {path}: cannot read it ({exc})") from None
    except TranscriptError as exc:
        raise UserError(f"--captions {path}: {exc.message}") from None


def _select_brands(config_path: Path, ids: list[str] | str) -> list[Brand]:
    """The chosen brands, with their logo and watermark files checked before any work starts."""
    try:
        config = load_brand_config(config_path)
        brands = config.select(ids)
    except BrandConfigError as exc:
        raise UserError(str(exc)) from None
    if not brands:
        raise UserError(f"{config_path}: the config has no brands")
    problems = check_brand_assets(config.model_copy(update={"brands": {b.id: b for b in brands}}))
    if problems:
        more = f" (and {len(problems) - 1} more: wtf-portal brands check)" if len(problems) > 1 else ""
        raise UserError(f"{config_path}: {problems[0]}{more}")
    return brands


def _prepare_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir}: is a file, not a folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--out {out_dir}: cannot create the folder ({exc.strerror})") from None


@contextmanager
def _stop_on_signals(run: RenderRun) -> Iterator[None]:
    """Ctrl-C or SIGTERM (e.g. from `timeout`) cancels the render, so the engine kills FFmpeg and removes
    its temp files; a second signal aborts at once.

    Without this, KeyboardInterrupt would unwind past FFmpeg, which runs in its own session and so never
    sees the terminal's SIGINT, and SIGTERM would end Python with FFmpeg's `.part` files left in --out.
    """

    def on_signal(signum: int, frame: object) -> None:
        if run.stopped_by:
            raise KeyboardInterrupt
        run.stopped_by = signal.Signals(signum)
        # set() from another thread: the handler may run while this thread holds the event's lock
        threading.Thread(target=run.cancel.set, daemon=True).start()

    previous = {signum: signal.signal(signum, on_signal) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def _progress_display(enabled: bool) -> Iterator[Callable[[str], ProgressCallback]]:
    """A rich bar per source when stderr is a terminal, else a plain line per 10%; nothing for --json.

    Progress goes to stderr so that stdout holds only the results (and is safe to redirect).
    """
    if enabled and sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
            console=Console(stderr=True),
        ) as bars:  # fmt: skip

            def for_source(source: str) -> ProgressCallback:
                name = Path(source).name
                task = bars.add_task(name, total=100)
                return lambda stage, percent: bars.update(
                    task, completed=percent, description=f"{name} {stage}"
                )

            yield for_source
        return

    def plain(source: str) -> ProgressCallback:
        shown: dict[str, float] = {}

        def report(stage: str, percent: float) -> None:
            last = shown.get(stage)
            if enabled and (last is None or percent - last >= 10 or (percent >= 100 > last)):
                shown[stage] = percent
                click.echo(f"{source}: {stage} {percent:.0f}%", err=True)

        return report

    yield plain


@main.group()
def brands() -> None:
    """Brand configuration."""


def _checked_config(path: Path) -> BrandConfig:
    """The config at `path` if it and every image it names are usable; else one line per problem, exit 2."""
    try:
        config = load_brand_config(path)
    except BrandConfigError as exc:
        raise UserError(str(exc)) from None
    if not config.brands:
        raise UserError(f"{path}: the config has no brands")
    problems = check_brand_assets(config)
    for problem in problems:
        error_line(f"{path}: {problem}")
    if problems:
        sys.exit(USAGE_ERROR)
    return config


@brands.command("check")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="brand_config.json to check.")
def brands_check(config_path: Path | None) -> None:
    """Validate the brand config and every logo and watermark image."""
    config = _checked_config(config_path or settings_or_exit().brand_config)
    for brand in config.brands.values():
        zone = brand.safe_zone if isinstance(brand.safe_zone, str) else "custom"
        click.echo(f"ok  {brand.id:<20} {brand.name} (safe zone: {zone})")


@brands.command("publish")
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              help="brand_config.json to publish (default: WTF_BRAND_CONFIG).")  # fmt: skip
def brands_publish(config_path: Path | None) -> None:
    """Replace the bucket's brands (object storage) with a local config and its images, after checking it."""
    from portal.brands.store import BucketBrandStore, open_brand_store
    from portal.storage.objects import StorageError, open_storage

    settings = settings_or_exit()
    path = config_path or settings.brand_config
    if not settings.storage_url:
        raise UserError(f"WTF_STORAGE_URL is not set: every process reads {path} itself; nothing to publish")
    config = _checked_config(path)
    store = open_brand_store(settings, open_storage(settings))
    assert isinstance(store, BucketBrandStore)  # object storage keeps the brands in the bucket
    try:
        etag = store.publish(config)
    except StorageError as exc:
        raise UserError(str(exc)) from None
    click.echo(
        f"published {len(config.brands)} brands from {path} to {store.url} (ETag {etag}); "
        "the next job and the web use them"
    )


@brands.command("import-v3")
@click.argument("v3_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False), default="brand_config.json",
              show_default=True, help="Config to write; assets go beside it in <name>-assets/.")  # fmt: skip
def brands_import_v3(v3_dir: Path, out: Path) -> None:
    """Bring the brands of a WatchTheFall Orchestrator v3 checkout (V3_DIR), with their look."""
    from portal.brands.v3_import import V3ImportError, import_v3

    try:
        result = import_v3(v3_dir, out)
    except V3ImportError as exc:
        raise UserError(str(exc)) from None
    for outcome in result.outcomes:
        click.echo(str(outcome))
    if result.config_path is None:
        raise UserError(f"{v3_dir}: no brand could be imported; nothing written")
    click.echo(f"wrote {result.config_path} ({result.imported} brands); it passes 'wtf-portal brands check'")


def _frame_size(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)x(\d+)", value.lower())
    size = (int(match[1]), int(match[2])) if match else (0, 0)
    if not all(64 <= side <= 3840 and side % 2 == 0 for side in size):
        raise click.BadParameter(f"{value!r}: expected WIDTHxHEIGHT, even numbers from 64 to 3840")
    return size


@main.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Default: DATA_DIR/outputs/demo.")
@click.option("--seconds", type=click.FloatRange(0.5, 60), default=6.0, show_default=True)
@click.option("--size", default="1080x1920", show_default=True, callback=_frame_size,
              help="Sample clip size, WIDTHxHEIGHT.")  # fmt: skip
def demo(out_dir: Path | None, seconds: float, size: tuple[int, int]) -> None:
    """Make a sample clip with FFmpeg and brand it with every demo brand."""
    from portal.commands.demo import run_demo

    settings = settings_or_exit()
    brands = _select_brands(settings.brand_config, "all")
    out_dir = out_dir or settings.outputs_dir / "demo"
    _prepare_out_dir(out_dir)
    try:
        outputs = run_demo(settings.engine_options(), brands, out_dir, settings.temp_dir, seconds, size)
    except EngineError as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    click.echo(f"Demo: a {seconds:g} s {size[0]}x{size[1]} sample clip branded for {len(outputs)} brands:")
    for output in outputs:
        click.echo(
            f"  {output.brand:<14} {output.path}  ({output.width}x{output.height}, {output.duration:.2f} s)"
        )


for _command in SERVICE_COMMANDS:
    main.add_command(_command)
