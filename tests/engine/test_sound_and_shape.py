"""Issue 17: loudness to the target in the render's one pass, 4:5 portrait, crop-to-fill, epoch timestamps.

Loudness is read back with FFmpeg's `loudnorm` analysis (an EBU R128 meter other than the `ebur128` filter
the engine measures with), on the outputs as written.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from portal.media.binary import locate_ffmpeg
from portal.media.options import EngineOptions, Reframe
from portal.video_processor import probe_media, render_source
from tests.engine.conftest import make_brands
from tests.engine.inspect_output import assert_ready_to_post, first_frame, luma_mean
from tests.mediagen import ffmpeg

SECONDS = 4  # long enough for R128's 400 ms gating blocks to settle
TARGET = -14.0


def read_loudness(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBTP) of a file's first audio stream, by loudnorm's own meter."""
    result = subprocess.run(
        [str(locate_ffmpeg()), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0",
         "-af", "loudnorm=print_format=json", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    start = result.stderr.rindex("{")
    report = json.loads(result.stderr[start : result.stderr.index("}", start) + 1])
    return float(report["input_i"]), float(report["input_tp"])


def clip_with_sound(path: Path, audio: str, layout: str = "stereo") -> Path:
    """A 320x568 clip whose sound is the aevalsrc expression(s) `audio`."""
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=320x568:rate=30:duration={SECONDS}",
        "-f", "lavfi", "-i", f"aevalsrc={audio}:s=48000:d={SECONDS}:c={layout}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "256k",
        "-t", str(SECONDS), str(path),
    )  # fmt: skip
    return path


def tone(dbfs: float, hz: int = 997) -> str:
    return f"{10 ** (dbfs / 20):.5f}*sin(2*PI*{hz}*t)"


# name -> (sound, channel layout, the source's loudness within 2 LU, whether the limiter must work)
SOUNDS = {
    "quiet_-30": ("|".join([tone(-30)] * 2), "stereo", -30, False),
    "loud_-5": ("|".join([tone(-5)] * 2), "stereo", -5, False),
    # five different tones and a low one in the LFE: measured (and rendered) as the stereo downmix
    "surround_5.1": ("|".join(tone(-26, hz) for hz in (300, 500, 700, 900, 60, 1100)), "5.1", None, False),
    # quiet speech-like tone with a bang every half second: a plain +gain would clip the bangs
    "quiet_with_bangs": (
        "|".join([tone(-34) + "+if(lt(mod(t\\,0.5)\\,0.004)\\,0.9\\,0)"] * 2),
        "stereo",
        None,
        True,
    ),
}


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sounds")
    return {
        name: clip_with_sound(folder / f"{name}.mp4", audio, layout)
        for name, (audio, layout, _level, _limited) in SOUNDS.items()
    }


@pytest.mark.parametrize("name", SOUNDS)
def test_every_output_lands_within_1_lu_of_the_target_with_true_peak_under_minus_1(
    name: str, sounds, logo: Path, tmp_path: Path
) -> None:
    _audio, layout, level, limited = SOUNDS[name]
    source = sounds[name]
    if level is not None:
        assert read_loudness(source)[0] == pytest.approx(level, abs=2)  # the fixture is what it claims
    assert probe_media(source).audio_channels == (6 if layout == "5.1" else 2)
    brands = make_brands(logo, a="tiktok", b="reels")
    outputs = render_source(source, brands, tmp_path)
    for output in outputs:
        assert_ready_to_post(output.path, (320, 568), SECONDS, 30, audio=True)
        integrated, true_peak = read_loudness(output.path)
        assert integrated == pytest.approx(TARGET, abs=1.0)
        assert true_peak <= -1.0
        report = output.loudness
        assert report.target_lufs == TARGET and report.limited is limited
        assert report.after.integrated_lufs == pytest.approx(integrated, abs=0.5)
        if level is not None:
            assert report.before.integrated_lufs == pytest.approx(level, abs=2)


def test_a_brand_target_overrides_the_setting_and_off_keeps_the_source(sounds, logo: Path, tmp_path) -> None:
    quiet = sounds["quiet_-30"]
    own, keeps, default = make_brands(logo, own="none", keeps="none", default="none")
    own = own.model_copy(update={"loudness_lufs": -20.0})
    keeps = keeps.model_copy(update={"loudness_lufs": "off"})
    outputs = {o.brand: o for o in render_source(quiet, [own, keeps, default], tmp_path)}
    source_level = read_loudness(quiet)[0]
    assert read_loudness(outputs["own"].path)[0] == pytest.approx(-20, abs=1.0)
    assert read_loudness(outputs["keeps"].path)[0] == pytest.approx(source_level, abs=0.5)
    assert outputs["keeps"].loudness.target_lufs is None and outputs["keeps"].loudness.gain_db == 0
    assert read_loudness(outputs["default"].path)[0] == pytest.approx(TARGET, abs=1.0)


def test_loudness_off_measures_nothing_and_keeps_the_sound(sounds, logo: Path, tmp_path: Path) -> None:
    loud = sounds["loud_-5"]
    output = render_source(
        loud, make_brands(logo, a="none"), tmp_path, options=EngineOptions(loudness_lufs=None)
    )[0]
    assert output.loudness is None
    assert read_loudness(output.path)[0] == pytest.approx(read_loudness(loud)[0], abs=0.5)


def test_silence_and_no_sound_are_left_alone(source, logo: Path, tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=320x568:rate=30:duration={SECONDS}",
        "-f", "lavfi", "-i", f"anullsrc=r=48000:cl=stereo:d={SECONDS}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-t", str(SECONDS),
        str(silent),
    )  # fmt: skip
    brands = make_brands(logo, a="none")
    output = render_source(silent, brands, tmp_path / "silent")[0]
    assert output.loudness.target_lufs is None and output.loudness.gain_db == 0
    assert output.loudness.after.as_dict()["true_peak_dbtp"] is None  # -inf: digital silence stays silent
    assert not math.isfinite(output.loudness.after.true_peak_dbtp)
    mute = render_source(source("no_audio"), brands, tmp_path / "mute")[0]
    assert mute.loudness is None


LANDSCAPE_WHITE = ("-f", "lavfi", "-i", "color=c=white:size=568x320:rate=30:duration=1")


@pytest.mark.parametrize(("fit", "top_band_is_picture"), [("crop", True), ("blur", False)])
def test_portrait_is_4_5_and_crop_fills_it_with_the_picture_not_a_blurred_fill(
    fit: str, top_band_is_picture: bool, logo: Path, tmp_path: Path
) -> None:
    source = tmp_path / "white.mp4"
    ffmpeg(*LANDSCAPE_WHITE, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(source))
    brand = make_brands(logo, a="none")[0].model_copy(update={"logo": None, "watermark": None})
    output = render_source(source, [brand], tmp_path / fit, preset="portrait", reframe=Reframe(fit))[0]
    assert_ready_to_post(output.path, (1080, 1350), 1.0, 30, audio=False)
    frame = first_frame(output.path)
    top_band = luma_mean(frame, (0, 0, 1080, 200))  # a 16:9 picture fitted in 4:5 leaves ~370 rows above it
    if top_band_is_picture:
        assert top_band > 225 and luma_mean(frame, (0, 0, 1080, 1350)) > 225  # white edge to edge
    else:
        assert top_band < 160  # the darkened, blurred copy


@pytest.mark.parametrize("container", ["mp4", "mkv_clocks_apart"])
def test_a_source_stamped_with_an_epoch_start_renders_as_long_as_its_content(
    container: str, logo: Path, tmp_path: Path
) -> None:
    """Instagram stamps streams with the epoch (1.7e9 s); muxed with a stream that starts at 0, the
    container spans 54 years."""
    epoch = "1700000000"
    clip = tmp_path / "clip.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x568:rate=30:duration=2",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest",
        *(("-output_ts_offset", epoch) if container == "mp4" else ()), str(clip),
    )  # fmt: skip
    source = clip
    if container != "mp4":
        source = tmp_path / "apart.mkv"  # the video on the epoch clock, the sound from 0
        ffmpeg(
            "-itsoffset", epoch, "-i", str(clip), "-i", str(clip), "-map", "0:v", "-map", "1:a",
            "-c", "copy", "-copyts", str(source),
        )  # fmt: skip
    info = probe_media(source)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    output = render_source(source, make_brands(logo, a="none"), tmp_path / "out")[0]
    assert_ready_to_post(output.path, (320, 568), 2.0, 30, audio=True)
