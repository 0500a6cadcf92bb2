"""`fit: follow` and the trim's end card: where the subject is, and a crop window that follows it.

Three parts, each testable alone:
- finding (`find_subjects`): on the grey frames `portal.media.frames` decoded a few times a second, the
  subject of each frame: faces first (OpenCV's bundled Haar cascade, as `position: auto` uses), then
  people (OpenCV's HOG person detector), then what moves (change from the frame sampled before);
- the path (`follow_path`, pure maths): the window's centre over time, smoothed like a camera operator's
  pan: outliers dropped, steadied, led a little ahead, speed and acceleration bounded, held still while the
  subject stays near the centre, and cut where the clip cuts (`scene_cuts`);
- the filter (`crop_steps`, pure): the path as FFmpeg's crop whose x and y are expressions of time, one
  clipped ramp per keyframe (no nesting, so a long path is a long sum, not a deep parse).

Positions are fractions of the picture (0..1, the window's centre), so one path serves every format: each
format's window has its own size and is clamped to stay on the picture.
`find_end_card` (pure) reads the per-frame changes for a still tail after a hard cut.
"""

from __future__ import annotations

import itertools
import math
import statistics
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from portal.media.placement import face_detector

if TYPE_CHECKING:
    import numpy as np

Box = tuple[float, float, float, float]  # x, y, width, height as fractions of the picture

SAMPLE_FPS = 4.0  # frames a second looked at: a walking subject moves ~1/20 of a frame between them
FACE_MIN_FRACTION = 0.07  # smallest face looked for, as a fraction of the short side: a subject worth a
# window (smaller faces are crowds in the background); each halving of it doubles the detector's work
FACE_SCALE_STEP = 1.2  # the detector's pyramid: coarser steps find the same faces a little less snugly
FACE_LONG_SIDE = 480  # faces are looked for on a copy this size: a third of the work at 640, same faces
PERSON_LONG_SIDE = 400  # HOG runs at this size (its window is 64x128: people from ~half the height)
PERSON_MIN_WEIGHT = 0.5  # HOG's SVM score below this is mostly clutter
MOTION_THRESHOLD = 25  # grey levels of change that count as movement
MOTION_MIN_AREA = 0.002  # of the frame: less is noise
MOTION_MAX_AREA = 0.5  # of the frame: more is the camera moving, not a subject
CONTINUITY = 0.5  # a face this much smaller than the largest still wins if it is the one followed

# The path: fractions of the picture per second. A person panning a camera over a 16:9 scene takes about
# three seconds from one side to the other; faster looks like a jump.
MAX_SPEED = 0.35
MAX_ACCEL = 0.8  # per second per second: the window eases into and out of a pan
DEADZONE = 0.04  # a holding window starts to move only when its aim is further than this
SETTLE = 0.01  # a moving window stops (and holds) once this close to its aim
GAIN = 3.0  # per second: how quickly the window closes the distance to its aim
LEAD_S = 0.35  # the window aims where the subject will be this much later (the path knows the future)
MEDIAN_SAMPLES = 5  # an outlier shorter than this many samples is ignored
SMOOTH_S = 0.75  # the aim is averaged over this long
STEP_S = 1 / 60  # the simulated operator's time step
KEY_TOLERANCE = 0.002  # keyframes on a straight stretch within this are dropped

# Cuts and cards, from each frame's mean change (0..1) from the frame before.
CUT_MIN_CHANGE = 0.12  # a hard cut changes at least this much...
CUT_RATIO = 4.0  # ...and this many times more than the frames around it do
CUT_CONTEXT_S = 0.5
STILL_CHANGE = 0.008  # a frame of a card changes less than this (a near-still: a slow zoom, a cursor)
MIN_CARD_S = 1.0  # a shorter still tail is part of the clip
MAX_CARD_S = 15.0  # a longer one is the clip itself


@dataclass(frozen=True)
class Subject:
    """What was followed in one sampled frame (None: nothing found), and how it was found."""

    t: float  # seconds from the start of the kept range
    box: Box | None
    kind: str | None  # "face", "person", "motion"


@dataclass(frozen=True)
class WindowKey:
    """Where the window's centre is at `t` (fractions of the picture), and why."""

    t: float
    x: float
    y: float
    reason: str

    def as_dict(self) -> dict:
        return {"t": round(self.t, 3), "x": round(self.x, 4), "y": round(self.y, 4), "reason": self.reason}


