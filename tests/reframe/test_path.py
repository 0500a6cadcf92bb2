"""The window's path and its filter, as pure maths: no FFmpeg, no frames."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from portal.media.options import Reframe
from portal.media.plan import fit_step
from portal.media.reframe import (
    MAX_SPEED,
    FollowPath,
    Subject,
    WindowKey,
    crop_step,
    find_end_card,
    follow_path,
    scene_cuts,
)

RATE = 4  # samples a second, as the engine looks


def subjects(centres: list[float | None], width: float = 0.1) -> list[Subject]:
    return [
        Subject(
            index / RATE, (x - width / 2, 0.4, width, 0.2) if x is not None else None, "face" if x else None
        )
        for index, x in enumerate(centres)
    ]


def position(path: FollowPath, t: float) -> float:
    keys = path.keys
    for k0, k1 in itertools.pairwise(keys):
        if k0.t <= t <= k1.t:
            return k0.x + (k1.x - k0.x) * ((t - k0.t) / (k1.t - k0.t) if k1.t > k0.t else 1)
    return keys[-1].x


def test_a_jittery_subject_that_stays_put_gives_a_still_window() -> None:
    rng = random.Random(3)
    centres = [0.7 + rng.uniform(-0.02, 0.02) for _ in range(40)]
    path = follow_path(subjects(centres), 10.0)
    xs = [position(path, t / 30) for t in range(300)]
    assert max(xs) - min(xs) < 0.005
    assert abs(xs[-1] - 0.7) < 0.03
    assert all("hold" in key.reason or "start" in key.reason for key in path.keys)


def test_the_window_never_pans_faster_than_the_bound() -> None:
    centres = [0.1] * 8 + [0.9] * 32  # the subject teleports: the window pans, it does not jump
    path = follow_path(subjects(centres), 10.0)
    xs = [position(path, t / 30) for t in range(301)]
    speeds = [abs(b - a) * 30 for a, b in itertools.pairwise(xs)]
    assert max(speeds) <= MAX_SPEED + 1e-6
    assert abs(xs[-1] - 0.9) < 0.03


def test_at_a_scene_cut_the_window_jumps_to_the_new_shot() -> None:
    centres = [0.2] * 20 + [0.8] * 20
    path = follow_path(subjects(centres), 10.0, cuts=[5.0])
    assert path.cuts == (5.0,)
    assert position(path, 4.99) == pytest.approx(0.2, abs=0.03)
    assert position(path, 5.01) == pytest.approx(0.8, abs=0.03)
    assert any(key.reason.startswith("scene cut") for key in path.keys)


def test_gaps_hold_the_last_place_and_nothing_found_rests_at_the_anchor() -> None:
    path = follow_path(subjects([0.3] * 10 + [None] * 10), 5.0)
    assert position(path, 4.9) == pytest.approx(0.3, abs=0.03)
    empty = follow_path(subjects([None] * 10), 2.5, rest=(0.25, 0.5))
    assert not empty.found
    assert [(key.x, key.y) for key in empty.keys] == [(0.25, 0.5)]


def test_the_crop_filter_is_a_flat_sum_of_clipped_ramps_clamped_to_the_picture() -> None:
    keys = (WindowKey(0, 0.0, 0.5, "a"), WindowKey(2, 0.5, 0.5, "b"), WindowKey(4, 1.0, 0.5, "c"))
    step = crop_step((1138, 640), (360, 640), keys)
    x = re.search(r":x='([^']*)'", step)[1]
    assert x == "0+388*clip((t-0.000)/2.000,0,1)+390*clip((t-2.000)/2.000,0,1)"  # 0, 388 (centre), 778
    assert re.search(r":y='([^']*)'", step)[1] == "0"


def test_fit_steps_for_each_kind_of_window() -> None:
    picture, canvas = (1138, 640), (360, 640)
    assert fit_step(picture, canvas, Reframe("crop")) == "crop=360:640"
    assert fit_step(picture, canvas, Reframe("crop", anchor=(0.0, 0.5))) == "crop=360:640:0:0"
    assert fit_step(picture, canvas, Reframe("crop", anchor=(1.0, 0.5))) == "crop=360:640:778:0"
    still = FollowPath((WindowKey(0, 0.2, 0.5, "none"),), found=False)
    assert fit_step(picture, canvas, Reframe("follow"), still) == "crop=360:640"
    assert fit_step(picture, canvas, Reframe("blur")).startswith("split=2")


@pytest.mark.parametrize("asked", [{"anchor": (0.5, 0.5)}, {"zoom": 1.5}])
def test_anchor_and_zoom_need_a_crop(asked) -> None:
    with pytest.raises(ValueError, match="fit crop or follow"):
        Reframe("blur", **asked)


def test_cuts_and_cards_from_frame_changes() -> None:
    times = [index / 30 for index in range(150)]
    changes = [0.0] + [0.03] * 89 + [0.4] + [0.001] * 59  # moving, a hard cut at 3 s, then still
    assert scene_cuts(times, changes) == [3.0]
    card = find_end_card(times, changes, 5.0)
    assert card is not None and card.start == 3.0
    assert find_end_card(times, [0.0] + [0.03] * 149, 5.0) is None  # moving to the end
    assert find_end_card(times, [0.0] + [0.001] * 149, 5.0) is None  # still throughout: no cut into it
    flash = [0.0] + [0.001] * 89 + [0.4] + [0.001] * 59
    assert find_end_card(times, flash, 5.0) is None  # a flash in a still shot: not a card
