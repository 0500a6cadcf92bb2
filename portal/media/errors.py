"""Typed errors of the engine. Each carries a stable `code` that the CLI, API and dashboard show."""

from __future__ import annotations

from portal.errors import PortalError


class EngineError(PortalError):
    """Base of everything the engine raises on purpose."""

    code = "engine_error"


class SourceError(EngineError):
    """The source file cannot be used; the message names the file and the reason."""

    code = "bad_source"
    status = 415  # an upload that is not a usable video

    @property
    def reason(self) -> str:
        """The message without the file it names (for naming the client's file or link instead)."""
        return self.message.split(": ", 1)[-1]


class MissingSourceError(SourceError):
    code = "not_found"


class EmptySourceError(SourceError):
    code = "empty_file"


class NotMediaError(SourceError):
    code = "not_media"


class StillImageError(SourceError):
    code = "still_image"


class NoVideoStreamError(SourceError):
    code = "no_video_stream"


class UnreadableSourceError(SourceError):
    code = "unreadable"


class UnsupportedContainerError(SourceError):
    """A format that is not a self-contained video file (a playlist, a concat list): it may open others."""

    code = "unsupported_container"


class SourceLimitError(SourceError):
    """The source declares or needs more than a limit allows (duration, size, counts, probe memory or time).

    Never transient: the same file is refused the same way on every try.
    """

    code = "over_limit"
    status = 413


class SourceTooLongError(SourceLimitError):
    """Longer than WTF_MAX_DURATION_S, by its header or by its data."""

    code = "too_long"


class FFmpegUnavailableError(EngineError):
    """No usable FFmpeg, or one that lacks a filter or encoder the engine needs."""

    code = "ffmpeg_unavailable"


class RenderError(EngineError):
    """FFmpeg failed; `stderr_tail` keeps its last lines."""

    code = "render_failed"

    def __init__(self, message: str, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.stderr_tail = stderr_tail

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n{self.stderr_tail}" if self.stderr_tail else base


class DiskFullError(RenderError):
    """The disk filled up while FFmpeg wrote (ENOSPC): not the source's fault; worth trying again later."""

    code = "disk_full"
    status = 507
    transient = True


class RenderTimeoutError(RenderError):
    code = "render_timeout"
    transient = True


class RenderCancelledError(EngineError):
    code = "cancelled"


class TrimError(EngineError):
    """The trim asks for a range the source does not have."""

    code = "bad_trim"
    status = 422
