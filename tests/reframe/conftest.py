"""Reframe and trim fixtures: one plain brand (a handle at the bottom, nothing over the subject) and the
engine tuned for small, quick renders."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from portal.brand_loader import Brand, parse_brand_config
from portal.media.options import EngineOptions

# Outputs at 360 px on the short side (vertical: 360x640) keep these renders a few seconds long.
QUICK = EngineOptions(x264_preset="ultrafast", max_short_side=360, loudness_lufs=None)


@pytest.fixture(scope="session")
def plain_brand(tmp_path_factory: pytest.TempPathFactory) -> list[Brand]:
    config = parse_brand_config(
        {"version": 2, "brands": {"plain": {"name": "Plain", "layers": [
            {"text": "@plain", "position": "bottom", "size": 0.03}]}}},
        tmp_path_factory.mktemp("brand"),
    )  # fmt: skip
    return list(config.brands.values())


def rgb_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a rendered file, as RGB arrays."""
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
