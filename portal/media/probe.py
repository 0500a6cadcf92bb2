"""What a source really is, read with PyAV: displayed size, rate, duration, depth, HDR, audio.

A source is untrusted: a few KB can declare tens of millions of samples, and the demuxer builds its index
from what is declared. So `probe_media` reads it in a child Python with an address-space and CPU limit
(`SourceLimits`), waiting for it without blocking (under gevent the wait yields to other clients), and
refuses what it declares beyond the limits before a frame is decoded. Only self-contained containers are
opened: a playlist or concat list (which opens further files) is refused before its demuxer runs.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
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
    SourceError,
    SourceLimitError,
    SourceTooLongError,
    StillImageError,
    UnreadableSourceError,
    UnsupportedContainerError,
)
from portal.media.options import MAX_FPS, SOURCE_LIMITS, SourceLimits

# Demuxers a source may be read with (PyAV's names; a name matches any of a demuxer's aliases): files that
# hold their own media. Not hls, dash, concat, image2 sequences or any other that opens further files.
# Audio-only and picture formats are here so they are refused for what they are (no video, a still).
ALLOWED_DEMUXERS = (
    "mov",  # mov, mp4, m4a, 3gp, 3g2, mj2
    "matroska",  # matroska, webm
    "avi",
    "flv",
    "mpegts",
    "mpeg",
    "ogg",
    "asf",
    "gif",
    "mp3",
    "wav",
    "aac",
    "flac",
    "png_pipe",
    "jpeg_pipe",
    "webp_pipe",
    "bmp_pipe",
    "tiff_pipe",
)
_OPEN_OPTIONS = {
    "format_whitelist": ",".join(ALLOWED_DEMUXERS),
    "protocol_whitelist": "file",  # no network or other protocols from inside a file
}
# What a real video can declare (fixed: beyond these no camera or platform produces, and the demuxer's
# index and the decoder's buffers grow with them).
MAX_SOURCE_SIDE = 8192
MAX_SOURCE_PIXELS = 8192 * 4320  # 8K
MAX_DECLARED_FPS = 1000  # frames a second the header may claim (slow-motion phones record 960)
MAX_AUDIO_CHANNELS = 16
MAX_AUDIO_SAMPLE_RATE = 384_000
PROBE_EXIT_GRACE_S = 5  # wall time a probe child gets beyond its CPU limit before it is killed

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


def probe_media(path: Path | str, limits: SourceLimits = SOURCE_LIMITS) -> MediaInfo:
    """Read a source's facts in a bounded child process; raise a typed SourceError naming the file and the
    reason (SourceLimitError, never retried, for what is over a limit)."""
    path = Path(path)
    if not path.is_file():
        raise MissingSourceError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise EmptySourceError(f"{path}: the file is empty")
    command = [sys.executable, "-m", __name__, str(path), json.dumps(asdict(limits))]
    package_root = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    try:
        # subprocess is cooperative under gevent's monkey-patching: the web's other clients keep running
        done = subprocess.run(
            command, capture_output=True, env=env, timeout=limits.timeout_s + PROBE_EXIT_GRACE_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise _over_time(path, limits) from None
    return _answer(path, limits, done)


def _over_time(path: Path, limits: SourceLimits) -> SourceLimitError:
    return SourceLimitError(
        f"{path}: takes more than {limits.timeout_s} s to read (the limit WTF_PROBE_TIMEOUT_S)"
    )


def _answer(path: Path, limits: SourceLimits, done: subprocess.CompletedProcess) -> MediaInfo:
    """The child's JSON line: the facts, or the error it raised; a child killed by a limit is over it."""
    try:
        answer = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        answer = None
    if answer is None:
        if done.returncode < 0 or b"MemoryError" in done.stderr:  # killed: SIGXCPU, SIGKILL, SIGSEGV...
            raise SourceLimitError(
                f"{path}: takes too long or too much memory to read (limits WTF_PROBE_MEMORY_MB="
                f"{limits.memory_mb}, WTF_PROBE_TIMEOUT_S={limits.timeout_s})"
            )
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise UnreadableSourceError(f"{path}: cannot be read (the media reader failed: {last[:300]})")
    if "error" in answer:
        error_class = _SOURCE_ERRORS.get(answer["error"], UnreadableSourceError)
        raise error_class(answer["message"])
    answer["path"] = Path(answer["path"])
    answer["sar"] = Fraction(answer["sar"].replace(":", "/"))
    return MediaInfo(**answer)