@dataclass(frozen=True)
class FollowPath:
    keys: tuple[WindowKey, ...]
    found: bool  # a subject was found somewhere: else the fallback (a still window, or the blur) is used
    cuts: tuple[float, ...] = ()  # scene cuts the window jumped at

    def as_dict(self) -> dict:
        return {"found": self.found, "cuts": [round(t, 3) for t in self.cuts],
                "keys": [key.as_dict() for key in self.keys]}  # fmt: skip


@dataclass(frozen=True)
class EndCard:
    """A trailing card found and cut: from `start` (the hard cut) to the end, and why."""

    start: float
    end: float
    reason: str

    def as_dict(self) -> dict:
        return {"start": round(self.start, 3), "end": round(self.end, 3), "reason": self.reason}


# --- finding the subject ---------------------------------------------------------------------------------


def find_subjects(samples: Sequence[tuple[float, np.ndarray]], offset: float = 0.0) -> list[Subject]:
    """The subject of each sampled frame: a face, else a person, else what moved since the sample before.

    `offset` is subtracted from the times (the kept range's start), so subjects are on the output's clock.
    """
    subjects: list[Subject] = []
    previous_grey = None
    followed: Box | None = None
    for t, grey in samples:
        box, kind = _largest_face(grey, followed), "face"
        if box is None:
            box, kind = _person(grey), "person"
        if box is None and previous_grey is not None:
            box, kind = _moving(grey, previous_grey), "motion"
        subjects.append(Subject(t - offset, box, kind if box else None))
        followed = box or followed
        previous_grey = grey
    return subjects


def _fractions(rect: Sequence[float], shape: tuple[int, ...]) -> Box:
    height, width = shape[:2]
    x, y, w, h = (float(value) for value in rect)
    return x / width, y / height, w / width, h / height


def _centre(box: Box) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def _largest_face(grey: np.ndarray, followed: Box | None) -> Box | None:
    """The largest face, or the face followed so far if it is nearly as large (no hopping between people)."""
    small = _at_most(grey, FACE_LONG_SIDE)
    side = max(16, round(min(small.shape) * FACE_MIN_FRACTION))
    found = face_detector().detectMultiScale(
        small, scaleFactor=FACE_SCALE_STEP, minNeighbors=5, minSize=(side, side)
    )
    boxes = [_fractions(rect, small.shape) for rect in found]
    if not boxes:
        return None
    largest = max(boxes, key=lambda box: box[2] * box[3])
    if followed is None:
        return largest
    near = min(boxes, key=lambda box: math.dist(_centre(box), _centre(followed)))
    return near if near[2] * near[3] >= CONTINUITY * largest[2] * largest[3] else largest


_people = threading.local()  # a HOGDescriptor is not safe to share between render threads


def _person(grey: np.ndarray) -> Box | None:
    """The strongest person OpenCV's default HOG people detector sees (on a smaller copy: it is slow)."""
    import cv2

    detector = getattr(_people, "hog", None)
    if detector is None:
        detector = cv2.HOGDescriptor()
        detector.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        _people.hog = detector
    small = _at_most(grey, PERSON_LONG_SIDE)
    rects, weights = detector.detectMultiScale(small, winStride=(8, 8), padding=(8, 8), scale=1.1)
    scored = [(float(w), rect) for rect, w in zip(rects, list(weights), strict=True)]
    scored = [(w, rect) for w, rect in scored if w >= PERSON_MIN_WEIGHT]
    if not scored:
        return None
    return _fractions(max(scored, key=lambda pair: pair[0])[1], small.shape)


def _at_most(grey: np.ndarray, long_side: int) -> np.ndarray:
    """The frame scaled down so its long side is at most `long_side` (area averaging: no aliasing)."""
    import cv2

    scale = long_side / max(grey.shape)
    return cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey


