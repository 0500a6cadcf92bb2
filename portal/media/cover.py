"""Covers (DESIGN 4.11): a JPEG of each output at its size, the dashboard's poster and the ZIP's thumbnail.

The time is chosen once per source (`choose_cover_time`): among a few evenly spaced candidates away from the
first and last half second, a frame with a face wins, then the sharpest (the variance of its Laplacian: a
blurred or faded frame has few strong edges). Each cover is then read off the finished output itself
(`write_cover`: one seek, one group of pictures decoded), so it shows exactly what was rendered, layers
included, and the render's filter graph (and its memory model) stays as it is.
"""

from __future__ import annotations

import os
from pathlib import Path

import av

from portal.media.errors import RenderError
from portal.media.frames import analysis_grey
from portal.media.placement import face_boxes
from portal.media.probe import MediaInfo

COVER_EDGE_S = 0.5  # a cover is never from the first or last half second (fades, black, a logo sting)
COVER_CANDIDATES = 5
COVER_JPEG_QUALITY = 88  # Pillow's 1..95


def cover_candidates(duration: float) -> list[float]:
    """Evenly spaced times (seconds from the start) inside the clip less its edges; its middle if short."""
    usable = duration - 2 * COVER_EDGE_S
    if usable <= 0:
        return [duration / 2]
    return [COVER_EDGE_S + usable * (index + 0.5) / COVER_CANDIDATES for index in range(COVER_CANDIDATES)]


def clamp_cover_time(at: float, duration: float) -> float:
    """A requested cover time inside the clip (the last frame starts before its end)."""
    return min(max(0.0, at), max(0.0, duration - 0.05))


def choose_cover_time(info: MediaInfo, start: float = 0.0) -> float:
    """The engine's cover time for this source: a frame with a face if any, else the sharpest candidate.
    `start`: where a trimmed source's kept range (`info.duration` long) begins; the time is the output's,
    counted from there."""
    import cv2

    best: tuple[bool, float, float] | None = None
    try:
        with av.open(str(info.path)) as container:
            stream = container.streams[info.video_index]
            stream.thread_type = "AUTO"
            for at in cover_candidates(info.duration):
                frame = _frame_at(container, stream, start + at)
                if frame is None:
                    continue
                grey = analysis_grey(frame, info)
                score = (len(face_boxes(grey)) > 0, float(cv2.Laplacian(grey, cv2.CV_64F).var()), -at)
                best = max(best, score) if best is not None else score
    except av.error.FFmpegError:
        pass  # a source that stops decoding: the best of what it gave, else its middle
    return -best[2] if best is not None else info.duration / 2


def write_cover(video: Path, at: float, dest: Path) -> None:
    """The frame of `video` (an output) at `at` seconds as a JPEG at its size, written whole or not at all."""
    temp = dest.with_name(f".{dest.name}.part")
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            frame = _frame_at(container, stream, at)
            if frame is None:
                raise RenderError(f"{video.name} has no frame at {at:.2f} s for its cover")
            frame.to_image().save(temp, format="JPEG", quality=COVER_JPEG_QUALITY)
        os.replace(temp, dest)
    except av.error.FFmpegError as exc:
        raise RenderError(f"cannot read a cover from {video.name} ({exc})") from None
    finally:
        temp.unlink(missing_ok=True)


def _frame_at(
    container: av.container.InputContainer, stream: av.VideoStream, at: float
) -> av.VideoFrame | None:
    """The frame shown at `at` seconds from the stream's start: a seek, then decoding up to it."""
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    target = start + at
    container.seek(max(0, int(target / stream.time_base)), stream=stream, backward=True)
    half_frame = 0.5 / float(stream.average_rate or 30)
    last = None
    for frame in container.decode(stream):
        if frame.time is not None and frame.time > target + half_frame:
            return last or frame
        last = frame
        if frame.time is not None and frame.time >= target - half_frame:
            return frame
    return last