_SOURCE_ERRORS: dict[str, type[SourceError]] = {
    error.__name__: error
    for error in (
        MissingSourceError,
        EmptySourceError,
        NotMediaError,
        StillImageError,
        NoVideoStreamError,
        UnreadableSourceError,
        UnsupportedContainerError,
        SourceLimitError,
        SourceTooLongError,
    )
}


def _probe_child(path: Path, limits: SourceLimits) -> dict:
    """Runs in the child, under its limits: the facts as a dict, or the error it raised."""
    memory = limits.memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.timeout_s, limits.timeout_s + 1))
    try:
        return read_media(path, limits).as_dict()
    except SourceError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    except MemoryError:
        return {
            "error": SourceLimitError.__name__,
            "message": f"{path}: needs more than {limits.memory_mb} MB to read (WTF_PROBE_MEMORY_MB)",
        }


def read_media(path: Path, limits: SourceLimits = SOURCE_LIMITS) -> MediaInfo:
    """The facts, read in this process: only the probe child calls it (it has no memory bound of its own)."""
    try:
        container = av.open(str(path), options=_OPEN_OPTIONS)
    except av.error.ArgumentError:  # the demuxer found is not on the allow-list
        raise UnsupportedContainerError(
            f"{path}: is not a self-contained video file (playlists, concat lists and image sequences are "
            f"refused; send an MP4, MOV, MKV, WebM, AVI, FLV, MPEG-TS or similar)"
        ) from None
    except av.error.InvalidDataError:
        raise NotMediaError(f"{path}: not a video file (unrecognised or truncated data)") from None
    except (av.error.MemoryError, MemoryError):
        raise MemoryError from None
    except (av.error.FFmpegError, OSError) as exc:
        raise UnreadableSourceError(f"{path}: cannot be read ({exc})") from None
    with container:
        _check_declared(path, container, limits)
        info = _inspect(path, container)
    if info.duration > limits.max_duration_s:
        raise _too_long(path, info.duration, limits)
    return info


def _too_long(path: Path, duration: float, limits: SourceLimits) -> SourceTooLongError:
    return SourceTooLongError(
        f"{path}: the video lasts {duration:.0f} s, over the limit of {limits.max_duration_s} s "
        "(WTF_MAX_DURATION_S)"
    )


def _check_declared(path: Path, container: av.container.InputContainer, limits: SourceLimits) -> None:
    """Refuse what the header claims beyond any real video, before anything is decoded.

    The duration is checked after reading (`read_media`): a container's span is not its content's when
    its streams run on different clocks (an Instagram stream stamped with the epoch).
    """
    for stream in container.streams:
        codec = stream.codec_context
        counted = int(stream.frames or 0)
        if stream.type == "video":
            width, height = int(codec.width or 0), int(codec.height or 0)
            if max(width, height) > MAX_SOURCE_SIDE or width * height > MAX_SOURCE_PIXELS:
                raise SourceLimitError(
                    f"{path}: declares a {width}x{height} picture, over the limit of {MAX_SOURCE_SIDE} px "
                    f"a side and {MAX_SOURCE_PIXELS} pixels"
                )
            most = limits.max_duration_s * MAX_DECLARED_FPS
        elif stream.type == "audio":
            channels, rate = int(codec.channels or 0), int(codec.sample_rate or 0)
            if channels > MAX_AUDIO_CHANNELS or rate > MAX_AUDIO_SAMPLE_RATE:
                raise SourceLimitError(
                    f"{path}: declares {channels} audio channels at {rate} Hz, over the limit of "
                    f"{MAX_AUDIO_CHANNELS} channels and {MAX_AUDIO_SAMPLE_RATE} Hz"
                )
            most = limits.max_duration_s * max(rate, 1)  # uncompressed audio: a frame per sample at most
        else:
            continue
        if counted > most:
            raise SourceLimitError(
                f"{path}: its {stream.type} track declares {counted} frames, more than "
                f"{limits.max_duration_s} s (WTF_MAX_DURATION_S) can hold ({most})"
            )


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
    stream.codec_context.thread_count = 1  # one frame is wanted: no per-core decoder threads and buffers
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


def _main() -> None:
    """The probe child: `python -m portal.media.probe PATH LIMITS_JSON`; one JSON line on stdout."""
    path, limits = Path(sys.argv[1]), SourceLimits(**json.loads(sys.argv[2]))
    print(json.dumps(_probe_child(path, limits)))


if __name__ == "__main__":
    _main()
