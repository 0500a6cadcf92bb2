"""Every awkward source, rendered for two brands and read back as a platform would."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from PIL import Image

from portal.video_processor import probe_media, render_source
from tests.engine.inspect_output import (
    assert_ready_to_post,
    first_frame,
    luma_mean,
    plane_means,
)
from tests.mediagen import ffmpeg

# name -> (preset, expected output size, source has audio)
CASES = {
    "rotate90": ("source", (320, 568), True),
    "rotate270": ("source", (320, 568), True),
    "hdr10_pq": ("source", (320, 568), True),
    "hlg": ("vertical", (1080, 1920), True),
    "odd_size": ("source", (322, 570), True),
    "vfr": ("source", (320, 568), True),
    "vfr_phone": ("vertical", (1080, 1920), True),
    "no_audio": ("square", (1080, 1080), False),
    "mono_mp3_44k": ("source", (320, 568), True),
    "anamorphic_sd": ("source", (854, 480), True),
    "interlaced_pal_wide": ("source", (1024, 576), True),
    "very_short": ("landscape", (1920, 1080), True),
    "hfr_120": ("source", (320, 568), True),
    "uhd_4k60": ("source", (1920, 1080), True),
    "full_range": ("source", (320, 568), True),
    "mjpeg_mkv": ("source", (320, 568), False),
    "cover_first_mkv": ("source", (320, 568), True),
    "live_webm": ("source", (320, 568), True),
}


@pytest.mark.parametrize("name", CASES)
def test_source_renders_ready_to_post(name: str, source, two_brands, tmp_path: Path) -> None:
    preset, size, has_audio = CASES[name]
    src = source(name)
    info = probe_media(src)
    outputs = render_source(src, two_brands, tmp_path, preset=preset)

    assert [o.brand for o in outputs] == [b.id for b in two_brands]
    # each output and its cover, nothing else (no temporary file left)
    expected = [name for o in outputs for name in (o.path.name, o.path.with_suffix(".jpg").name)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(expected)
    for output in outputs:
        assert_ready_to_post(output.path, size, info.duration, info.fps, has_audio)
        assert (output.width, output.height) == size
        with Image.open(output.cover) as cover:
            assert cover.format == "JPEG" and cover.size == size


def test_probe_reads_displayed_geometry(source) -> None:
    assert (probe_media(source("rotate90")).width, probe_media(source("rotate90")).height) == (320, 568)
    assert probe_media(source("rotate270")).rotation in (90, 270)
    anamorphic = probe_media(source("anamorphic_sd"))
    assert (anamorphic.width, anamorphic.height) == (853, 480)
    assert probe_media(source("hdr10_pq")).hdr == "pq" and probe_media(source("hlg")).hdr == "hlg"
    assert probe_media(source("hdr10_pq")).bit_depth == 10
    assert probe_media(source("vfr")).variable_frame_rate
    assert probe_media(source("interlaced_pal_wide")).interlaced and not probe_media(source("vfr")).interlaced
    phone = probe_media(source("vfr_phone"))
    assert phone.variable_frame_rate and phone.declared_fps < 29.5 and phone.fps == pytest.approx(29.97)
    assert not probe_media(source("no_audio")).has_audio
    mono = probe_media(source("mono_mp3_44k"))
    assert (mono.audio_channels, mono.audio_sample_rate) == (1, 44100)
    assert probe_media(source("full_range")).full_range and not probe_media(source("no_audio")).full_range
    covered = probe_media(source("cover_first_mkv"))
    assert (covered.video_index, covered.video_codec, covered.audio_index) == (1, "h264", 2)
    assert probe_media(source("live_webm")).duration == pytest.approx(1.0, abs=0.05)


def test_full_range_source_is_converted_to_limited_range(source, two_brands, tmp_path: Path) -> None:
    """Full-range black (0) and white (255) must become 16 and 235, not be re-tagged (crushed, clipped)."""
    output = render_source(source("full_range"), two_brands[:1], tmp_path)[0]
    frame = first_frame(output.path)  # patches away from the logo and the handle:
    black, white = luma_mean(frame, (150, 190, 170, 210)), luma_mean(frame, (240, 340, 260, 360))
    assert black == pytest.approx(16, abs=3) and white == pytest.approx(235, abs=3)


@pytest.mark.parametrize("transfer", ["smpte2084", "arib-std-b67"])
def test_hdr_mid_grey_is_not_washed_out(transfer: str, two_brands, tmp_path: Path) -> None:
    """A mid-grey HDR patch stays mid-grey once tone-mapped.

    Measured for code value 0x80: engine Y 146 (PQ) and 122 (HLG); converting to BT.709 without a tone
    map gives 225 and 180 (near-white). The patch measured is clear of the overlays.
    """
    src = tmp_path / "grey.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=0x808080:size=320x568:rate=30:duration=0.5",
        "-vf", "format=yuv420p10le", "-c:v", "libx265",
        "-x265-params", f"colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc:log-level=error",
        "-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc", str(src),
    )  # fmt: skip
    output = render_source(src, two_brands[:1], tmp_path / "out")[0]
    grey = luma_mean(first_frame(output.path), (100, 190, 220, 260))
    assert 95 <= grey <= 170


@pytest.mark.parametrize("transfer", ["smpte2084", "arib-std-b67"])
def test_hdr_is_tone_mapped_not_retagged(transfer: str, two_brands, tmp_path: Path) -> None:
    """A saturated HDR (BT.2020) patch must be converted to BT.709 SDR, not passed through re-tagged.

    Re-tagging keeps the code values, so the colour comes out washed (measured: Cr 186 re-tagged vs 224
    to 245 converted, for both PQ and HLG).
    """
    src = tmp_path / "patch.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=0xC04020:size=320x568:rate=30:duration=0.5",
        "-vf", "format=yuv420p10le", "-c:v", "libx265",
        "-x265-params", f"colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc:log-level=error",
        "-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc", str(src),
    )  # fmt: skip
    retagged = tmp_path / "retagged.mp4"
    ffmpeg("-i", str(src), "-vf", "format=yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(retagged))
    rendered = render_source(src, two_brands[:1], tmp_path / "out")
    converted_cr, retagged_cr = plane_means(rendered[0].path)[2], plane_means(retagged)[2]
    # the brand's overlays cover a few percent of the frame; the patch dominates the mean
    assert converted_cr - retagged_cr > 20


def test_interlaced_fields_are_deinterlaced_not_left_combed(two_brands, tmp_path: Path) -> None:
    """A source whose two fields differ (top white, bottom black) must not come out as line stripes."""
    src = tmp_path / "fields.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=gray:size=320x240:rate=25:duration=0.4",
        "-vf", "geq=lum='if(mod(Y,2),16,235)':cb=128:cr=128,setfield=tff",
        "-flags", "+ildct+ilme", "-x264-params", "tff=1", "-c:v", "libx264", "-crf", "10",
        "-pix_fmt", "yuv420p", str(src),
    )  # fmt: skip
    frame = first_frame(render_source(src, two_brands[:1], tmp_path / "out")[0].path)
    rows = [luma_mean(frame, (100, y, 200, y + 1)) for y in range(100, 140)]
    combing = sum(abs(a - b) for a, b in pairwise(rows)) / (len(rows) - 1)
    assert combing < 20  # measured: ~0 deinterlaced, ~200 when the fields are passed through
