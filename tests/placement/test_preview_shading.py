"""The brands page shades, on each preview, where the platform's UI covers that shape; a toggle hides it."""

from __future__ import annotations

import pytest

from portal.media.safezone import project_zone
from tests.browser.conftest import screenshot, wait_until
from tests.web.server import KEY

pytestmark = pytest.mark.browser

SHAPES = {"vertical": (1080, 1920), "square": (1080, 1080), "landscape": (1920, 1080)}


def strips(page, brand: str, preset: str) -> tuple[dict, list[dict]]:
    """The preview image's box and its four shading rectangles' boxes, as laid out by Chromium."""
    figure = page.locator(f"section[data-brand={brand}] figure").filter(has_text=preset)
    image = figure.locator("img").bounding_box()
    rects = [figure.locator("svg.ui-shade rect").nth(index).bounding_box() for index in range(4)]
    return image, rects


@pytest.mark.parametrize(("brand", "zone"), [("watchthefall", "tiktok"), ("fallclips", "reels")])
def test_previews_shade_the_zone_as_the_phone_shows_each_shape(page, brand: str, zone: str) -> None:
    page.goto("/login")
    page.get_by_label("Portal key").fill(KEY)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/brands")
    wait_until(
        page, "[...document.querySelectorAll('.previews img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    for preset, size in SHAPES.items():
        expected = project_zone(zone, *size)
        image, (top, bottom, left, right) = strips(page, brand, preset)
        width, height = image["width"], image["height"]
        assert height / width == pytest.approx(size[1] / size[0], rel=0.01)  # the shading sits on the picture
        assert (top or {"height": 0})["height"] == pytest.approx(expected.top * height, abs=1.5)
        assert (bottom or {"height": 0})["height"] == pytest.approx(expected.bottom * height, abs=1.5)
        assert (left or {"width": 0})["width"] == pytest.approx(expected.left * width, abs=1.5)
        assert right["width"] == pytest.approx(expected.right * width, abs=1.5)
        assert right["x"] + right["width"] == pytest.approx(image["x"] + width, abs=1.5)
    screenshot(page, f"brands-shaded-{brand}")

    page.get_by_label("Shade where the platform's buttons and captions cover the picture").uncheck()
    assert page.locator("svg.ui-shade").first.is_hidden()
    page.get_by_label("Shade where the platform's buttons and captions cover the picture").check()
    assert page.locator("svg.ui-shade").first.is_visible()
