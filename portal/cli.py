"""`wtf-portal`: render on a laptop, check brands, run the demo (and, for the service, serve and work).

Every user error is one line on stderr and exit code 2; a traceback at a user is a bug.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click

from portal.brand_loader import Brand, BrandConfigError, check_brand_assets, load_brand_config
from portal.config import ConfigError, Settings, load_settings
from portal.media.errors import EngineError
from portal.video_processor import PRESETS, EngineOptions, ProgressCallback, render_source

USAGE_ERROR = 2


class UserError(click.ClickException):
    """A problem the user can fix: one line on stderr, exit code 2."""

    exit_code = USAGE_ERROR

    def show(self, file=None) -> None:
        click.echo(f"wtf-portal: {self.format_message()}", err=True)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise UserError(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="wtf-portal")
def main() -> None:
    """WatchTheFall Orchestrator: one clip in, one ready-to-post MP4 per brand out."""


@dataclass
class SourceResult:
    source: str
    outputs: list[dict]
    error: dict | None


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--brand", "brand_ids", multiple=True, metavar="ID", help="A brand to render (repeatable).")
@click.option("--all-brands", is_flag=True, help="Render every brand in the config.")
@click.option("--preset", type=click.Choice(PRESETS), default="source", show_default=True)
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="brand_config.json to use.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=Path("."), show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with outputs and errors.")
def render(
    sources: tuple[str, ...],
    brand_ids: tuple[str, ...],
    all_brands: bool,
    preset: str,
    config_path: Path | None,
    out_dir: Path,
    as_json: bool,
) -> None:
    """Brand each SOURCE (a video file or a link) for every chosen brand."""
    if bool(brand_ids) == all_brands:
        raise UserError("choose brands with --brand ID (repeatable) or --all-brands")
    settings = settings_or_exit()
    brands = _select_brands(config_path or settings.brand_config, "all" if all_brands else list(brand_ids))
    results = []
    with _progress_display(enabled=not as_json) as progress_for:
        for source in sources:
            results.append(_render_one(source, brands, out_dir, preset, settings, progress_for(source)))
    failed = [result for result in results if result.error]
    if as_json:
        payload = {
            "outputs": [output for result in results for output in result.outputs],
            "errors": [result.error for result in failed],
        }
        click.echo(json.dumps(payload, indent=2))
    else:
        for result in results:
            for output in result.outputs:
                click.echo(
                    f"{output['brand']}: {output['path']} ({output['width']}x{output['height']}, "
                    f"{output['duration']:.2f} s)"
                )
    for result in failed:
        click.echo(f"wtf-portal: {result.error['message']}", err=True)
    if failed:
        sys.exit(USAGE_ERROR)


def _select_brands(config_path: Path, ids: list[str] | str) -> list[Brand]:
    try:
        return load_brand_config(config_path).select(ids)
    except BrandConfigError as exc:
        raise UserError(str(exc)) from None


def _local_source(source: str, settings: Settings, on_progress: ProgressCallback) -> Path:
    """A file argument as is; a link downloaded (or reused) by portal.downloader first."""
    if not source.startswith(("http://", "https://", "ftp://", "file://")):
        return Path(source)
    from portal.downloader import DownloadOptions, download

    return download(source, DownloadOptions.from_settings(settings), on_progress).path


def _render_one(
    source: str,
    brands: list[Brand],
    out_dir: Path,
    preset: str,
    settings: Settings,
    on_progress: ProgressCallback,
) -> SourceResult:
    options = EngineOptions.from_settings(settings)
    try:
        path = _local_source(source, settings, on_progress)
        rendered = render_source(
            path, brands, out_dir, preset=preset, options=options, on_progress=on_progress
        )
    except EngineError as exc:
        first_line = str(exc).splitlines()[0]
        message = first_line if source in first_line else f"{source}: {first_line}"
        return SourceResult(source, [], {"source": source, "code": exc.code, "message": message})
    outputs = [
        {
            "source": source,
            "brand": r.brand,
            "path": str(r.path),
            "width": r.width,
            "height": r.height,
            "duration": r.duration,
        }
        for r in rendered
    ]
    return SourceResult(source, outputs, None)


@contextmanager
def _progress_display(enabled: bool) -> Iterator[Callable[[str], ProgressCallback]]:
    """A rich progress bar per source on a terminal; plain lines every 10% otherwise; nothing for --json."""
    if enabled and sys.stderr.isatty():
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

        with Progress(
            TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
            console=None, transient=False,
        ) as bars:  # fmt: skip

            def for_source(source: str) -> ProgressCallback:
                task = bars.add_task(Path(source).name, total=100)
                return lambda stage, percent: bars.update(
                    task, completed=percent, description=f"{Path(source).name} {stage}"
                )

            yield for_source
        return

    def plain(source: str) -> ProgressCallback:
        shown: dict[str, float] = {}

        def report(stage: str, percent: float) -> None:
            if enabled and (
                percent - shown.get(stage, -10.0) >= 10 or (percent >= 100 > shown.get(stage, 0))
            ):
                shown[stage] = percent
                click.echo(f"{source}: {stage} {percent:.0f}%", err=True)

        return report

    yield plain


@main.group()
def brands() -> None:
    """Brand configuration."""


@brands.command("check")
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="brand_config.json to check.")
def brands_check(config_path: Path | None) -> None:
    """Validate the brand config and every logo and watermark image."""
    path = config_path or settings_or_exit().brand_config
    try:
        config = load_brand_config(path)
    except BrandConfigError as exc:
        raise UserError(str(exc)) from None
    problems = check_brand_assets(config)
    for problem in problems:
        click.echo(f"wtf-portal: {path}: {problem}", err=True)
    if problems:
        sys.exit(USAGE_ERROR)
    for brand in config.brands.values():
        zone = brand.safe_zone if isinstance(brand.safe_zone, str) else "custom"
        click.echo(f"ok  {brand.id:<20} {brand.name} (safe zone: {zone})")


@main.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Where the branded files go.")
@click.option("--seconds", type=click.FloatRange(0.5, 60), default=6.0, show_default=True)
@click.option("--size", default="1080x1920", show_default=True, help="Sample clip size, WIDTHxHEIGHT.")
def demo(out_dir: Path | None, seconds: float, size: str) -> None:
    """Make a sample clip with FFmpeg and brand it with every demo brand."""
    from portal.demo import run_demo

    settings = settings_or_exit()
    try:
        width, height = (int(part) for part in size.lower().split("x"))
    except ValueError:
        raise UserError(f"--size {size!r}: expected WIDTHxHEIGHT, e.g. 1080x1920") from None
    try:
        outputs = run_demo(settings, out_dir or settings.outputs_dir / "demo", seconds, (width, height))
    except (BrandConfigError, EngineError) as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    click.echo("Demo outputs:")
    for output in outputs:
        click.echo(
            f"  {output.brand:<14} {output.path}  ({output.width}x{output.height}, {output.duration:.2f} s)"
        )


# Service commands live in their own module; importing it registers them on `main`.
import portal.service  # noqa: E402, F401