def _moving(grey: np.ndarray, before: np.ndarray) -> Box | None:
    """The bounding box of the largest moving region, unless nothing (or everything) moves."""
    import cv2
    import numpy as np

    changed = (cv2.absdiff(grey, before) >= MOTION_THRESHOLD).astype(np.uint8)
    changed = cv2.morphologyEx(changed, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    share = float(changed.mean())
    if not MOTION_MIN_AREA <= share <= MOTION_MAX_AREA:
        return None
    count, _, stats, _ = cv2.connectedComponentsWithStats(changed)
    if count < 2:
        return None
    x, y, w, h, _ = max(stats[1:], key=lambda row: row[cv2.CC_STAT_AREA])
    return _fractions((x, y, w, h), grey.shape)


# --- cuts and cards (pure) -------------------------------------------------------------------------------


def scene_cuts(times: Sequence[float], changes: Sequence[float]) -> list[float]:
    """The times of frames that start a new shot: a change far above the frames around it."""
    cuts = []
    for index, change in enumerate(changes):
        if change < CUT_MIN_CHANGE:
            continue
        around = [
            other
            for j, other in enumerate(changes)
            if j != index and abs(times[j] - times[index]) <= CUT_CONTEXT_S
        ]
        if change >= CUT_RATIO * max(statistics.median(around) if around else 0.0, STILL_CHANGE):
            cuts.append(times[index])
    return cuts


def find_end_card(times: Sequence[float], changes: Sequence[float], end: float) -> EndCard | None:
    """A still (or near-still) tail of MIN_CARD_S to MAX_CARD_S that starts at a hard cut from a moving
    shot, else None (a still clip with a flash in it has no card)."""
    if not times:
        return None
    first_still = len(changes)
    while first_still > 1 and changes[first_still - 1] < STILL_CHANGE:
        first_still -= 1
    # the frame that starts the tail must be the cut into it
    cut = first_still - 1
    if cut < 1 or times[cut] not in scene_cuts(times, changes):
        return None
    before = [change for t, change in zip(times[:cut], changes[:cut], strict=True) if t >= times[cut] - 1.0]
    if statistics.median(before) < STILL_CHANGE:
        return None
    length = end - times[cut]
    if not MIN_CARD_S <= length <= MAX_CARD_S:
        return None
    return EndCard(
        times[cut], end, f"still for {length:.2f} s after a hard cut at {times[cut]:.2f} s (an end card)"
    )


# --- the path (pure) -------------------------------------------------------------------------------------


def follow_path(
    subjects: Sequence[Subject],
    duration: float,
    cuts: Sequence[float] = (),
    rest: tuple[float, float] = (0.5, 0.5),
) -> FollowPath:
    """The window's centre over [0, duration]: a smoothed, speed-bounded pan after the subjects.

    Each shot (between `cuts`) is followed on its own: at a cut the window jumps to the new shot's subject.
    Samples with no subject take the nearest found one in the same shot; a shot with none rests at
    `rest` (the user's anchor, else the centre). With no subject anywhere the path is one still key.
    """
    found = any(subject.box for subject in subjects)
    if not found or duration <= 0:
        return FollowPath((WindowKey(0.0, *rest, "no subject found: still window"),), False)
    bounds = [0.0, *sorted(t for t in cuts if 0 < t < duration), duration]
    keys: list[WindowKey] = []
    for shot_start, shot_end in itertools.pairwise(bounds):
        shot = [s for s in subjects if shot_start <= s.t < shot_end]
        keys += _follow_shot(shot, shot_start, shot_end, rest, first=not keys)
    return FollowPath(tuple(_simplify(keys)), True, tuple(bounds[1:-1]))


def _follow_shot(
    shot: Sequence[Subject], start: float, end: float, rest: tuple[float, float], first: bool
) -> list[WindowKey]:
    cut_reason = "" if first else "scene cut: jump to the subject"
    if not any(subject.box for subject in shot):
        reason = "no subject in this shot: still window"
        return [WindowKey(start, *rest, cut_reason or reason), WindowKey(end, *rest, reason)]
    times = [subject.t for subject in shot]
    kinds = _filled([subject.kind for subject in shot])
    aims = []
    for axis in (0, 1):
        raw = _filled([_centre(s.box)[axis] if s.box else None for s in shot])
        aims.append(_averaged(times, _median(raw), SMOOTH_S))

    def aim(t: float, axis: int) -> float:
        return _interpolate(times, aims[axis], min(end, t + LEAD_S))

    position = [aim(start, 0), aim(start, 1)]
    velocity = [0.0, 0.0]
    holding = [True, True]  # a dead zone with hysteresis: no creeping after a subject that stands still
    keys = [WindowKey(start, *position, cut_reason or f"{kinds[0]}: start on the subject")]
    sample = 1
    t = start
    while t < end - 1e-9:
        step = min(STEP_S, end - t)
        t += step
        moving = False
        for axis in (0, 1):
            error = aim(t, axis) - position[axis]
            if holding[axis] and abs(error) > DEADZONE:
                holding[axis] = False
            elif not holding[axis] and abs(error) < SETTLE and abs(velocity[axis]) <= GAIN * SETTLE:
                holding[axis], velocity[axis] = True, 0.0
            wanted = 0.0 if holding[axis] else math.copysign(min(MAX_SPEED, GAIN * abs(error)), error)
            change = max(-MAX_ACCEL * step, min(MAX_ACCEL * step, wanted - velocity[axis]))
            velocity[axis] += change
            position[axis] = min(1.0, max(0.0, position[axis] + velocity[axis] * step))
            moving = moving or abs(velocity[axis]) > 1e-4
        while sample < len(times) and times[sample] <= t + 1e-9:
            reason = f"{kinds[sample]}: {'pan after' if moving else 'hold on'} the subject"
            keys.append(WindowKey(times[sample], *position, reason))
            sample += 1
    keys.append(WindowKey(end, *position, keys[-1].reason))
    return keys


def _filled(values: Sequence) -> list:
    """Gaps (None) take the nearest value before them, or the first one after for a leading gap."""
    known = [value for value in values if value is not None]
    current = known[0] if known else None
    filled = []
    for value in values:
        current = value if value is not None else current
        filled.append(current)
    return filled


def _median(values: Sequence[float]) -> list[float]:
    half = MEDIAN_SAMPLES // 2
    return [statistics.median(values[max(0, i - half) : i + half + 1]) for i in range(len(values))]


def _averaged(times: Sequence[float], values: Sequence[float], span: float) -> list[float]:
    """A centred moving average over `span` seconds."""
    averaged = []
    for t in times:
        window = [v for other, v in zip(times, values, strict=True) if abs(other - t) <= span / 2]
        averaged.append(sum(window) / len(window))
    return averaged


def _interpolate(times: Sequence[float], values: Sequence[float], t: float) -> float:
    if t <= times[0]:
        return values[0]
    for (t0, v0), (t1, v1) in itertools.pairwise(zip(times, values, strict=True)):
        if t <= t1:
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0) if t1 > t0 else v1
    return values[-1]


