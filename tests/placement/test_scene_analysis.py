"""What `analyse_scene` finds in a clip: a real face, burned-in text, nothing; in the right place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from portal.media.placement import analyse_scene, choose_position
from portal.media.probe import probe_media
from tests.mediagen import ffmpeg
from tests.placement.conftest import CORNERS, content_box


def found_where(cells: np.ndarray) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the map's non-zero cells as fractions of the picture."""
    rows, cols = np.nonzero(cells)
    height, width = cells.shape
    return cols.min() / width, rows.min() / height, (cols.max() + 1) / width, (rows.max() + 1) / height


def inside(found: tuple[float, ...], box: tuple[int, ...], size: tuple[int, int], slack: float) -> bool:
    """Whether the found region lies within the content box (fractions; `slack` allows face padding)."""
    width, height = size
    left, top, right, bottom = box[0] / width, box[1] / height, box[2] / width, box[3] / height
    return (
        found[0] >= left - slack
        and found[1] >= top - slack
        and found[2] <= right + slack
        and found[3] <= bottom + slack
    )


@pytest.mark.parametrize("corner", CORNERS)
def test_the_astronauts_face_is_found_in_its_corner(corner: str, scene_clip) -> None:
    size = (360, 640)
    scene = analyse_scene(probe_media(scene_clip("face", corner, size)))
    assert scene.frames == 6
    assert scene.faces.max() == 1.0  # in every sampled frame
    assert inside(found_where(scene.faces), content_box(corner, size), size, slack=0.02)


@pytest.mark.parametrize("size", [(360, 640), (640, 360)])
def test_burned_in_text_is_found_in_its_corner_and_is_not_a_face(size, scene_clip) -> None:
    scene = analyse_scene(probe_media(scene_clip("text", "bottom-left", size)))
    assert not scene.faces.any()
    assert scene.text.any()
    assert inside(found_where(scene.text), content_box("bottom-left", size), size, slack=0.03)


def test_a_plain_clip_has_no_faces_no_text_no_motion(scene_clip) -> None:
    scene = analyse_scene(probe_media(scene_clip("plain")))
    assert scene.frames == 6 and not scene.found_faces_or_text and not scene.motion.any()


def test_motion_is_mapped_where_the_picture_changes(tmp_path: Path) -> None:
    """A white square sweeping along the bottom of a still grey clip."""
    clip = tmp_path / "sweep.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=gray:size=360x640:rate=30:duration=2",
        "-f", "lavfi", "-i", "color=c=white:size=60x60:rate=30:duration=2",
        "-filter_complex", "[0][1]overlay=x='mod(t*400,300)':y=520",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "10", str(clip),
    )  # fmt: skip
    scene = analyse_scene(probe_media(clip))
    assert scene.motion.any()
    assert found_where(scene.motion)[1] >= 0.75  # only in the bottom band


def test_the_analysis_is_deterministic(scene_clip) -> None:
    info = probe_media(scene_clip("face", "bottom-right"))
    first, second = analyse_scene(info), analyse_scene(info)
    for name in ("faces", "text", "motion"):
        assert np.array_equal(getattr(first, name), getattr(second, name))


@pytest.mark.parametrize("degrees", [90, 270])
def test_frames_are_read_as_the_player_shows_them(degrees: int, tmp_path: Path, scene_clip) -> None:
    """A landscape-coded clip with a rotation tag: the face is found where FFmpeg's autorotation puts it."""
    coded = tmp_path / "coded.mp4"
    upright = Image.open(scene_clip("face", "top-left", (360, 640)).with_suffix(".png"))
    # turned the other way before encoding, so that the player's turn shows the face upright
    upright.rotate(-degrees, expand=True).save(tmp_path / "c.png")
    ffmpeg("-loop", "1", "-i", str(tmp_path / "c.png"), "-t", "0.5", "-pix_fmt", "yuv420p", str(coded))
    rotated = tmp_path / f"r{degrees}.mp4"
    ffmpeg("-display_rotation", str(degrees), "-i", str(coded), "-c", "copy", str(rotated))
    shown = tmp_path / "shown.png"
    ffmpeg("-i", str(rotated), "-frames:v", "1", str(shown))  # autorotated, as every output is
    shown_frame = np.asarray(Image.open(shown).convert("L")).astype(int)
    assert np.abs(shown_frame - np.asarray(upright.convert("L")).astype(int)).mean() < 4  # shown upright
    info = probe_media(rotated)
    assert (info.width, info.height) == (360, 640)
    upright_faces = analyse_scene(probe_media(scene_clip("face", "top-left", (360, 640)))).faces
    assert found_where(analyse_scene(info).faces) == pytest.approx(found_where(upright_faces), abs=0.03)


def test_choice_avoids_the_face_and_reports_every_candidates_scores(scene_clip) -> None:
    scene = analyse_scene(probe_media(scene_clip("face", "top-right")))
    picture = (0, 0, 360, 640)
    candidates = {"top-left": (20, 20, 72, 36), "top-right": (268, 20, 72, 36), "center": (144, 302, 72, 36)}
    choice = choose_position(candidates, scene, picture, fallback="top-right")
    assert choice.position != "top-right"
    assert set(choice.scores) == set(candidates)
    assert choice.scores["top-right"]["faces"] > 0 and choice.scores[choice.position]["faces"] == 0


def test_without_faces_or_text_the_fallback_is_kept(scene_clip) -> None:
    scene = analyse_scene(probe_media(scene_clip("plain")))
    candidates = {"top-left": (20, 20, 72, 36), "top-right": (268, 20, 72, 36)}
    choice = choose_position(candidates, scene, (0, 0, 360, 640), fallback="top-right")
    assert (choice.position, choice.reason) == ("top-right", "fallback: no faces or text found")


def test_only_keyframes_are_sampled_each_once(scene_clip, tmp_path: Path) -> None:
    """A seek lands on a keyframe and only it is decoded: a clip with one keyframe gives one sample."""
    one_keyframe = tmp_path / "one.mp4"
    ffmpeg("-i", str(scene_clip("face")), "-c:v", "libx264", "-preset", "ultrafast", "-g", "300",
           str(one_keyframe))  # fmt: skip
    assert analyse_scene(probe_media(one_keyframe)).frames == 1
    assert analyse_scene(probe_media(scene_clip("face"))).frames == 6  # a keyframe every 5 frames
