"""The matrix benchmark's hand-built pipelines (the floor, one FFmpeg per output) are built from the
engine's own plan functions: when those change, the benchmark must still run and still make every output
(it silently broke once, found only when a 10-minute run crashed)."""

from __future__ import annotations

from pathlib import Path

import av

import bench.matrix as matrix
from portal.brand_loader import load_brand_config


def test_each_matrix_pipeline_makes_every_output(tmp_path: Path) -> None:
    brands = load_brand_config(matrix.REPO / "brand_config.json").select("all")
    source = matrix.make_source(tmp_path / "wide.mp4", matrix.WIDE, 1)
    for pipeline in (matrix.floor, matrix.per_output, matrix.engine):
        out = tmp_path / pipeline.__name__
        pipeline(source, brands, matrix.FORMATS, out)
        videos = sorted(out.rglob("*.mp4"))
        assert len(videos) == len(brands) * len(matrix.FORMATS), pipeline.__name__
        for video in videos:
            with av.open(str(video)) as container:
                assert next(container.decode(video=0)).width > 0