def _simplify(keys: list[WindowKey]) -> list[WindowKey]:
    """Drop keys that lie on the straight line between their neighbours (a hold is two keys)."""
    kept = [keys[0]]
    for key, after in itertools.pairwise(keys[1:]):
        before = kept[-1]
        if after.t - before.t <= 1e-9:
            kept.append(key)
            continue
        share = (key.t - before.t) / (after.t - before.t)
        straight = all(
            abs(
                getattr(before, axis)
                + (getattr(after, axis) - getattr(before, axis)) * share
                - getattr(key, axis)
            )
            <= KEY_TOLERANCE
            for axis in ("x", "y")
        )
        if not straight or key.reason != before.reason:
            kept.append(key)
    if len(keys) > 1:
        kept.append(keys[-1])
    return kept


# --- the filter (pure) -----------------------------------------------------------------------------------


def centre_at(keys: Sequence[dict], t: float) -> tuple[float, float]:
    """Where a stored window path (`FollowPath.as_dict()["keys"]`) has its centre at `t`: the render's
    crop moves linearly from key to key (`crop_step`), so a still at `t` crops there."""
    before = max((key for key in keys if key["t"] <= t), key=lambda key: key["t"], default=keys[0])
    after = min((key for key in keys if key["t"] > t), key=lambda key: key["t"], default=before)
    share = (t - before["t"]) / (after["t"] - before["t"]) if after["t"] > before["t"] else 0.0
    return tuple(before[axis] + (after[axis] - before[axis]) * share for axis in ("x", "y"))  # type: ignore[return-value]


def window_origin(centre: float, picture: int, window: int) -> int:
    """The window's left (or top) edge for a centre fraction, clamped to the picture, made even."""
    edge = min(max(0.0, centre * picture - window / 2), picture - window)
    return max(0, math.floor(edge / 2) * 2)


def crop_step(picture: tuple[int, int], canvas: tuple[int, int], keys: Sequence[WindowKey]) -> str:
    """FFmpeg's crop of a canvas-sized window from the scaled picture, moving along `keys` over time."""
    return (
        f"crop=w={canvas[0]}:h={canvas[1]}"
        f":x='{_ramp_sum(keys, 'x', picture[0], canvas[0])}'"
        f":y='{_ramp_sum(keys, 'y', picture[1], canvas[1])}'"
    )


def _ramp_sum(keys: Sequence[WindowKey], axis: str, picture: int, window: int) -> str:
    """x(t) piecewise linear through the keys: the first value plus one clipped ramp per segment."""
    values = [window_origin(getattr(key, axis), picture, window) for key in keys]
    terms = [str(values[0])]
    for (k0, v0), (k1, v1) in itertools.pairwise(zip(keys, values, strict=True)):
        if v1 == v0:
            continue
        span = max(k1.t - k0.t, 1e-3)  # a jump (a cut) is a ramp one millisecond long
        terms.append(f"{v1 - v0}*clip((t-{k0.t:.3f})/{span:.3f},0,1)")
    return "+".join(terms)
