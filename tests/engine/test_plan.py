"""The plan is pure: these tests never run FFmpeg."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest
from PIL import Image

from portal.media.errors import EngineError
from portal.media.layers import OverlayArt
from portal.media.loudness import MAX_MAKEUP_DB, Loudness, makeup_needed, parse_summary, plan_gain
from portal.media.options import EngineOptions, Reframe
from portal.media.overlays import measure_art
from portal.media.plan import (
    TUNINGS,
    MemoryBudgetError,
    PlanError,
    brand_arts,
    estimate_peak_mb,
    job_stem,
    names_job,
    output_name,
    plan_encoders,
    plan_render,
    temp_glob,
    temp_name,
)
from portal.media.probe import MediaInfo, output_rate
from portal.media.safezone import SAFE_ZONE_PRESETS
from tests.engine.conftest import make_brands

PLAIN = MediaInfo(
    path=Path("clip.mp4"), width=1080, height=1920, coded_width=1080, coded_height=1920, rotation=0,
    sar=Fraction(1), fps=30.0, declared_fps=30.0, variable_frame_rate=False, duration=10.0, bit_depth=8,
    pix_fmt="yuv420p", video_codec="h264", hdr=None, color_matrix=1, full_range=False, interlaced=False,
    video_index=0, has_audio=True, audio_index=1, audio_channels=2, audio_sample_rate=48000,
)  # fmt: skip


def plan(info: MediaInfo, brands, preset: str = "source", memory_mb: int = 4096, **kwargs):
    """The plan as the facade makes it: art measured first, then handed over as sizes."""
    sizes = measure_art(brand_arts(brands))
    options = EngineOptions(memory_mb=memory_mb)
    return plan_render(info, brands, preset, Path("out"), "clip", Path("work"), sizes, options, **kwargs)


def test_plain_vertical_source_gets_no_needless_filters(two_brands) -> None:
    result = plan(PLAIN, two_brands)
    assert result.normalize_filters == ("setparams",)
    assert "aresample" not in result.batches[0].filter_graph
    assert len(result.batches) == 1 and "split=2" in result.batches[0].filter_graph


@pytest.mark.parametrize(("change", "expected"), [
    ({"hdr": "pq", "pix_fmt": "yuv420p10le", "bit_depth": 10}, {"zscale", "tonemap", "format"}),
    ({"variable_frame_rate": True, "fps": 29.5, "declared_fps": 29.5}, {"fps"}),
    ({"declared_fps": 120.0, "fps": 60.0}, {"fps"}),
    ({"coded_width": 720, "coded_height": 480, "width": 853, "height": 480, "sar": Fraction(32, 27),
      "color_matrix": 6}, {"scale", "setsar"}),
    ({"pix_fmt": "yuv422p10le"}, {"format"}),
    ({"interlaced": True}, {"bwdif"}),
])  # fmt: skip
def test_normalization_adds_only_what_the_source_needs(change: dict, expected: set, two_brands) -> None:
    result = plan(replace(PLAIN, **change), two_brands)
    assert expected <= set(result.normalize_filters)
    assert result.normalize_filters[-1] == "setparams"
    if "tonemap" not in expected:
        assert "tonemap" not in result.normalize_filters


@pytest.mark.parametrize(("average", "variable", "expected"), [
    (29.6, True, 29.97), (30.4, True, 30.0), (58.9, True, 59.94), (16.7, True, 16.7), (25.0, False, 25.0),
    (27.0, False, 27.0), (120.0, False, 60.0), (119.0, True, 60.0),
])  # fmt: skip
def test_output_rate_is_capped_and_a_variable_rate_snaps_to_a_standard_one(
    average, variable, expected
) -> None:
    assert output_rate(average, variable) == pytest.approx(expected, abs=0.001)


def test_sd_source_matrix_is_converted_to_bt709(two_brands) -> None:
    sd = replace(PLAIN, width=640, height=480, coded_width=640, coded_height=480, color_matrix=6)
    assert "out_color_matrix=bt709" in plan(sd, two_brands).batches[0].filter_graph


def test_landscape_into_vertical_fits_over_a_blurred_fill(two_brands) -> None:
    landscape = replace(PLAIN, width=1920, height=1080, coded_width=1920, coded_height=1080)
    result = plan(landscape, two_brands, "vertical")
    assert (result.width, result.height) == (1080, 1920)
    assert "fill" in result.normalize_filters
    graph = result.batches[0].filter_graph
    assert "boxblur" in graph and "lutyuv" in graph and "overlay=0:656" in graph  # 1080x608 centred


def test_source_preset_caps_long_side_and_keeps_even(two_brands) -> None:
    uhd = replace(PLAIN, width=3840, height=2160, coded_width=3840, coded_height=2160)
    assert (plan(uhd, two_brands).width, plan(uhd, two_brands).height) == (1920, 1080)
    odd = replace(PLAIN, width=321, height=569, coded_width=321, coded_height=569)
    assert (plan(odd, two_brands).width, plan(odd, two_brands).height) == (322, 570)


def test_rotated_source_is_not_rescaled(two_brands) -> None:
    rotated = replace(PLAIN, coded_width=1920, coded_height=1080, rotation=90)
    assert "scale" not in plan(rotated, two_brands).normalize_filters


@pytest.mark.parametrize("zone", ["tiktok", "reels", "shorts", "all"])
def test_every_overlay_is_inside_the_safe_rectangle(zone: str, logo: Path) -> None:
    brands = make_brands(logo, a=zone)
    result = plan(PLAIN, brands)
    safe = SAFE_ZONE_PRESETS[zone]
    for overlay in result.overlays:
        assert overlay.x >= 1080 * safe.left and overlay.x + overlay.width <= 1080 * (1 - safe.right)
        assert overlay.y >= 1920 * safe.top and overlay.y + overlay.height <= 1920 * (1 - safe.bottom)
        assert overlay.x % 2 == overlay.y % 2 == 0


def test_named_zone_on_a_landscape_output_keeps_only_what_the_phone_still_covers(logo: Path) -> None:
    brands = make_brands(logo, a="reels")
    result = plan(replace(PLAIN, width=1920, height=1080, coded_width=1920, coded_height=1080), brands)
    logo_overlay = result.outputs[0].overlays[0]
    margin = 0.03 * 1920
    assert logo_overlay.y == pytest.approx(margin, abs=2)  # the 14% reels band falls in the letterbox bar
    # but the right-hand strip still covers the picture's right edge on the phone
    assert logo_overlay.x + logo_overlay.width == pytest.approx(1920 * (1 - 0.06) - margin, abs=2)


def test_oversized_logo_is_scaled_down_to_fit(logo: Path) -> None:
    brand = make_brands(logo, a="all")[0]
    huge = brand.model_copy(update={"logo": brand.logo.model_copy(update={"width": 1.0})})
    overlay = plan(PLAIN, [huge]).overlays[0]
    safe = SAFE_ZONE_PRESETS["all"]
    assert overlay.width <= 1080 * (1 - safe.left - safe.right) - 2 * 0.03 * 1080


def test_encoders_are_batched_under_the_memory_budget(logo: Path) -> None:
    brands = make_brands(logo, a="tiktok", b="reels", c="shorts")
    roomy = plan(PLAIN, brands, memory_mb=4096)
    tight = plan(PLAIN, brands, memory_mb=450)
    assert [len(b.outputs) for b in roomy.batches] == [3]
    assert [len(b.outputs) for b in tight.batches] == [1, 1, 1]
    for batch in tight.batches:
        assert estimate_peak_mb(PLAIN, (1080, 1920), len(batch.outputs)) <= 450
    assert [o.brand for o in tight.outputs] == ["a", "b", "c"]


def encoders(memory_mb: int, brands: int = 3, service_mb: float = 0.0, cpus: int = 2):
    options = EngineOptions(memory_mb=memory_mb, service_mb=service_mb)
    return plan_encoders(PLAIN, (1080, 1920), brands, options, cpus=cpus)


# The model at 1080x1920 from a 1080x1920 H.264 source: 95 MB (base + decode) + 258.5 MB per encoder with
# x264's defaults on 2 cores, so 1/2/3 encoders: 353/612/870 MB.
def test_the_memory_model_arithmetic() -> None:
    assert estimate_peak_mb(PLAIN, (1080, 1920), 1) == pytest.approx(353.4, abs=0.5)
    assert estimate_peak_mb(PLAIN, (1080, 1920), 3) == pytest.approx(870.4, abs=0.5)
    # x264 sees 16 cores: 24 frame threads instead of 3, 11 MB per output megapixel each
    assert estimate_peak_mb(PLAIN, (1080, 1920), 1, cpus=16) == pytest.approx(
        353.4 + 21 * 11 * 2.0736, abs=0.5
    )
    lean = estimate_peak_mb(PLAIN, (1080, 1920), 1, tuning=TUNINGS[-1])
    assert lean == pytest.approx(94.9 + 20 + 54 * 2.0736, abs=0.5)


def test_batches_are_even_and_the_service_footprint_is_counted() -> None:
    assert encoders(800, brands=5).batch_sizes == (2, 2, 1)
    assert encoders(900).batch_sizes == (3,)
    tight = encoders(900, service_mb=300)  # 600 MB left for FFmpeg: two encoders (612) no longer fit
    assert tight.batch_sizes == (1, 1, 1) and tight.allowance_mb == 600 and tight.tuning == TUNINGS[0]


def test_a_tight_budget_tunes_x264_down_before_it_fails(logo: Path) -> None:
    assert encoders(300).tuning == TUNINGS[1]  # 353 with the defaults; 289 with 2 threads, lookahead 5
    assert encoders(260).tuning == TUNINGS[2]
    assert encoders(800, cpus=16).tuning == TUNINGS[1]  # the defaults' 24 threads would need 815 MB
    assert encoders(800, cpus=2).tuning == TUNINGS[0]
    result = plan(PLAIN, make_brands(logo, a="none", b="none"), memory_mb=300)
    assert [len(batch.outputs) for batch in result.batches] == [1, 1]
    for batch in result.batches:
        assert " ".join(batch.args).count("-x264-params threads=2:rc-lookahead=5") == 1
    assert "-x264-params" not in " ".join(plan(PLAIN, make_brands(logo, a="none")).batches[0].args)


def test_a_budget_not_even_one_brand_fits_is_a_memory_budget_error_naming_budget_and_need() -> None:
    need = estimate_peak_mb(PLAIN, (1080, 1920), 1, tuning=TUNINGS[-1])
    with pytest.raises(MemoryBudgetError) as failure:
        encoders(256, service_mb=100)
    message = str(failure.value)
    assert failure.value.code == "memory_budget"
    assert (
        "256 MB" in message and "100 MB" in message and "1080x1920" in message and f"{need:.0f} MB" in message
    )


def test_unknown_preset_and_no_brands_are_plan_errors(two_brands) -> None:
    with pytest.raises(PlanError, match="unknown preset"):
        plan(PLAIN, two_brands, "cinema")
    with pytest.raises(PlanError, match="no brands"):
        plan(PLAIN, [])


def test_outputs_are_written_under_temp_names_with_faststart(two_brands) -> None:
    batch = plan(PLAIN, two_brands).batches[0]
    tagged = plan(PLAIN, two_brands, temp_tag="r1")
    assert [o.temp_path.name for o in tagged.outputs] == [f".clip_{b.id}.r1.mp4.part" for b in two_brands]
    args = " ".join(batch.args)
    assert args.count("+faststart") == 2 and args.count("-profile:v high") == 2
    for output in batch.outputs:
        assert output.temp_path.name.startswith(".") and output.temp_path.suffix == ".part"
        assert str(output.temp_path) in batch.args and str(output.path) not in batch.args


def test_a_logo_replaced_under_the_same_name_is_placed_at_its_new_shape(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    Image.new("RGBA", (200, 100), (0, 255, 0, 255)).save(logo)
    brands = make_brands(logo, a="none")
    wide = plan(PLAIN, brands).overlays[0]
    Image.new("RGBA", (100, 100), (0, 255, 0, 255)).save(logo)  # the dashboard saves over the old file
    square = plan(PLAIN, brands).overlays[0]
    assert wide.width == square.width and (wide.height, square.height) == (wide.width // 2, square.width)


def test_the_plan_places_art_by_the_sizes_it_is_given_and_opens_no_file(logo: Path) -> None:
    """The plan does no I/O: with a missing logo file it still plans, at the proportions handed to it."""
    brand = make_brands(logo, a="none")[0]
    gone = brand.model_copy(update={"logo": brand.logo.model_copy(update={"path": Path("/nonexistent.png")})})
    sizes = {art: (400, 100) if art.image else (300, 60) for art in brand_arts([gone])}
    result = plan_render(PLAIN, [gone], "source", Path("o"), "c", Path("w"), sizes)
    logo_overlay, handle = result.overlays
    assert logo_overlay.width == 216 and logo_overlay.height == 54  # 0.2 x 1080 wide, 4:1
    assert (handle.width, handle.height) == (336, 66)  # 0.035 x 1920 high, 5:1, snapped to even
    with pytest.raises(PlanError, match="no measured size"):
        plan_render(PLAIN, [gone], "source", Path("o"), "c", Path("w"), {OverlayArt(text="x"): (1, 1)})


def test_the_plan_owns_output_temp_and_job_names() -> None:
    stem = job_stem("My clip (final)", "0123456789abcdef")
    assert stem == "My-clip-final-01234567"
    final = output_name(stem, "scotlandwtf")
    assert final == "My-clip-final-01234567_scotlandwtf.mp4"
    assert temp_name(final) == ".My-clip-final-01234567_scotlandwtf.mp4.part"
    assert temp_name(final, "r1") == ".My-clip-final-01234567_scotlandwtf.r1.mp4.part"
    assert Path(temp_name(final, "r1")).match(temp_glob(stem))
    for name in (final, temp_name(final, "r1"), output_name(stem, "original", ".webm")):
        assert names_job(name, "0123456789abcdef")
        assert not names_job(name, "fedcba9876543210")


def test_portrait_and_crop_fit_in_the_plan(two_brands) -> None:
    landscape = replace(PLAIN, width=1920, height=1080, coded_width=1920, coded_height=1080)
    blurred = plan(landscape, two_brands, "portrait")
    cropped = plan(landscape, two_brands, "portrait", reframe=Reframe("crop"))
    assert (cropped.width, cropped.height) == (blurred.width, blurred.height) == (1080, 1350)
    assert "fill" in blurred.normalize_filters and "crop" not in blurred.normalize_filters
    assert "fill" not in cropped.normalize_filters and "boxblur" not in cropped.batches[0].filter_graph
    assert (
        "scale=2400:1350" in cropped.batches[0].filter_graph
        and "crop=1080:1350" in cropped.batches[0].filter_graph
    )


def test_each_output_gets_its_own_gain_in_the_one_pass(two_brands) -> None:
    measured = Loudness(integrated_lufs=-30.0, true_peak_dbtp=-27.0)
    own = two_brands[1].model_copy(update={"loudness_lufs": -20.0})
    result = plan(PLAIN, [two_brands[0], own], loudness=measured)
    graph = result.batches[0].filter_graph
    assert len(result.batches) == 1 and graph.count("[0:1]") == 1  # the sound is decoded once
    assert "volume=16.00dB" in graph and "volume=10.00dB" in graph and "alimiter" not in graph
    assert [o.gain.target_lufs for o in result.outputs] == [-14.0, -20.0]


@pytest.mark.parametrize(("measured", "target", "makeup", "expected"), [
    (Loudness(-30.0, -27.0), -14.0, 0.0, (16.0, False)),  # plain gain: peaks end at -11 dBTP
    (Loudness(-5.0, -1.0), -14.0, 0.0, (-9.0, False)),
    (Loudness(-24.0, -3.0), -14.0, 0.0, (10.0, True)),  # peaks would reach +7 dBTP: limited
    (Loudness(-24.0, -3.0), -14.0, 2.5, (12.5, True)),  # what the limiter took, measured and made up
    (Loudness(-70.0, -math.inf), -14.0, 0.0, (0.0, False)),  # silence is left alone
    (Loudness(-30.0, -27.0), None, 0.0, (0.0, False)),  # off
])  # fmt: skip
def test_gain_arithmetic(measured, target, makeup, expected) -> None:
    gain = plan_gain(measured, target, makeup)
    assert (gain.gain_db, gain.limited) == expected
    assert bool(gain.steps) == (expected[0] != 0)


def test_makeup_stops_when_close_and_is_bounded() -> None:
    limited = plan_gain(Loudness(-24.0, -3.0), -14.0)
    assert makeup_needed(limited, Loudness(-16.0, -1.5), 0.0) == pytest.approx(2.0)
    assert makeup_needed(limited, Loudness(-14.2, -1.5), 2.0) is None
    assert makeup_needed(limited, Loudness(-60.0, -1.5), 0.0) == MAX_MAKEUP_DB


def test_the_ebur128_summary_is_read() -> None:
    stderr = (
        "[Parsed_ebur128_0 @ 0x1] Summary:\n\n  Integrated loudness:\n    I:         -41.8 LUFS\n"
        "    Threshold: -51.8 LUFS\n\n  True peak:\n    Peak:      -40.3 dBFS\n"
    )
    assert parse_summary(stderr) == Loudness(-41.8, -40.3)
    with pytest.raises(EngineError, match="no summary"):
        parse_summary("nothing here")
