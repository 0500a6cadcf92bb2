"""`position: "auto"` end to end: the logo avoids a real face and burned-in text, on every output shape.

Each source holds the astronaut's face (scikit-image's bundled photo) or three lines of caption text in the
corner where the brand's fallback would put the logo. The logo's position is read back from the output's
pixels (PyAV), not from the plan.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from portal.brand_loader import BrandConfig, config_to_json, parse_brand_config
from portal.media.safezone import project_zone
from portal.video_processor import render_source
from tests.engine.inspect_output import colour_bbox, first_frame
from tests.placement.conftest import GROUND, content_box
from tests.web.server import Server

GREEN = (0, 255, 0)
MARGIN = 0.03
# The astronaut's face in scikit-image's 512x512 photo (OpenCV's detector finds 177,66 95x95), with room.
ASTRONAUT_FACE = (160, 45, 290, 180)
SHAPES = [((360, 640), "vertical"), ((480, 480), "square"), ((640, 360), "landscape")]


def auto_brand(folder: Path, fallback: str, zone: str = "tiktok"):
    Image.new("RGB", (200, 100), GREEN).save(folder / "logo.png")
    config = {"brands": {"auto": {
        "name": "Auto", "safe_zone": zone,
        "logo": {"path": "logo.png", "position": "auto", "fallback": fallback, "width": 0.2, "opacity": 1.0,
                 "margin": MARGIN},
    }}}  # fmt: skip
    return parse_brand_config(config, folder).brands["auto"]


def what_matters(kind: str, corner: str, size: tuple[int, int], picture: Path) -> tuple[int, int, int, int]:
    """The face, or the text's own pixels, in source pixels (left, top, right, bottom)."""
    left, top, right, _bottom = content_box(corner, size)
    if kind == "face":
        scale = (right - left) / 512
        fl, ft, fr, fb = (round(value * scale) for value in ASTRONAUT_FACE)
        return left + fl, top + ft, left + fr, top + fb
    grey = np.asarray(Image.open(picture).convert("RGB")).astype(int)
    rows, cols = np.nonzero(np.abs(grey - np.array(GROUND)).sum(axis=2) > 30)
    return cols.min(), rows.min(), cols.max() + 1, rows.max() + 1


def overlaps(a: tuple, b: tuple) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.mark.parametrize(("size", "preset"), SHAPES)
@pytest.mark.parametrize(
    ("kind", "corner"), [("face", "top-right"), ("face", "top-left"), ("text", "bottom-left")]
)
def test_auto_logo_avoids_the_face_or_text_where_the_fallback_would_cover_it(
    kind: str, corner: str, size, preset: str, scene_clip, tmp_path: Path
) -> None:
    clip = scene_clip(kind, corner, size)
    output = render_source(clip, [auto_brand(tmp_path, fallback=corner)], tmp_path / "out", preset=preset)[0]

    (placement,) = output.placements
    assert placement["position"] != corner, placement
    # the premise: the fallback corner would have covered it
    assert placement["scores"][corner]["faces" if kind == "face" else "text"] > 0
    scale = output.width / size[0]  # each source has its output's shape
    content = tuple(value * scale for value in what_matters(kind, corner, size, clip.with_suffix(".png")))
    logo = colour_bbox(first_frame(output.path).to_image(), GREEN)
    assert logo is not None and not overlaps(logo, content), (logo, content, placement["position"])

    safe = project_zone("tiktok", output.width, output.height)
    gap = MARGIN * output.width
    assert logo[0] >= safe.left * output.width + gap - 2 and logo[1] >= safe.top * output.height + gap - 2
    assert logo[2] <= output.width * (1 - safe.right) - gap + 2
    assert logo[3] <= output.height * (1 - safe.bottom) - gap + 2


@pytest.mark.parametrize(("size", "preset"), SHAPES)
def test_a_clip_without_faces_or_text_gets_the_fallback(
    size, preset: str, scene_clip, tmp_path: Path
) -> None:
    brand = auto_brand(tmp_path, fallback="bottom-right", zone="reels")
    output = render_source(scene_clip("plain", "top-left", size), [brand], tmp_path / "out", preset=preset)[0]
    (placement,) = output.placements
    assert (placement["position"], placement["reason"]) == (
        "bottom-right",
        "fallback: no faces or text found",
    )
    logo = colour_bbox(first_frame(output.path).to_image(), GREEN)
    safe = project_zone("reels", output.width, output.height)
    gap = MARGIN * output.width
    assert logo[2] == pytest.approx(output.width * (1 - safe.right) - gap, abs=3)
    assert logo[3] == pytest.approx(output.height * (1 - safe.bottom) - gap, abs=3)


def test_a_landscape_source_on_a_vertical_output_looks_at_the_picture_not_the_fill(
    scene_clip, tmp_path: Path
) -> None:
    """The face is in the picture's top-right; the logo's fallback top-right sits over the blurred fill."""
    clip = scene_clip("face", "top-right", (640, 360))
    output = render_source(clip, [auto_brand(tmp_path, "top-right")], tmp_path / "out", preset="vertical")[0]
    (placement,) = output.placements
    assert placement["scores"]["top-right"]["faces"] == 0  # the fill around the picture hides no face
    assert placement["position"] == "top-right"


def test_a_jobs_outputs_carry_the_choice_and_its_scores(scene_clip, tmp_path: Path) -> None:
    """Through the real service: upload, queue, worker, the job's outputs in the API."""
    brand = auto_brand(tmp_path, fallback="top-right")
    config = tmp_path / "brand_config.json"
    config.write_text(json.dumps(config_to_json(BrandConfig(brands={"auto": brand}), tmp_path)))
    (tmp_path / "data").mkdir()
    server = Server(tmp_path / "data", env={"WTF_BRAND_CONFIG": str(config)}).start()
    try:
        job = server.process_upload(scene_clip("face", "top-right"), ["auto"], preset="vertical")
        job = server.wait(job["id"])
    finally:
        server.stop()
    assert job["status"] == "completed", job
    (placement,) = job["outputs"][0]["placements"]
    assert placement["overlay"] == 0 and placement["position"] == "top-left"
    assert placement["scores"]["top-right"]["faces"] > 0 == placement["scores"]["top-left"]["faces"]
