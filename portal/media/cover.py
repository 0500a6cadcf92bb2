"""Covers (DESIGN 4.11): a JPEG of each output at its size, the dashboard's poster and the ZIP's thumbnail.

Everything comes from the render pass that makes the outputs (`plan.cover_select`): no frame is decoded
twice. At a few evenly spaced candidate times away from the first and last half second, each output's
finished picture, layers included, goes to a JPEG as it goes to the encoder, and the source's own frame to
a small grey one. `best_candidate` then picks the time once per source: a frame with a face wins, then the
sharpest (the variance of its Laplacian: a blurred or faded frame has few strong edges); each output keeps
its cover at that time. With `cover_at`, there is one time and nothing to choose.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from portal.media.placement import face_boxes

COVER_EDGE_S = 0.5  # a cover is never from the first or last half second (fades, black, a logo sting)
COVER_CANDIDATES = 5


def cover_candidates(duration: float) -> list[float]:
    """Evenly spaced times (seconds from the start) inside the clip less its edges; its middle if short."""
    usable = duration - 2 * COVER_EDGE_S
    if usable <= 0:
        return [duration / 2]
    return [COVER_EDGE_S + usable * (index + 0.5) / COVER_CANDIDATES for index in range(COVER_CANDIDATES)]


def clamp_cover_time(at: float, duration: float, fps: float) -> float:
    """A requested cover time inside the clip: at the latest, the last frame's."""
    return min(max(0.0, at), max(0.0, duration - 1 / (fps or 30)))


def best_candidate(frames: Sequence[Path]) -> int | None:
    """Which candidate frame (grey PNGs at the analysis size, as the render pass wrote them; a missing one
    is passed over) makes the best cover: one with a face, else the sharpest; the earliest of equals.
    None if there is none at all."""
    import cv2

    greys = [cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) for path in frames]
    scored = [
        ((len(face_boxes(grey)) > 0, float(cv2.Laplacian(grey, cv2.CV_64F).var()), -index), index)
        for index, grey in enumerate(greys)
        if grey is not None
    ]
    return max(scored)[1] if scored else None
