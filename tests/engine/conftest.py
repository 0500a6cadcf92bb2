"""Engine fixtures: the awkward sources people really send, made once per session with FFmpeg."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from portal.brand_loader import Brand, parse_brand_config
from tests.mediagen import ffmpeg, make_clip

LOGO_RGB = (0, 255, 0)  # pure green: easy to find in a decoded frame, absent from the grey test sources

X265_PQ = "colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:log-level=error"
X265_HLG = "colorprim=bt2020:transfer=arib-std-b67:colormatrix=bt2020nc:log-level=error"


def _hdr(path: Path, params: str, trc: str, colour: str = "testsrc2") -> Path:
    source = "testsrc2=size=320x568:rate=30:duration=1" if colour == "testsrc2" else colour
    ffmpeg(
        "-f", "lavfi", "-i", source,
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
        "-vf", "format=yuv420p10le", "-c:v", "libx265", "-x265-params", params,
        "-color_primaries", "bt2020", "-color_trc", trc, "-colorspace", "bt2020nc",
        "-c:a", "aac", "-t", "1", str(path),
    )  # fmt: skip
    return path


def _rotated(path: Path, degrees: int, tmp: Path) -> Path:
    coded = make_clip(tmp / f"coded-{degrees}.mp4", width=568, height=320)
    ffmpeg("-display_rotation", str(degrees), "-i", str(coded), "-c", "copy", str(path))
    return path


def _full_range(path: Path) -> Path:
    """Black top half, white bottom half, in full-range samples (0 and 255) tagged as such."""
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=black:size=320x568:rate=30:duration=1",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
        "-vf", "drawbox=y=284:h=284:c=white:t=fill,scale=out_range=pc,format=yuv420p", "-color_range", "pc",
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(path),
    )  # fmt: skip
    return path


def _cover_first(path: Path, tmp: Path) -> Path:
    """An MKV whose first video track is a one-frame PNG (a thumbnail), the clip second."""
    cover = tmp / "cover.png"
    Image.new("RGB", (300, 300), "blue").save(cover)
    clip = make_clip(tmp / "clip-for-cover.mp4")
    ffmpeg("-i", str(cover), "-i", str(clip), "-map", "0", "-map", "1", "-c", "copy", str(path))
    return path


def _live_webm(path: Path) -> Path:
    """A WebM written as a live stream (as browsers' MediaRecorder does): no duration in its header."""
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x568:rate=30:duration=1",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1",
        "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus",
        "-live", "1", "-f", "webm", str(path),
    )  # fmt: skip
    return path


# A phone's 30 fps clip: one dropped frame a second and jittered timestamps on a 1/600 timebase (~29 fps).
PHONE_VFR_ARGS = (
    "-vf", "select='not(eq(mod(n\\,30)\\,7))',setpts='(N+0.3*sin(N*1.7))/29/TB'",
    "-fps_mode", "vfr", "-video_track_timescale", "600",
    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
)  # fmt: skip

# A PAL widescreen broadcast rip: interlaced fields, 720x576 with 64:45 pixels (shown 1024x576).
PAL_WIDE_ARGS = (
    "-vf", "setsar=64/45,setfield=tff", "-flags", "+ildct+ilme", "-x264-params", "tff=1",
    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
)  # fmt: skip

SOURCES: dict[str, Callable[[Path, Path], Path]] = {
    "rotate90": lambda p, tmp: _rotated(p, 90, tmp),
    "rotate270": lambda p, tmp: _rotated(p, 270, tmp),
    "hdr10_pq": lambda p, tmp: _hdr(p, X265_PQ, "smpte2084"),
    "hlg": lambda p, tmp: _hdr(p, X265_HLG, "arib-std-b67"),
    "odd_size": lambda p, tmp: make_clip(
        p.with_suffix(".mkv"),
        width=321,
        height=569,
        video_args=("-vf", "scale=321:569", "-c:v", "ffv1", "-pix_fmt", "yuv444p"),
        audio_args=("-c:a", "flac"),
    ),
    "vfr": lambda p, tmp: make_clip(
        p,
        duration=1.5,
        video_args=(
            "-vf",
            "select='lt(n,15)+not(mod(n,3))'",
            "-fps_mode",
            "vfr",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ),
    ),
    # a phone's 30 fps clip: a dropped frame and jittered timestamps on a 1/600 timebase, ~29 fps average
    "vfr_phone": lambda p, tmp: make_clip(p, duration=2, video_args=PHONE_VFR_ARGS),
    "no_audio": lambda p, tmp: make_clip(p, audio=False),
    "mono_mp3_44k": lambda p, tmp: make_clip(
        p.with_suffix(".mkv"), audio_args=("-c:a", "libmp3lame", "-ar", "44100", "-ac", "1")
    ),
    "anamorphic_sd": lambda p, tmp: make_clip(
        p,
        width=720,
        height=480,
        video_args=(
            "-vf",
            "setsar=32/27",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-colorspace",
            "smpte170m",
            "-color_primaries",
            "smpte170m",
            "-color_trc",
            "smpte170m",
        ),
    ),
    "interlaced_pal_wide": lambda p, tmp: make_clip(
        p, width=720, height=576, fps=25, video_args=PAL_WIDE_ARGS
    ),
    "very_short": lambda p, tmp: make_clip(p, duration=0.2),
    "hfr_120": lambda p, tmp: make_clip(p, fps=120, duration=0.5),
    "uhd_4k60": lambda p, tmp: make_clip(p, width=3840, height=2160, fps=60, duration=0.5),
    "full_range": lambda p, tmp: _full_range(p),
    "mjpeg_mkv": lambda p, tmp: make_clip(
        p.with_suffix(".mkv"), audio=False, video_args=("-c:v", "mjpeg", "-pix_fmt", "yuvj420p")
    ),
    "cover_first_mkv": lambda p, tmp: _cover_first(p.with_suffix(".mkv"), tmp),
    "live_webm": lambda p, tmp: _live_webm(p.with_suffix(".webm")),
}


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """source(name) -> a path to that awkward source, generated on first use."""
    folder = tmp_path_factory.mktemp("sources")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = SOURCES[name](folder / f"{name}.mp4", folder)
        return made[name]

    return get


@pytest.fixture(scope="session")
def logo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("assets") / "logo.png"
    Image.new("RGBA", (200, 100), (*LOGO_RGB, 255)).save(path)
    return path


def make_brands(logo: Path, **zones: str) -> list[Brand]:
    """One brand per keyword: id=safe zone; each has the solid logo top-right and a text handle."""
    config = parse_brand_config(
        {
            "brands": {
                brand_id: {
                    "name": brand_id.title(),
                    "logo": {"path": str(logo), "position": "top-right", "width": 0.2, "opacity": 1.0},
                    "watermark": {"text": f"@{brand_id}", "position": "bottom-left"},
                    "safe_zone": zone,
                }
                for brand_id, zone in zones.items()
            }
        },
        logo.parent,
    )
    return list(config.brands.values())


@pytest.fixture(scope="session")
def two_brands(logo: Path) -> list[Brand]:
    return make_brands(logo, tiktokbrand="tiktok", reelsbrand="reels")
