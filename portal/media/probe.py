"""What a source really is, read in-process with PyAV: displayed size, rate, duration, depth, HDR, audio."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av

from portal.media.errors import (
    EmptySourceError,
    MissingSourceError,
    NotMediaError,
    NoVideoStreamError,
    StillImageError,
    UnreadableSourceError,
)
from portal.media.options import MAX_FPS

# AVColorTransferCharacteristic values that mean HDR.
TRC_PQ = 16  # SMPTE ST 2084
TRC_HLG = 18  # ARIB STD-B67
JPEG_RANGE = 2  # AVCOL_RANGE_JPEG: full-range samples
# Single-picture codecs: a file holding one of these as its only video is a still, not a clip.
STILL_IMAGE_CODECS = {
    "png",
    "mjpeg",
    "jpegls",
    "webp",
    "bmp",
    "gif",
    "tiff",
    "apng",
    "jpeg2000",
    "qoi",
    "ppm",
}
# Demuxers that only ever hold images.
IMAGE_DEMUXERS = ("_pipe", "image2")
# Data ending this much (and this fraction) before the header's duration means the file was cut short;
# smaller shortfalls are rendered, with the duration the data really has.
TRUNCATED_MIN_GAP_S = 0.5
TRUNCATED_MIN_GAP_FRACTION = 0.05
TAIL_READ_S = 1.0  # how much of the end is demuxed to find where the data really stops
# Rates further apart than this between the container's average and the stream's base rate mean VFR.
VFR_TOLERANCE = 0.02
# A variable-rate phone clip averaging 29.6 fps is a 30 fps clip that skipped frames: its outputs get the
# standard rate it was recorded at (what platforms and players expect), when the average is this close.
STANDARD_RATES = (24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 50.0, 60000 / 1001, 60.0)
STANDARD_RATE_TOLERANCE = 0.05
# Video and audio starting further apart than this run on different clocks (an Instagram stream stamped
# with the epoch, 1.7e9 s, muxed with one that starts at 0): each is rendered from its own start.
CLOCK_MISMATCH_S = 3600.0


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    width: int  # displayed, after rotation and sample aspect ratio
    height: int
    coded_width: int
    coded_height: int
    rotation: int  # degrees the player turns the picture: 0, 90, 180 or 270
    sar: Fraction
    fps: float  # the rate outputs should have: the source's, capped at 60
    declared_fps: float  # the source's own average rate, uncapped
    variable_frame_rate: bool
    duration: float
    bit_depth: int
    pix_fmt: str
    video_codec: str
    hdr: Literal["pq", "hlg"] | None
    color_matrix: int  # AVColorSpace of the source (1 = BT.709, 2 = unspecified)
    full_range: bool  # JPEG-range (0..255) luma, as some Android phones record; outputs are limited range
    interlaced: bool  # fields, as broadcast and DVD rips have: outputs are deinterlaced (progressive)
    video_index: int  # the stream rendered (not a cover picture or thumbnail track)
    has_audio: bool
    audio_index: int | None
    audio_channels: int
    audio_sample_rate: int
    align_streams: bool = False  # video and audio on different clocks: each starts at its own first frame

    @property
    def needs_rotation(self) -> bool:
        return self.rotation != 0

    def as_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        data["sar"] = f"{self.sar.numerator}:{self.sar.denominator}"
        return data


def probe_media(path: Path | str) -> MediaInfo:
    """Read a source's facts; raise a typed SourceError naming the file and the reason."""
    path = Path(path)
    if not path.is_file():
        raise MissingSourceError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise EmptySourceError(f"{path}: the file is empty")
    try:
        container = av.open(str(path))
    except av.error.InvalidDataError:
        raise NotMediaError(f"{path}: not a video file (unrecognised or truncated data)") from None
    except (av.error.FFmpegError, OSError) as exc:
        raise UnreadableSourceError(f"{path}: cannot be read ({exc})") from None
    with container:
        return _inspect(path, container)


def _inspect(path: Path, container: av.container.InputContainer) -> MediaInfo:
    stream = _main_video_stream(path, container)
    codec = stream.codec_context
    still_codec = codec.name in STILL_IMAGE_CODECS
    if still_codec and container.format.name.endswith(IMAGE_DEMUXERS):
        raise StillImageError(f"{path}: is a still image ({codec.name}), not a video")
    # A picture codec may also carry a clip (MJPEG in MKV/AVI, animated GIF): a clip has a second frame.
    frames = _first_frames(path, container, stream, 2 if still_codec else 1)
    if still_codec and len(frames) < 2:
        raise StillImageError(f"{path}: is a still image ({codec.name}), not a video")
    first = frames[0]

    rotation = round(first.rotation or 0) % 360
    sar = Fraction(stream.sample_aspect_ratio or 1) or Fraction(1)
    width, height = first.width, first.height
    display_width = max(2, round(width * sar)) if sar != 1 else width
    if rotation in (90, 270):
        display_width, height = height, display_width

    audio = container.streams.audio[0] if container.streams.audio else None
    align = audio is not None and _clocks_differ(stream, audio)
    duration = _content_duration(path, stream, audio) if align else _duration(path, container, stream)
    declared_fps, vfr = _frame_rate(stream, duration)

    trc = codec.color_trc
    hdr: Literal["pq", "hlg"] | None = "pq" if trc == TRC_PQ else "hlg" if trc == TRC_HLG else None
    return MediaInfo(
        path=path,
        width=display_width,
        height=height,
        coded_width=width,
        coded_height=first.height,
        rotation=rotation,
        sar=sar,
        fps=output_rate(declared_fps, vfr),
        declared_fps=declared_fps,
        variable_frame_rate=vfr,
        duration=duration,
        bit_depth=max(component.bits for component in first.format.components),
        pix_fmt=first.format.name,
        video_codec=codec.name,
        hdr=hdr,
        color_matrix=int(codec.colorspace or 2),
        full_range=codec.color_range == JPEG_RANGE or first.format.name.startswith("yuvj"),
        interlaced=bool(first.interlaced_frame),
        video_index=stream.index,
        has_audio=audio is not None,
        audio_index=audio.index if audio else None,
        audio_channels=audio.codec_context.channels if audio else 0,
        audio_sample_rate=audio.codec_context.sample_rate if audio else 0,
        align_streams=align,
    )


