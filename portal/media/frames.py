"""Small grey frames of a source, decoded once for every analysis that looks at the picture.

`position: auto` (placement), `fit: follow` (reframe) and the end-card finder (trim) all look at the clip
as small grey frames in displayed orientation. `decode_span` decodes a span of the source once: every
frame gives a tiny thumbnail (its change from the frame before finds hard cuts to the frame), and a few
frames per second are kept at the analysis size. `keyframes` is the cheap look placement uses alone: only
keyframes, a handful of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import av

from portal.media.probe import MediaInfo

if TYPE_CHECKING:  # numpy is imported where a clip is analysed
    import numpy as np

ANALYSIS_LONG_SIDE = 640  # frames are scaled to this: a face 1/30 of the long side is still found
CELL_PX = 8  # analysis sizes are whole cells of this many pixels (placement's maps)
THUMB_SIZE = (64, 36)  # every frame, for its change from the one before: enough to see a cut, cheap
_TURNS = {0: 0, 90: 1, 180: 2, 270: 3}


@dataclass(frozen=True)
class FrameSpan:
    """What one decode of a span of the source saw. Times are seconds from the source's start."""

    times: tuple[float, ...]  # every decoded frame
    changes: tuple[float, ...]  # each frame's mean change from the frame before, 0..1 (the first: 0)
    samples: tuple[tuple[float, np.ndarray], ...]  # (time, grey frame at the analysis size), a few a second


def analysis_size(info: MediaInfo) -> tuple[int, int]:
    """The displayed picture scaled so its long side is ANALYSIS_LONG_SIDE."""
    scale = ANALYSIS_LONG_SIDE / max(info.width, info.height)
    return max(CELL_PX, round(info.width * scale)), max(CELL_PX, round(info.height * scale))


def decode_span(info: MediaInfo, start: float, end: float, sample_fps: float | None) -> FrameSpan:
    """Decode [start, end) of the source once: every frame's change, and `sample_fps` frames a second at
    the analysis size (none when `sample_fps` is None: only cuts and stills are looked for).

    A source that stops decoding gives what it gave: the analyses then work with less.
    """
    import cv2
    import numpy as np

    width, height = analysis_size(info)
    turns = _TURNS[info.rotation]
    times: list[float] = []
    changes: list[float] = []
    samples: list[tuple[float, np.ndarray]] = []
    previous = None
    next_sample = start
    try:
        with av.open(str(info.path)) as container:
            stream = container.streams[info.video_index]
            stream.thread_type = "AUTO"
            # no deblocking: a tenth of H.264's decoding, and detectors do not mind block edges
            stream.codec_context.options = {"skip_loop_filter": "all"}
            origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            if start > 0:
                container.seek(round((origin + start) / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                moment = frame.time - origin
                if moment < start - 1e-6:
                    continue
                if moment >= end - 1e-6:
                    break
                thumb = _thumbnail(frame).astype(np.float32) / 255
                changes.append(float(cv2.absdiff(thumb, previous).mean()) if previous is not None else 0.0)
                times.append(moment)
                previous = thumb
                if sample_fps and moment >= next_sample - 1e-6:
                    size = (height, width) if turns % 2 else (width, height)
                    grey = frame.to_ndarray(width=size[0], height=size[1], format="gray")
                    samples.append((moment, _upright(grey, turns)))
                    next_sample = moment + 1 / sample_fps
    except av.error.FFmpegError:
        pass
    return FrameSpan(tuple(times), tuple(changes), tuple(samples))


def keyframes(
    info: MediaInfo, samples: int, start: float = 0.0, end: float | None = None
) -> Iterator[np.ndarray]:
    """Grey frames at the analysis size: the keyframe at or before the middle of each of `samples` equal
    spans of [start, end), each one once.

    Only keyframes are decoded (a seek, then one frame): any other frame costs decoding its whole group of
    pictures, which on a long-GOP source is most of the clip. Phone and platform clips have a keyframe every
    1-4 s, so the samples spread over the clip; a clip with fewer keyframes gives fewer samples. A source
    that stops decoding gives the frames it gave.
    """
    end = info.duration if end is None else end
    seen: set[int | None] = set()
    try:
        with av.open(str(info.path)) as container:
            stream = container.streams[info.video_index]
            stream.thread_type = "AUTO"
            stream.codec_context.skip_frame = "NONKEY"
            origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            for index in range(samples):
                target = origin + start + (end - start) * (index + 0.5) / samples
                container.seek(round(target / stream.time_base), stream=stream, backward=True)
                frame = next(container.decode(stream), None)
                if frame is None or frame.pts in seen:
                    continue
                seen.add(frame.pts)
                yield analysis_grey(frame, info)
    except av.error.FFmpegError:
        return


def analysis_grey(frame: av.VideoFrame, info: MediaInfo) -> np.ndarray:
    """A decoded frame of `info`'s source, grey at the analysis size, in displayed orientation."""
    width, height = analysis_size(info)
    turns = _TURNS[info.rotation]
    coded_size = (height, width) if turns % 2 else (width, height)
    return _upright(frame.to_ndarray(width=coded_size[0], height=coded_size[1], format="gray"), turns)


# 8-bit formats whose first plane is the luma: their thumbnail is a strided view, no conversion at all
LUMA_FIRST = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21", "gray"}


def _thumbnail(frame: av.VideoFrame) -> np.ndarray:
    """About THUMB_SIZE grey samples of the frame (coded orientation: a change does not need turning).

    Every frame of the span passes here, so an 8-bit frame's luma plane is sampled in place (every n-th
    pixel of every n-th row); scaling each 1080p frame with swscale cost as much as decoding it.
    """
    import numpy as np

    if frame.format.name not in LUMA_FIRST:
        return frame.to_ndarray(width=THUMB_SIZE[0], height=THUMB_SIZE[1], format="gray")
    plane = frame.planes[0]
    luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]
    step_y, step_x = max(1, frame.height // THUMB_SIZE[1]), max(1, frame.width // THUMB_SIZE[0])
    return luma[::step_y, ::step_x]


def _upright(grey: np.ndarray, turns: int) -> np.ndarray:
    """A coded frame turned as the player shows it."""
    import numpy as np

    return np.ascontiguousarray(np.rot90(grey, turns)) if turns else grey
