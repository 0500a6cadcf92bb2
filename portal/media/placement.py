"""`position: "auto"`: put an overlay where it hides the least of what matters in this clip.

`analyse_scene` decodes a handful of small grey frames once per source (`portal.media.frames`, or takes
those the reframe decoded) and maps, over the picture,
where the clip has faces (OpenCV's bundled Haar detector), burned-in text and captions (dense edges) and
motion (change between the sampled frames). `choose_position` is pure: given the rectangles an overlay
would take at each position (all already inside the safe rectangle) it scores each by the share of the
clip's faces, text and motion it would cover, and keeps the brand's fallback unless another position is
clearly better. Same source, same frames, same choice: nothing here is random or time-dependent.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from portal.media.errors import EngineError
from portal.media.frames import CELL_PX, analysis_size, keyframes
from portal.media.probe import MediaInfo

if TYPE_CHECKING:  # OpenCV and numpy are imported where a clip is analysed: 0.3 s nothing else should pay
    import cv2
    import numpy as np

Rect = tuple[float, float, float, float]  # x, y, width, height in output pixels

SAMPLE_FRAMES = 6  # at most: the keyframes at or before the middle of each sixth of the clip
# A cell with at least this fraction of edge pixels looks like text (letters are dense, edge-rich strokes).
TEXT_EDGE_DENSITY = 0.2
CANNY_THRESHOLDS = (100, 200)
MOTION_FLOOR = 6 / 255  # mean change in a cell below this is noise and compression, not motion
FACE_PAD = 0.25  # a detected face box grows by this much on each side (hair, chin, a hand)
FACE_MIN_PX = 20  # smallest face looked for, in analysis pixels
WEIGHTS = {"faces": 1.0, "text": 1.0, "motion": 0.5, "overlays": 1.0}
MIN_GAIN = 0.02  # another position must beat the fallback by this much of the weighted share
NOTHING_FOUND = "fallback: no faces or text found"


@dataclass(frozen=True)
class SceneMaps:
    """Where a clip's faces, text and motion are: maps over the picture in displayed orientation.

    Each map is rows x columns cells of 0..1 (the share of sampled frames in which the cell holds a face or
    text, or its mean change between frames); `frames` is how many frames were sampled.
    """

    faces: np.ndarray
    text: np.ndarray
    motion: np.ndarray
    frames: int

    @property
    def found_faces_or_text(self) -> bool:
        return bool(self.faces.any() or self.text.any())


@dataclass(frozen=True)
class AutoPlacement:
    """The position chosen for an `auto` overlay, why, and every candidate's scores (lower is better)."""

    position: str
    reason: str
    scores: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"position": self.position, "reason": self.reason, "scores": dict(self.scores)}


