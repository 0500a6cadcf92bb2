"""Which FFmpeg the engine uses: FFMPEG_PATH, else `ffmpeg` on PATH, else the imageio-ffmpeg wheel's."""

from __future__ import annotations

import shutil
from pathlib import Path

from portal.media.errors import FFmpegUnavailableError


def locate_ffmpeg(configured: str | None = None) -> Path:
    """Resolve the FFmpeg binary in the documented order, or raise naming what was tried."""
    if configured:
        found = shutil.which(configured)
        if not found:
            raise FFmpegUnavailableError(f"FFMPEG_PATH={configured} is not an executable file")
        return Path(found)
    on_path = shutil.which("ffmpeg")
    if on_path:
        return Path(on_path)
    try:
        import imageio_ffmpeg

        return Path(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        raise FFmpegUnavailableError(
            "no FFmpeg: FFMPEG_PATH is unset, 'ffmpeg' is not on PATH "
            f"and the imageio-ffmpeg wheel has none ({exc})"
        ) from None
