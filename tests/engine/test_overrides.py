"""A review's overrides (DESIGN 4.12): a layer moved to any spot, resized, faded or re-worded for one output.

The logo (pure green) is found in the render's frames and in the engine's still, never taken from the plan.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from portal.media.layers import LayerOverride, OverrideError
from portal.video_processor import render_preview, render_source
from tests.engine.conftest import LOGO_RGB, make_brands
from tests.engine.inspect_output import colour_bbox, first_frame
from tests.mediagen import make_clip

GREY = ("-vf", "lutrgb=r=128:g=128:b=128", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")


def centre(box: tuple[int, int, int, int]) -> tuple[float, float]:
    left, top, right, bottom = box
    return (left + right) / 2, (bottom + top) / 2


def test_a_moved_and_resized_logo_is_where_it_was_put_in_the_render_and_the_still(
    tmp_path: Path, logo: Path
) -> None:
    clip = make_clip(tmp_path / "grey.mp4", width=180, height=320, duration=1, video_args=GREY)
    brand = make_brands(logo, moved="tiktok")[0]
    moved = [LayerOverride(index=0, x=0.3, y=0.6, width=0.4)]
    [output] = render_source(clip, [brand], tmp_path / "out", preset="source", overrides=moved)
    width, height = output.width, output.height
    rendered = colour_bbox(first_frame(output.path, 0.5).to_image(), LOGO_RGB)
    assert centre(rendered) == pytest.approx((0.3 * width, 0.6 * height), abs=3)
    assert rendered[2] - rendered[0] == pytest.approx(0.4 * width, abs=3)

    still = Image.open(io.BytesIO(render_preview(brand, "source", source=clip, at=0.5, overrides=moved).jpeg))
    assert still.size == (width, height)
    assert colour_bbox(still, LOGO_RGB) == pytest.approx(rendered, abs=3)  # the still is the render

    near_edge = [LayerOverride(index=0, x=0.99, y=0.01, width=0.4)]  # kept whole on the frame
    [edge] = render_source(clip, [brand], tmp_path / "edge", preset="source", overrides=near_edge)
    left, top, right, _bottom = colour_bbox(first_frame(edge.path, 0.5).to_image(), LOGO_RGB)
    assert top <= 2 and right >= width - 2 and right - left == pytest.approx(0.4 * width, abs=3)


def test_overrides_that_do_not_fit_name_the_field(tmp_path: Path, logo: Path) -> None:
    clip = make_clip(tmp_path / "grey.mp4", width=180, height=320, duration=1, video_args=GREY)
    brand = make_brands(logo, named="tiktok")[0]
    cases = {
        "layers[0].index": [LayerOverride(index=5, x=0.5, y=0.5)],
        "layers[0].text": [LayerOverride(index=0, text="hello")],  # layer 0 is the logo, an image
        "layers[0]: give both x and y": [LayerOverride(index=0, x=0.5)],
    }
    for field, overrides in cases.items():
        with pytest.raises(OverrideError, match=field.replace("[", r"\[").replace("]", r"\]")):
            render_source(clip, [brand], tmp_path / "bad", overrides=overrides)