def _start_s(stream: av.stream.Stream) -> float | None:
    if stream.start_time is None or not stream.time_base:
        return None
    return float(stream.start_time * stream.time_base)


def _clocks_differ(video: av.stream.Stream, audio: av.stream.Stream) -> bool:
    starts = _start_s(video), _start_s(audio)
    return None not in starts and abs(starts[0] - starts[1]) > CLOCK_MISMATCH_S


def _content_duration(path: Path, video: av.stream.Stream, audio: av.stream.Stream) -> float:
    """The longest stream, each measured from its own first packet (the container's span is meaningless).

    Demuxes every packet of the two streams (no decoding): only for files whose clocks differ.
    """
    spans: dict[int, list[float]] = {}
    with av.open(str(path)) as container:
        streams = [container.streams[video.index], container.streams[audio.index]]
        for packet in container.demux(streams):
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None or not packet.time_base:
                continue
            start = float(stamp * packet.time_base)
            end = float((stamp + (packet.duration or 0)) * packet.time_base)
            span = spans.setdefault(packet.stream.index, [start, end])
            span[0], span[1] = min(span[0], start), max(span[1], end)
    if not spans:
        raise UnreadableSourceError(f"{path}: duration cannot be determined (no timestamps)")
    return max(end - start for start, end in spans.values())


def _main_video_stream(path: Path, container: av.container.InputContainer) -> av.video.stream.VideoStream:
    """The clip's own picture: not a cover image, and a moving codec before a picture one if both exist."""
    videos = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not videos:
        cover = " (only a cover picture)" if container.streams.video else ""
        if container.streams.audio:
            raise NoVideoStreamError(f"{path}: has audio but no video stream{cover}")
        raise NoVideoStreamError(f"{path}: has no video stream{cover}")
    moving = [s for s in videos if s.codec_context.name not in STILL_IMAGE_CODECS]
    return (moving or videos)[0]


def _first_frames(
    path: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream, count: int
) -> list[av.VideoFrame]:
    frames = []
    try:
        for frame in container.decode(stream):
            frames.append(frame)
            if len(frames) == count:
                break
    except av.error.FFmpegError as exc:
        if not frames:
            raise UnreadableSourceError(f"{path}: no video frame can be decoded ({exc})") from None
    if not frames:
        raise UnreadableSourceError(f"{path}: no video frame can be decoded (no frames)")
    return frames


def _duration(
    path: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float:
    """Seconds of media the file really holds; a file cut well short of its header raises."""
    if container.duration:
        declared = container.duration / av.time_base
    elif stream.duration and stream.time_base:
        declared = float(stream.duration * stream.time_base)
    else:
        declared = 0.0  # live recordings (browser MediaRecorder WebM) have no duration in their header
    end = _data_end(container, declared)
    if declared <= 0:
        if not end:
            raise UnreadableSourceError(f"{path}: duration cannot be determined (truncated?)")
        return end
    if end is None or end >= declared:
        return declared
    gap = declared - end
    if gap > TRUNCATED_MIN_GAP_S and gap > TRUNCATED_MIN_GAP_FRACTION * declared:
        raise UnreadableSourceError(
            f"{path}: is truncated (its data stops at {end:.2f} s of the {declared:.2f} s it declares)"
        )
    return end


def _data_end(container: av.container.InputContainer, declared: float) -> float | None:
    """Where the last audio or video packet ends, in seconds from the start; None if it cannot be read.

    Only the last second is demuxed (no decoding): cheap even for a long 4K file.
    """
    start = container.start_time or 0
    tail_from = declared - TAIL_READ_S if declared > 0 else 1e9  # no header: seek to the last keyframe
    end = None
    try:
        container.seek(start + max(0, int(tail_from * av.time_base)), backward=True)
        for packet in container.demux():
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None or packet.stream.type not in ("video", "audio") or not packet.time_base:
                continue
            packet_end = float((stamp + (packet.duration or 0)) * packet.time_base) - start / av.time_base
            end = packet_end if end is None else max(end, packet_end)
    except av.error.FFmpegError:
        return None
    return end


def output_rate(average: float, variable: bool) -> float:
    """The rate outputs get: the source's, capped at 60; a variable rate snaps to the nearest standard one."""
    rate = min(average, MAX_FPS)
    if variable:
        nearest = min(STANDARD_RATES, key=lambda standard: abs(standard - rate))
        if abs(nearest - rate) <= STANDARD_RATE_TOLERANCE * nearest:
            rate = nearest
    return round(rate, 3)


def _frame_rate(stream: av.video.stream.VideoStream, duration: float) -> tuple[float, bool]:
    """The source's average rate and whether it is variable-rate.

    A VFR phone clip has an average rate well below its timebase-derived base rate; outputs take the
    average so they neither drop nor duplicate much.
    """
    base = float(stream.base_rate or 0)
    average = float(stream.average_rate or 0)
    if not average and stream.frames and duration:
        average = stream.frames / duration
    rate = average or base or 30.0
    vfr = bool(base and average and abs(base - average) / base > VFR_TOLERANCE)
    if not math.isfinite(rate) or rate <= 0:
        rate = 30.0
    return round(rate, 3), vfr
