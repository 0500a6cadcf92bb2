"""Every brand in every format from one decode (DESIGN 4.10), read back from the files."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.media.ffmpeg import run_ffmpeg, usable_ffmpeg
from portal.media.loudness import parse_summary
from portal.media.options import EngineOptions, OutputFormat
from portal.media.overlays import measure_art
from portal.media.plan import PlanError, brand_arts, canvas_size, output_loudness_args, plan_render
from portal.media.probe import probe_media
from portal.video_processor import render_source
from tests.engine.conftest import LOGO_RGB, make_brands
from tests.engine.inspect_output import assert_ready_to_post, colour_bbox, first_frame
from tests.mediagen import logged_ffmpeg, make_clip

GREY = ("-vf", "lutrgb=r=128:g=128:b=128", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
FORMATS = [OutputFormat("vertical"), OutputFormat("portrait", "crop"), OutputFormat("square")]
SMALL = EngineOptions(x264_preset="superfast", max_short_side=180)  # 180x320, 180x226, 180x180


def test_four_brands_in_three_formats_come_from_one_ffmpeg_process(logo: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, video_args=GREY)
    brands = make_brands(logo, a="none", b="tiktok", c="reels", d="none")
    wrapper, calls = logged_ffmpeg(tmp_path)
    options = EngineOptions(**{**SMALL.__dict__, "ffmpeg_path": str(wrapper)})
    out = tmp_path / "out"

    outputs = render_source(clip, brands, out, formats=FORMATS, options=options, stem="clip")

    assert len(outputs) == 12
    assert sorted(path.name for path in out.iterdir()) == sorted(
        f"clip_{brand}_{preset}.{kind}"
        for brand in "abcd"
        for preset in ("vertical", "portrait", "square")
        for kind in ("mp4", "jpg")  # each output and its cover
    )
    # the same plan the engine made, to know where each shape puts each brand's logo
    info = probe_media(clip)
    plan = plan_render(info, brands, FORMATS, out, "clip", tmp_path, measure_art(brand_arts(brands)), SMALL)
    placed = {(o.brand, o.preset): o.overlays[0] for o in plan.outputs}
    for output in outputs:
        size = canvas_size(info, output.preset, SMALL.max_short_side)
        assert (output.width, output.height) == size
        assert_ready_to_post(output.path, size, 1.0, 30, audio=True)
        assert output.path.name == f"clip_{output.brand}_{output.preset}.mp4"
        frame = first_frame(output.path, 0.5).to_image()
        box = colour_bbox(frame, LOGO_RGB)
        logo_at = placed[(output.brand, output.preset)]
        assert box is not None, output.path.name
        assert box == pytest.approx(
            (logo_at.x, logo_at.y, logo_at.x + logo_at.width, logo_at.y + logo_at.height), abs=3
        )
        width, height = size  # the brands' logo: top-right, a fifth of this shape's width (or less)
        assert box[0] > width / 2 and box[3] < height / 2 and box[2] - box[0] <= 0.2 * width + 3
        # loudness measured inside the render pass, for every output, agrees with the file's
        assert output.loudness is not None
        assert output.loudness.after.integrated_lufs == pytest.approx(-14.0, abs=1.0)
        tail = run_ffmpeg(usable_ffmpeg(), output_loudness_args(output.path), duration=0, tail_lines=40)
        in_file = parse_summary("\n".join(tail)).integrated_lufs
        assert output.loudness.after.integrated_lufs == pytest.approx(in_file, abs=0.5)

    lines = calls.read_text().splitlines()
    runs = [line for line in lines if str(clip) in line]
    renders = [line for line in runs if "-filter_complex" in line]
    assert len(renders) == 1  # one decode of the picture, every output from it
    assert all("-map 0:" in line and "-filter_complex" not in line for line in runs if line not in renders)
    inputs = [args[i + 1] for args in map(str.split, lines) for i, arg in enumerate(args) if arg == "-i"]
    assert not [path for path in inputs if path.startswith(str(out))]  # no FFmpeg reads an output back


def test_a_budget_too_small_for_every_encoder_batches_with_one_decode_each(
    logo: Path, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, video_args=GREY)
    brands = make_brands(logo, a="none", b="none")
    wrapper, calls = logged_ffmpeg(tmp_path)
    info = probe_media(clip)
    # room for about two small encoders per process
    budget = EngineOptions(**{**SMALL.__dict__, "ffmpeg_path": str(wrapper), "memory_mb": 125})
    plan = plan_render(
        info, brands, FORMATS, tmp_path, "c", tmp_path, measure_art(brand_arts(brands)), budget
    )
    assert 1 < len(plan.batches) < 6

    outputs = render_source(clip, brands, tmp_path / "out", formats=FORMATS, options=budget)

    assert len(outputs) == 6 and len({output.path for output in outputs}) == 6
    renders = [
        line for line in calls.read_text().splitlines() if str(clip) in line and "-filter_complex" in line
    ]
    assert len(renders) == len(plan.batches)
    for output in outputs:
        assert (output.width, output.height) == canvas_size(info, output.preset, SMALL.max_short_side)


def test_one_format_keeps_todays_names(logo: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration=0.5)
    outputs = render_source(
        clip, make_brands(logo, a="none"), tmp_path / "out", formats=[OutputFormat("square")], options=SMALL
    )
    assert [output.path.name for output in outputs] == ["clip_a.mp4"]
    assert outputs[0].preset == "square" and (outputs[0].width, outputs[0].height) == (180, 180)


def test_a_preset_twice_with_two_fits_is_refused(logo: Path, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=320, height=180, duration=0.5)
    twice = [OutputFormat("square", "blur"), OutputFormat("square", "crop")]
    with pytest.raises(PlanError, match="square"):
        render_source(clip, make_brands(logo, a="none"), tmp_path / "out", formats=twice, options=SMALL)
    assert not (tmp_path / "out").exists()
