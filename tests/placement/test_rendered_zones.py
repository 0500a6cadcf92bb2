"""Every positioned overlay of every output shape sits inside its platform's zone as the phone shows it.

Read back from the outputs' pixels (PyAV): a solid green logo and a solid magenta image watermark, one brand
per named zone, rendered to vertical, square and landscape outputs and to a landscape source's own shape.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from portal.brand_loader import Brand, parse_brand_config
from portal.media.safezone import project_zone
from portal.video_processor import render_source
from tests.engine.inspect_output import colour_bbox, first_frame
from tests.mediagen import make_clip

GREEN, MAGENTA = (0, 255, 0), (255, 0, 255)
ZONES = ("tiktok", "reels", "shorts", "all")
MARGIN = 0.03
SLACK = 2  # px: chroma subsampling softens a solid edge by about a pixel


def zone_brands(folder: Path, logo_position: str, mark_position: str, logo_width: float = 0.2) -> list[Brand]:
    Image.new("RGB", (200, 100), GREEN).save(folder / "logo.png")
    Image.new("RGB", (300, 100), MAGENTA).save(folder / "mark.png")
    config = {
        "brands": {
            zone: {
                "name": zone,
                "logo": {"path": "logo.png", "position": logo_position, "width": logo_width, "opacity": 1.0,
                         "margin": MARGIN},
                "watermark": {"image": "mark.png", "position": mark_position, "size": 0.05, "opacity": 1.0,
                              "margin": MARGIN},
                "safe_zone": zone,
            }
            for zone in ZONES
        }
    }  # fmt: skip
    return list(parse_brand_config(config, folder).brands.values())


def assert_inside_zone(path: Path, zone: str) -> None:
    frame = first_frame(path).to_image()
    width, height = frame.size
    safe = project_zone(zone, width, height)
    gap = MARGIN * width
    left, top = safe.left * width + gap, safe.top * height + gap
    right, bottom = width * (1 - safe.right) - gap, height * (1 - safe.bottom) - gap
    for colour in (GREEN, MAGENTA):
        box = colour_bbox(frame, colour)
        assert box is not None, f"{path.name}: overlay {colour} not found"
        assert box[0] >= left - SLACK and box[1] >= top - SLACK, (path.name, colour, box, (left, top))
        assert box[2] <= right + SLACK and box[3] <= bottom + SLACK, (path.name, colour, box, (right, bottom))


@pytest.fixture(scope="module")
def grey_clip(tmp_path_factory: pytest.TempPathFactory) -> Callable[[tuple[int, int]], Path]:
    folder = tmp_path_factory.mktemp("grey")

    def make(size: tuple[int, int]) -> Path:
        return make_clip(
            folder / f"grey-{size[0]}x{size[1]}.mp4", width=size[0], height=size[1], duration=0.4,
            audio=False,
            video_args=("-vf", "lutrgb=r=128:g=128:b=128", "-c:v", "libx264", "-preset", "ultrafast",
                        "-pix_fmt", "yuv420p"),
        )  # fmt: skip

    return make


@pytest.mark.parametrize(
    ("source_size", "preset", "canvas"),
    [
        ((360, 640), "vertical", (1080, 1920)),
        ((360, 640), "square", (1080, 1080)),
        ((640, 360), "landscape", (1920, 1080)),
        ((640, 360), "source", (640, 360)),
    ],
)
@pytest.mark.parametrize(("logo_at", "mark_at"), [("top-right", "bottom-left"), ("bottom-right", "top-left")])
def test_every_overlay_of_every_shape_is_inside_the_projected_zone(
    source_size, preset: str, canvas, logo_at: str, mark_at: str, grey_clip, tmp_path: Path
) -> None:
    brands = zone_brands(tmp_path, logo_at, mark_at)
    outputs = render_source(grey_clip(source_size), brands, tmp_path / "out", preset=preset)
    for output, zone in zip(outputs, ZONES, strict=True):
        assert (output.width, output.height) == canvas
        assert_inside_zone(output.path, zone)


def test_a_landscape_logo_is_kept_off_the_right_hand_buttons(grey_clip, tmp_path: Path) -> None:
    """The issue's case: 16:9 shown on a phone still has the button column over its right edge."""
    brands = zone_brands(tmp_path, "top-right", "bottom-left")
    output = render_source(grey_clip((640, 360)), brands[:1], tmp_path / "out", preset="landscape")[0]
    box = colour_bbox(first_frame(output.path).to_image(), GREEN)
    assert box[2] <= 1920 * (1 - 0.14) - MARGIN * 1920 + SLACK  # TikTok's 14 % right strip, plus the margin


def test_a_logo_too_wide_for_the_projected_zone_is_scaled_down_not_pushed(grey_clip, tmp_path: Path) -> None:
    brands = zone_brands(tmp_path, "top-right", "bottom-left", logo_width=1.0)
    for preset in ("square", "landscape"):
        outputs = render_source(grey_clip((640, 360)), brands, tmp_path / preset, preset=preset)
        for output, zone in zip(outputs, ZONES, strict=True):
            assert_inside_zone(output.path, zone)
