"""Read an output back the way a platform's ingest would: streams, tags, boxes, pixels."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import pytest
from PIL import Image, ImageChops, ImageStat

BT709 = 1  # AVCOL_PRI_BT709 / AVCOL_TRC_BT709 / AVCOL_SPC_BT709


def top_level_boxes(path: Path) -> list[str]:
    """The MP4's top-level box types in file order (fast-start puts moov before mdat)."""
    boxes = []
    with path.open("rb") as handle:
        while header := handle.read(8):
            size, kind = struct.unpack(">I4s", header)
            if size == 1:
                size = struct.unpack(">Q", handle.read(8))[0] - 8
            boxes.append(kind.decode("latin-1"))
            if size == 0:
                break
            handle.seek(size - 8, 1)
    return boxes


def first_frame(path: Path, at: float = 0.0) -> av.VideoFrame:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is None or frame.time >= at:
                return frame
    raise AssertionError(f"{path}: no frame at {at}s")


def plane_means(path: Path) -> list[float]:
    """Mean Y, Cb, Cr of the first frame (4:4:4, so every plane has one value per pixel)."""
    frame = first_frame(path).reformat(format="yuv444p")
    return [sum(bytes(plane)) / len(bytes(plane)) for plane in frame.planes]


def luma_mean(frame: av.VideoFrame, box: tuple[int, int, int, int]) -> float:
    """Mean of the coded Y samples (16..235 for limited range) in box (left, top, right, bottom)."""
    plane = frame.planes[0]
    luma = Image.frombuffer("L", (frame.width, frame.height), bytes(plane), "raw", "L", plane.line_size, 1)
    return ImageStat.Stat(luma.crop(box)).mean[0]


def colour_bbox(image: Image.Image, rgb: tuple[int, int, int], tolerance: int = 60) -> tuple | None:
    """Bounding box (left, top, right, bottom) of the pixels close to `rgb`, or None."""
    bands = image.convert("RGB").split()
    masks = [
        band.point(lambda v, c=c: 255 if abs(v - c) <= tolerance else 0)
        for band, c in zip(bands, rgb, strict=True)
    ]
    mask = ImageChops.multiply(ImageChops.multiply(masks[0], masks[1]), masks[2])
    return mask.getbbox()


def describe(path: Path) -> dict:
    """The facts a user (or a platform) checks about a posted file."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        cc = video.codec_context
        audio = container.streams.audio[0] if container.streams.audio else None
        frame = next(container.decode(video=0))
        return {
            "codec": cc.name,
            "profile": video.profile,
            "pix_fmt": cc.format.name,
            "width": cc.width,
            "height": cc.height,
            "primaries": cc.color_primaries,
            "trc": cc.color_trc,
            "matrix": cc.colorspace,
            "rotation": frame.rotation,
            "interlaced": frame.interlaced_frame,
            "fps": float(video.average_rate or 0),
            "duration": container.duration / av.time_base,
            "audio_codec": audio.codec_context.name if audio else None,
            "audio_rate": audio.codec_context.sample_rate if audio else None,
            "audio_channels": audio.codec_context.channels if audio else None,
            "boxes": top_level_boxes(path),
        }


def assert_ready_to_post(path: Path, size: tuple[int, int], duration: float, fps: float, audio: bool) -> dict:
    """DESIGN 4.4, read back: H.264 High yuv420p BT.709, size, rate, duration, fast-start, AAC 48k stereo."""
    facts = describe(path)
    assert facts["codec"] == "h264" and facts["profile"] == "High"
    assert facts["pix_fmt"] == "yuv420p"
    assert (facts["primaries"], facts["trc"], facts["matrix"]) == (BT709, BT709, BT709)
    assert facts["rotation"] == 0 and not facts["interlaced"]
    assert (facts["width"], facts["height"]) == size
    assert facts["width"] % 2 == 0 and facts["height"] % 2 == 0
    assert facts["fps"] == pytest.approx(fps, rel=0.02) and fps <= 60
    assert abs(facts["duration"] - duration) <= 0.1
    assert facts["boxes"].index("moov") < facts["boxes"].index("mdat")
    if audio:
        assert (facts["audio_codec"], facts["audio_rate"], facts["audio_channels"]) == ("aac", 48000, 2)
    else:
        assert facts["audio_codec"] is None
    return facts
