"""Clips with a subject that moves across the frame and stops, drawn frame by frame and piped to FFmpeg.

Each clip comes with where its subject really is in every frame (its box in source pixels), so a test can
check, on the rendered output's own pixels, that the subject is in the picture. The subject wears a frame
of pure magenta (a colour the background never has): an output's magenta pixels show where it is.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from portal.media.binary import locate_ffmpeg

MAGENTA = (255, 0, 255)  # RGB
BORDER = 4


@dataclass(frozen=True)
class MovingClip:
    path: Path
    size: tuple[int, int]
    fps: int
    boxes: list[tuple[int, int, int, int]]  # the subject in each frame: x, y, w, h (source pixels)
    stop_frame: int  # from this frame on the subject stands still


def _background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A dim, textured room: gradient walls and a few soft blocks (no magenta, no faces)."""
    x = np.linspace(0, 1, width, dtype=np.float32)
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    base = 60 + 40 * x[None, :] + 30 * y
    picture = np.repeat(base[:, :, None], 3, axis=2)
    picture[..., 2] += 15  # a cool cast
    for _ in range(6):
        bx, by = rng.integers(0, width - 60), rng.integers(0, height - 60)
        picture[by : by + 50, bx : bx + 70] += rng.integers(-25, 25)
    return np.clip(picture + rng.normal(0, 3, picture.shape), 0, 255).astype(np.uint8)


def _positions(width: int, subject_w: int, frames: int, moving: int) -> list[int]:
    """Left edges: from near the left side to near the right, eased, then still."""
    start, end = round(width * 0.04), round(width * 0.96) - subject_w
    xs = []
    for index in range(frames):
        share = min(1.0, index / moving)
        eased = share * share * (3 - 2 * share)
        xs.append(round(start + (end - start) * eased))
    return xs


def _write(path: Path, frames: Iterator[np.ndarray], fps: int, size: tuple[int, int], seconds: float) -> None:
    """Encode frames as they are drawn (a 10 s 1080p clip would not fit in memory whole), with a tone."""
    command = [
        str(locate_ffmpeg()), "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}", "-r", str(fps), "-i", "-",
        "-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", str(fps),
        "-c:a", "aac", "-shortest", str(path),
    ]  # fmt: skip
    encoder = subprocess.Popen(command, stdin=subprocess.PIPE)
    assert encoder.stdin is not None
    for frame in frames:
        encoder.stdin.write(frame.tobytes())
    encoder.stdin.close()
    if encoder.wait() != 0:
        raise RuntimeError(f"fixture ffmpeg failed: {' '.join(command)}")


def face_clip(
    path: Path, size: tuple[int, int] = (640, 360), fps: int = 30, seconds: float = 5.0
) -> MovingClip:
    """The astronaut's face (scikit-image's bundled photo) crossing the frame, then still (the last 40 %)."""
    from skimage.data import astronaut

    width, height = size
    face = astronaut()[20:230, 130:330]  # her head: a real face for the Haar detector
    side = round(height * 0.36)
    face = cv2.resize(face, (side, round(side * face.shape[0] / face.shape[1])), interpolation=cv2.INTER_AREA)
    fh, fw = face.shape[:2]
    count, moving = round(fps * seconds), round(fps * seconds * 0.6)
    rng = np.random.default_rng(7)
    background = _background(width, height, rng)
    top = (height - fh) // 2
    lefts = _positions(width, fw, count, moving)

    def frames() -> Iterator[np.ndarray]:
        for left in lefts:
            frame = background.copy()
            frame[top - BORDER : top + fh + BORDER, left - BORDER : left + fw + BORDER] = MAGENTA
            frame[top : top + fh, left : left + fw] = face
            yield frame

    _write(path, frames(), fps, size, seconds)
    boxes = [(left - BORDER, top - BORDER, fw + 2 * BORDER, fh + 2 * BORDER) for left in lefts]
    return MovingClip(path, size, fps, boxes, moving)


def walker_clip(
    path: Path, size: tuple[int, int] = (640, 360), fps: int = 30, seconds: float = 5.0
) -> MovingClip:
    """A figure drawn with OpenCV (head, body, swinging arms and legs) walking across, then standing still."""
    width, height = size
    tall = round(height * 0.7)
    body_w = round(tall * 0.4)
    count, moving = round(fps * seconds), round(fps * seconds * 0.6)
    rng = np.random.default_rng(11)
    background = _background(width, height, rng)
    top = (height - tall) // 2
    lefts = _positions(width, body_w, count, moving)
    boxes = [(left - BORDER, top - BORDER, body_w + 2 * BORDER, tall + 2 * BORDER) for left in lefts]
    _write(path, _walking(background, lefts, boxes, moving, fps, tall, top, body_w), fps, size, seconds)
    return MovingClip(path, size, fps, boxes, moving)


def _walking(
    background: np.ndarray,
    lefts: list[int],
    boxes: list,
    moving: int,
    fps: int,
    tall: int,
    top: int,
    body_w: int,
) -> Iterator[np.ndarray]:
    for index, (left, box) in enumerate(zip(lefts, boxes, strict=True)):
        frame = background.copy()
        swing = np.sin(index / fps * 2 * np.pi * 1.6) * 0.35 if index < moving else 0.0
        cx = left + body_w // 2
        head = round(tall * 0.09)
        colour = (30, 30, 40)
        cv2.circle(frame, (cx, top + head), head, colour, -1, cv2.LINE_AA)
        neck, hip = top + 2 * head, top + round(tall * 0.55)
        cv2.line(frame, (cx, neck), (cx, hip), colour, round(tall * 0.12), cv2.LINE_AA)
        limb = round(tall * 0.06)
        for side in (-1, 1):
            leg_x = cx + round(np.sin(side * swing) * tall * 0.4)
            cv2.line(frame, (cx, hip), (leg_x, top + tall - limb), colour, limb, cv2.LINE_AA)
            arm_x = cx - round(np.sin(side * swing) * tall * 0.25)
            cv2.line(frame, (cx, neck + limb), (arm_x, hip), colour, limb, cv2.LINE_AA)
        x, y, w, h = box
        cv2.rectangle(frame, (x, y), (x + w - 1, y + h - 1), MAGENTA, BORDER)
        yield frame
