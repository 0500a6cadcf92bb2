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


class RenderTimeoutError(RenderError):
    code = "render_timeout"
    transient = True


class RenderCancelledError(EngineError):
    code = "cancelled"


class TrimError(EngineError):
    """The trim asks for a range the source does not have."""

    code = "bad_trim"
    status = 422
