"""What every `wtf-portal` command shares: one-line user errors (exit code 2) and the settings.

`portal.commands.cli` (the laptop commands and the root group) and `portal.commands.service` (serve,
worker, db, cleanup) both build on this, so neither imports the other's module for its side effects.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from portal.config import ConfigError, Settings, load_settings

USAGE_ERROR = 2


def error_line(message: str) -> None:
    click.echo(f"wtf-portal: {message}", err=True)


class UserError(click.ClickException):
    """A problem the user can fix: one line on stderr, exit code 2."""

    exit_code = USAGE_ERROR

    def show(self, file=None) -> None:
        error_line(self.format_message())


# click >= 8.2 shows the help of a group called with no arguments through this usage error
_NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    try:
        yield
    except click.UsageError as exc:
        if isinstance(exc, _NO_ARGS_IS_HELP):
            raise
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
        raise UserError(exc.format_message() + hint) from None


class PortalGroup(click.Group):
    """The root group. click prints usage errors as usage, hint and error; here they are one line too.

    Subcommands are parsed inside the root's invoke(), so this covers every command, including later ones.
    """

    def make_context(self, info_name, args, parent=None, **extra) -> click.Context:
        with _one_line_usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: click.Context):
        with _one_line_usage_errors():
            return super().invoke(ctx)


def settings_or_exit(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise UserError(str(exc)) from None
