"""Covers (DESIGN 4.11): a JPEG of each output at its size, the dashboard's poster and the ZIP's thumbnail.

The time is chosen once per source (`choose_cover_time`): among a few evenly spaced candidates away from the
first and last half second, a frame with a face wins, then the sharpest (the variance of its Laplacian: a
blurred or faded frame has few strong edges). The candidates are keyframes where the clip has them inside
its edges (only those are decoded), else the frames at evenly spaced times in one forward pass. Each
cover is then taken in the render pass (`plan.cover_select`): the frame at that time of each output's
finished picture, layers included, goes to a JPEG as it goes to the encoder; no output is decoded again.
"""

from __future__ import annotations

from collections.abc import Iterator

import av

from portal.media.frames import analysis_grey
from portal.media.placement import face_boxes
from portal.media.probe import MediaInfo

COVER_EDGE_S = 0.5  # a cover is never from the first or last half second (fades, black, a logo sting)
COVER_CANDIDATES = 5


def cover_candidates(duration: float) -> list[float]:
    """Evenly spaced times (seconds from the start) inside the clip less its edges; its middle if short."""
    usable = duration - 2 * COVER_EDGE_S
    if usable <= 0:
        return [duration / 2]
    return [COVER_EDGE_S + usable * (index + 0.5) / COVER_CANDIDATES for index in range(COVER_CANDIDATES)]


def clamp_cover_time(at: float, duration: float, fps: float) -> float:
    """A requested cover time inside the clip: at the latest, the last frame's."""
    return min(max(0.0, at), max(0.0, duration - 1 / (fps or 30)))


def choose_cover_time(info: MediaInfo, start: float = 0.0) -> float:
    """The engine's cover time for this source: a frame with a face if any, else the sharpest candidate.
    `start`: where a trimmed source's kept range (`info.duration` long) begins; the time is the output's,
    counted from there."""
    import cv2

    best: tuple[bool, float, float] | None = None
    for at, frame in _candidate_frames(info, start):
        grey = analysis_grey(frame, info)
        score = (len(face_boxes(grey)) > 0, float(cv2.Laplacian(grey, cv2.CV_64F).var()), -at)
        best = max(best, score) if best is not None else score
    return -best[2] if best is not None else info.duration / 2


def _candidate_frames(info: MediaInfo, start: float) -> Iterator[tuple[float, av.VideoFrame]]:
    """The candidates' frames: the keyframes nearest the evenly spaced times, where the clip has keyframes
    inside its edges (a keyframe alone is decoded: phone and platform clips have one every 1-4 s); else the
    frames at those times, decoded in one forward pass. A source that stops decoding gives what it gave."""
    wanted = cover_candidates(info.duration)
    try:
        with av.open(str(info.path)) as container:
            stream = container.streams[info.video_index]
            stream.thread_type = "AUTO"
            origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
            keys = _keyframe_times(container, stream, origin + start, info.duration)
            if keys:
                chosen = sorted({min(keys, key=lambda key: abs(key - at)) for at in wanted})
                stream.codec_context.skip_frame = "NONKEY"
                for at in chosen:
                    container.seek(
                        round((origin + start + at) / stream.time_base), stream=stream, backward=True
                    )
                    frame = next(container.decode(stream), None)
                    if frame is not None:
                        yield at, frame
            else:
                target = round((origin + start + wanted[0]) / stream.time_base)
                container.seek(target, stream=stream, backward=True)
                yield from _frames_at(container, stream, origin + start, wanted, info.fps)
    except av.error.FFmpegError:
        return


def _keyframe_times(
    container: av.container.InputContainer, stream: av.VideoStream, begin: float, duration: float
) -> list[float]:
    """The keyframes' times (seconds from `begin`) inside the clip less its edges, from the packets alone
    (nothing decoded)."""
    times = [
        float(packet.pts * stream.time_base) - begin
        for packet in container.demux(stream)
        if packet.is_keyframe and packet.pts is not None
    ]
    return sorted(t for t in times if COVER_EDGE_S <= t <= duration - COVER_EDGE_S)


def _frames_at(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    begin: float,
    times: list[float],
    fps: float,
) -> Iterator[tuple[float, av.VideoFrame]]:
    """The frame shown at each of `times` (seconds from `begin`, ascending), decoding forward from where the
    container is (a seek per time would decode a group of pictures each: on a clip with a keyframe every
    10 s, most of the clip five times over)."""
    pending = list(times)
    half_frame = 0.5 / (fps or 30)
    shown = None
    for frame in container.decode(stream):
        if frame.time is None:
            continue
        moment = frame.time - begin
        while pending and shown is not None and moment > pending[0] + half_frame:
            yield pending.pop(0), shown  # passed it: the frame before was on screen then
        if pending and moment >= pending[0] - half_frame:
            yield pending.pop(0), frame
        if not pending:
            return
        shown = frame
    if shown is not None:
        yield from ((at, shown) for at in pending)