def analyse_scene(
    info: MediaInfo,
    samples: int = SAMPLE_FRAMES,
    span: tuple[float, float] | None = None,
    decoded: Sequence[np.ndarray] = (),
) -> SceneMaps:
    """Map the faces, text and motion of `samples` frames of the source (of `span`, the part kept).

    `decoded`: grey frames at the analysis size already decoded for another analysis (the reframe's),
    used instead of decoding keyframes again (`samples` of them, evenly spread).
    """
    import cv2
    import numpy as np

    if decoded:
        step = max(1, len(decoded) // samples)
        frames = list(decoded[step // 2 :: step])[:samples]
    else:
        frames = list(keyframes(info, samples, *(span or (0.0, info.duration))))
    rows, cols = _grid(info)
    if not frames:
        empty = np.zeros((rows, cols), np.float32)
        return SceneMaps(empty, empty, empty, 0)
    faces = np.mean([_face_cells(frame, rows, cols) for frame in frames], axis=0)
    text = np.mean([_text_cells(frame, rows, cols) for frame in frames], axis=0)
    changes = [cv2.absdiff(a, b) for a, b in itertools.pairwise(frames)]
    motion = np.zeros((rows, cols), np.float32)
    if changes:
        motion = _cells(np.mean(changes, axis=0).astype(np.float32) / 255, rows, cols)
        motion[motion < MOTION_FLOOR] = 0
    return SceneMaps(faces.astype(np.float32), text.astype(np.float32), motion, len(frames))


def choose_position(
    candidates: Mapping[str, Rect],
    scene: SceneMaps | None,
    picture: Rect,
    fallback: str,
    occupied: Sequence[Rect] = (),
) -> AutoPlacement:
    """The candidate position covering the least of the scene (faces, text, motion) and of `occupied`.

    `picture` is where the source's picture sits on the output (the rest is the blurred fill, which holds
    nothing worth keeping clear). The fallback wins near-ties, and wins outright when the clip has no
    faces and no text, so a plain clip gets the brand's usual look. Among equal scores, a position like the
    fallback wins: a corner for a corner, then the same row (a top logo stays at the top), then the nearest.
    """
    if scene is None or scene.frames == 0:
        return AutoPlacement(fallback, "fallback: no frames to look at")
    scores = {
        position: _score(rect, scene, picture, occupied) for position, rect in sorted(candidates.items())
    }
    if not scene.found_faces_or_text and not scores[fallback]["overlays"]:
        return AutoPlacement(fallback, NOTHING_FOUND, scores)
    preferred = anchor(fallback)

    def preference(position: str) -> tuple[float, int, bool, float, str]:
        here = anchor(position)
        centred = here.count(0.5) - preferred.count(0.5)  # 0 corner, 1 edge middle, 2 centre
        return (
            round(scores[position]["total"], 6),
            abs(centred),
            here[1] != preferred[1],
            math.dist(here, preferred),
            position,
        )

    best = min(scores, key=preference)
    if fallback in scores and scores[fallback]["total"] <= scores[best]["total"] + MIN_GAIN:
        return AutoPlacement(fallback, "fallback: no position is clearly better", scores)
    return AutoPlacement(best, "covers the least of the clip's faces, text and motion", scores)


def _score(rect: Rect, scene: SceneMaps, picture: Rect, occupied: Sequence[Rect]) -> dict[str, float]:
    score = {name: _share(getattr(scene, name), rect, picture) for name in ("faces", "text", "motion")}
    area = max(1.0, rect[2] * rect[3])
    score["overlays"] = sum(_overlap(rect, other) for other in occupied) / area
    score["total"] = sum(WEIGHTS[name] * value for name, value in score.items())
    return {name: round(value, 4) for name, value in score.items()}


def _share(cells: np.ndarray, rect: Rect, picture: Rect) -> float:
    """The share of the map's mass under `rect` (any cell the rectangle touches counts whole)."""
    total = float(cells.sum())
    if total <= 0:
        return 0.0
    rows, cols = cells.shape
    px, py, pw, ph = picture
    x, y, w, h = rect
    c0, c1 = (math.floor(max(0, (x - px) / pw) * cols), math.ceil(min(1, (x + w - px) / pw) * cols))
    r0, r1 = (math.floor(max(0, (y - py) / ph) * rows), math.ceil(min(1, (y + h - py) / ph) * rows))
    if c1 <= c0 or r1 <= r0:
        return 0.0
    return float(cells[r0:r1, c0:c1].sum()) / total


def _overlap(a: Rect, b: Rect) -> float:
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0.0, width) * max(0.0, height)


def anchor(position: str) -> tuple[float, float]:
    """(horizontal, vertical) of a fixed position in its box: 0 left/top, 0.5 centre, 1 right/bottom."""
    vertical = 0.0 if position.startswith("top") else 1.0 if position.startswith("bottom") else 0.5
    horizontal = 0.0 if position.endswith("left") else 1.0 if position.endswith("right") else 0.5
    return horizontal, vertical


def _grid(info: MediaInfo) -> tuple[int, int]:
    width, height = analysis_size(info)
    return max(1, height // CELL_PX), max(1, width // CELL_PX)


def _cells(values: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Mean of `values` over each cell."""
    import cv2

    return cv2.resize(values, (cols, rows), interpolation=cv2.INTER_AREA)


def _text_cells(grey: np.ndarray, rows: int, cols: int) -> np.ndarray:
    import cv2
    import numpy as np

    edges = cv2.Canny(grey, *CANNY_THRESHOLDS).astype(np.float32) / 255
    return (_cells(edges, rows, cols) >= TEXT_EDGE_DENSITY).astype(np.float32)


def _face_cells(grey: np.ndarray, rows: int, cols: int) -> np.ndarray:
    import numpy as np

    mask = np.zeros(grey.shape, np.float32)
    for x, y, w, h in face_boxes(grey):
        pad_x, pad_y = round(w * FACE_PAD), round(h * FACE_PAD)
        mask[max(0, y - pad_y) : y + h + pad_y, max(0, x - pad_x) : x + w + pad_x] = 1
    return (_cells(mask, rows, cols) > 0).astype(np.float32)


def face_boxes(grey: np.ndarray) -> Sequence[tuple[int, int, int, int]]:
    """The faces in a grey analysis frame (`frames.analysis_grey`): x, y, width, height in its pixels."""
    # no histogram equalisation: on a clip that is mostly flat it stretches noise and hides the face
    return face_detector().detectMultiScale(
        grey, scaleFactor=1.1, minNeighbors=5, minSize=(FACE_MIN_PX, FACE_MIN_PX)
    )


_detectors = threading.local()  # a CascadeClassifier is not safe to share between render threads


def face_detector() -> cv2.CascadeClassifier:
    """OpenCV's bundled frontal-face Haar cascade (ships in the opencv-python-headless wheel)."""
    import cv2

    detector = getattr(_detectors, "face", None)
    if detector is None:
        detector = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        if detector.empty():
            raise EngineError("position auto: OpenCV's bundled face detector could not be loaded")
        _detectors.face = detector
    return detector
