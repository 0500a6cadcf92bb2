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

# AVColorTransferCharacteristic values that mean HDR.
TRC_PQ = 16  # SMPTE ST 2084
TRC_HLG = 18  # ARIB STD-B67
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
# Rates further apart than this between the container's average and the stream's base rate mean VFR.
VFR_TOLERANCE = 0.02
MAX_OUTPUT_FPS = 60.0


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
    has_audio: bool
    audio_channels: int
    audio_sample_rate: int

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
    if not container.streams.video:
        if container.streams.audio:
            raise NoVideoStreamError(f"{path}: has audio but no video stream")
        raise NoVideoStreamError(f"{path}: has no video stream")
    stream = container.streams.video[0]
    codec = stream.codec_context
    if codec.name in STILL_IMAGE_CODECS and (
        container.format.name.endswith(IMAGE_DEMUXERS) or (stream.frames or 0) <= 1
    ):
        raise StillImageError(f"{path}: is a still image ({codec.name}), not a video")

    try:
        first = next(container.decode(stream))
    except (StopIteration, av.error.FFmpegError) as exc:
        raise UnreadableSourceError(f"{path}: no video frame can be decoded ({exc or 'no frames'})") from None

    rotation = round(first.rotation or 0) % 360
    sar = Fraction(stream.sample_aspect_ratio or 1) or Fraction(1)
    width, height = first.width, first.height
    display_width = max(2, round(width * sar)) if sar != 1 else width
    if rotation in (90, 270):
        display_width, height = height, display_width

    duration = _duration(container, stream)
    if duration <= 0:
        raise UnreadableSourceError(f"{path}: duration cannot be determined (truncated?)")
    declared_fps, vfr = _frame_rate(stream, duration)

    trc = codec.color_trc
    hdr: Literal["pq", "hlg"] | None = "pq" if trc == TRC_PQ else "hlg" if trc == TRC_HLG else None
    audio = container.streams.audio[0] if container.streams.audio else None
    return MediaInfo(
        path=path,
        width=display_width,
        height=height,
        coded_width=width,
        coded_height=first.height,
        rotation=rotation,
        sar=sar,
        fps=min(declared_fps, MAX_OUTPUT_FPS),
        declared_fps=declared_fps,
        variable_frame_rate=vfr,
        duration=duration,
        bit_depth=max(component.bits for component in first.format.components),
        pix_fmt=first.format.name,
        video_codec=codec.name,
        hdr=hdr,
        color_matrix=int(codec.colorspace or 2),
        has_audio=audio is not None,
        audio_channels=audio.codec_context.channels if audio else 0,
        audio_sample_rate=audio.codec_context.sample_rate if audio else 0,
    )


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if container.duration:
        return container.duration / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return 0.0


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
