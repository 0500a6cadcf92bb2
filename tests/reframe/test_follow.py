"""`fit: follow` on a subject that crosses a landscape frame and stops: the vertical output keeps it in the
picture (checked on the output's own pixels), pans without jumps, and holds still once the subject does.
The centre crop of the same clip, rendered in the same test, is the baseline it must beat."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from portal.media.options import EngineOptions, OutputFormat, Reframe
from portal.media.placement import analyse_scene
from portal.media.reframe import MAX_SPEED
from portal.video_processor import plan_edits, render_source
from tests.mediagen import logged_ffmpeg
from tests.reframe.clips import BORDER, MovingClip, face_clip, walker_clip
from tests.reframe.conftest import QUICK, rgb_frames

INSIDE = 0.9  # of the subject's width visible in the output: "in the picture"
SHARE_NEEDED = 0.95  # of the frames


def magenta_columns(frame: np.ndarray) -> np.ndarray:
    """Columns of the output holding the subject's magenta frame."""
    r, g, b = (frame[..., channel].astype(int) for channel in range(3))
    mask = (r > 170) & (b > 170) & (g < 110)
    return np.flatnonzero(mask.sum(axis=0) >= 3)


def visible_share(frame: np.ndarray, subject_width: float) -> float:
    columns = magenta_columns(frame)
    if columns.size == 0:
        return 0.0
    return min(1.0, (columns[-1] - columns[0] + 1) / subject_width)


def window_left(frame: np.ndarray, box: tuple[int, int, int, int], scale: float) -> float | None:
    """Where the crop window's left edge is on the scaled picture, from a fully visible subject."""
    columns = magenta_columns(frame)
    if columns.size == 0 or (columns[-1] - columns[0] + 1) < box[2] * scale - 2 * BORDER:
        return None
    return box[0] * scale - columns[0]


def render(clip: MovingClip, fit: str, brands, out: Path):
    [output] = render_source(clip.path, brands, out, preset="vertical", reframe=Reframe(fit), options=QUICK,
                             stem=f"{clip.path.stem}-{fit}")  # fmt: skip
    return output


@pytest.mark.parametrize("make", [face_clip, walker_clip], ids=["astronaut", "walker"])
def test_follow_keeps_the_subject_in_a_vertical_output(make, plain_brand, tmp_path: Path) -> None:
    clip = make(tmp_path / f"{make.__name__}.mp4")
    followed, centred = (
        render(clip, "follow", plain_brand, tmp_path),
        render(clip, "crop", plain_brand, tmp_path),
    )
    scale = followed.height / clip.size[1]  # the source scaled to cover the 9:16 canvas
    shares = {}
    for name, output in (("follow", followed), ("crop", centred)):
        frames = rgb_frames(output.path)
        assert len(frames) == len(clip.boxes)
        inside = [
            visible_share(frame, box[2] * scale) >= INSIDE
            for frame, box in zip(frames, clip.boxes, strict=True)
        ]
        shares[name] = sum(inside) / len(inside)
    assert shares["follow"] >= SHARE_NEEDED, shares
    assert shares["crop"] < 0.6, shares  # the baseline loses the subject for most of its walk

    # the window's movement, read from the output: no frame-to-frame jump faster than a pan
    frames = rgb_frames(followed.path)
    lefts = [window_left(frame, box, scale) for frame, box in zip(frames, clip.boxes, strict=True)]
    picture_width = clip.size[0] * scale
    bound = MAX_SPEED * picture_width / clip.fps + 3  # + rounding to even pixels and the border's blur
    steps = [abs(b - a) for a, b in itertools.pairwise(lefts) if a is not None and b is not None]
    assert len(steps) > len(frames) * 0.8
    assert max(steps) <= bound, (max(steps), bound)
    # once the subject has stood still for a second and a half, the window holds still
    settled = [left for left in lefts[clip.stop_frame + round(1.5 * clip.fps) :] if left is not None]
    assert len(settled) >= clip.fps // 2
    assert max(settled) - min(settled) <= 3, settled

    # the job's record: the path and its reasons
    path = followed.edits["reframe"]["path"]
    assert path["found"] is True
    reasons = {key["reason"].split(":")[0] for key in path["keys"]}
    assert reasons & {"face", "person", "motion"}
    if make is face_clip:
        assert "face" in reasons


def test_position_auto_reuses_the_frames_follow_decoded(tmp_path: Path) -> None:
    """One decode for both analyses: placement's maps made from the reframe's frames find the face."""
    clip = face_clip(tmp_path / "face.mp4", seconds=2.0)
    edits = plan_edits(clip.path, "vertical", Reframe("follow"))
    assert len(edits.decoded) >= 6
    scene = analyse_scene(edits.info, decoded=edits.decoded)
    assert scene.frames == 6 and scene.faces.any()


def test_one_render_follows_the_subject_in_every_format(plain_brand, tmp_path: Path) -> None:
    """Vertical, portrait and square from the matrix's one decode: one analysis, one FFmpeg render, and
    each shape keeps the subject in the picture."""
    clip = face_clip(tmp_path / "face.mp4")
    wrapper, calls = logged_ffmpeg(tmp_path)
    options = EngineOptions(**{**QUICK.__dict__, "ffmpeg_path": str(wrapper)})
    formats = [OutputFormat(preset, "follow") for preset in ("vertical", "portrait", "square")]
    outputs = render_source(clip.path, plain_brand, tmp_path / "out", formats=formats, options=options)

    renders = [line for line in calls.read_text().splitlines() if "-filter_complex" in line]
    assert len(renders) == 1  # every shape cropped from one decode
    assert {output.preset for output in outputs} == {"vertical", "portrait", "square"}
    for output in outputs:
        scale = output.height / clip.size[1]  # the source scaled to cover the canvas (all narrower)
        frames = rgb_frames(output.path)
        inside = [
            visible_share(frame, box[2] * scale) >= INSIDE
            for frame, box in zip(frames, clip.boxes, strict=True)
        ]
        assert sum(inside) / len(inside) >= SHARE_NEEDED, output.preset
        assert output.edits["reframe"]["path"]["found"] is True
