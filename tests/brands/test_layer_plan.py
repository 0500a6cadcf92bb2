"""How version-2 layers are planned: full-frame layers fill the canvas whatever the safe zone, boxed text is
taller by its box, and the memory model counts a canvas-sized overlay per full-frame layer."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from portal.brand_loader import Brand, ImageLayer, TextBox, TextLayer
from portal.media.layers import TEXT_BOX_PADDING, brand_layers
from portal.media.options import EngineOptions
from portal.media.overlays import measure_art, render_art
from portal.media.plan import FULL_FRAME_MB_PER_MP, brand_arts, estimate_peak_mb, plan_render
from tests.engine.test_plan import PLAIN


def layered(tmp_path: Path, brand_id: str) -> Brand:
    Image.new("RGBA", (512, 512), (0, 255, 0, 255)).save(tmp_path / "wm.png")
    Image.new("RGB", (400, 400), (0, 0, 0)).save(tmp_path / "logo.png")
    return Brand(
        id=brand_id,
        name=brand_id,
        safe_zone="all",
        layers=(
            ImageLayer(image=tmp_path / "wm.png", fit="cover", scale=1.15, opacity=0.4),
            ImageLayer(image=tmp_path / "logo.png", key_color="#000000", width=0.15),
            TextLayer(text="@handle", size=0.03, box=TextBox()),
        ),
    )


def test_full_frame_layer_fills_canvas_and_boxed_text_is_taller(tmp_path: Path) -> None:
    brand = layered(tmp_path, "A")
    plan = plan_render(PLAIN, [brand], "vertical", tmp_path, "c", tmp_path, measure_art(brand_arts([brand])))
    cover, logo, text = plan.outputs[0].overlays
    assert (cover.x, cover.y, cover.width, cover.height) == (0, 0, 1080, 1920)  # the zone does not apply
    assert logo.y + logo.height <= 1920 * (1 - 0.35)  # positioned layers do stay in the zone
    assert abs(text.height - 0.03 * 1920 * (1 + 2 * TEXT_BOX_PADDING)) <= 2
    (shape_layer,) = [layer for layer in brand_layers(brand, "landscape") if layer.full_frame]
    assert shape_layer.art.cover == 1.15


def test_rendered_cover_art_is_canvas_sized_with_opacity(tmp_path: Path) -> None:
    brand = layered(tmp_path, "A")
    cover = brand_layers(brand, "vertical")[0].art
    render_art(cover, 1080, 1920, tmp_path / "cover.png")
    with Image.open(tmp_path / "cover.png") as picture:
        assert picture.size == (1080, 1920)
        assert picture.getpixel((540, 960)) == (0, 255, 0, 102)  # 0.4 of opaque


def test_full_frame_layers_count_in_the_batches(tmp_path: Path) -> None:
    brands = [layered(tmp_path, f"b{index}") for index in range(3)]
    sizes = measure_art(brand_arts(brands))
    plain = estimate_peak_mb(PLAIN, (1080, 1920), 3)
    with_layers = estimate_peak_mb(PLAIN, (1080, 1920), 3, full_frame_layers=3)
    assert with_layers - plain == pytest.approx(FULL_FRAME_MB_PER_MP * 1080 * 1920 / 1e6 * 3)
    # a budget that holds three encoders, but not three encoders and three full-frame overlays
    budget = int((plain + with_layers) / 2)
    plan = plan_render(
        PLAIN, brands, "vertical", tmp_path, "c", tmp_path, sizes, EngineOptions(memory_mb=budget)
    )
    assert [len(batch.outputs) for batch in plan.batches] == [2, 1]
