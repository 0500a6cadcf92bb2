"""A clip's picture fingerprint and cover still (DESIGN 4.14): paths in, numbers out.

The fingerprint is a 64-bit DCT hash (a pHash) of the clip's *mean picture*: grey frames sampled evenly over
the whole clip, averaged. An average over the clip barely moves when 0.5 s is trimmed, a logo covers a
corner, or the file is re-encoded or scaled. Letterbox bars and a blurred fill are cut off first (the rows
and columns at the edges with little detail), and the content is resized to a square, so the same clip in
another frame or shape lands on the same grid. A mirror is made harmless by folding the picture onto its
mirror image, (p + flip(p)) / 2: a clip and its mirror give the same bits. The fold's DCT has no
horizontally odd terms, so the bits come from the even ones.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from portal.media.ffmpeg import run_ffmpeg

ANALYSIS_SIDE = 256  # frames are read at this size, in grey, to find the content and average it
HASH_SIDE = 32  # the DCT's size; the hash keeps its lowest terms
HASH_BITS = 64
SAMPLE_FPS = 4.0
MAX_SAMPLES = 64  # a long clip is sampled this many times, evenly
# A row or column at the edge whose detail is under this share of the picture's typical detail is a bar
# or a blurred fill, not content.
EDGE_DETAIL_SHARE = 0.2
MIN_BAR = 0.03
FINGERPRINT_TIMEOUT_S = 300.0
COVER_WIDTH = 320


def sample_rate(duration: float) -> float:
    """Frames per second to sample: SAMPLE_FPS, fewer for a long clip (at most MAX_SAMPLES frames)."""
    return min(SAMPLE_FPS, MAX_SAMPLES / max(duration, 0.1))


def read_grey_frames(source: Path, duration: float, binary: Path) -> np.ndarray:
    """Frames sampled evenly over the clip, ANALYSIS_SIDE square, grey, as floats (frames, rows, columns)."""
    side = ANALYSIS_SIDE
    with tempfile.TemporaryDirectory(prefix="wtf-fingerprint-") as work:
        raw = Path(work) / "frames.gray"
        args = [
            "-hide_banner", "-nostdin", "-loglevel", "error", "-progress", "pipe:1", "-i", str(source),
            "-map", "0:v:0", "-an", "-sn",
            "-vf", f"fps={sample_rate(duration):.4f},scale={side}:{side}:flags=area,format=gray",
            "-f", "rawvideo", "-y", str(raw),
        ]  # fmt: skip
        run_ffmpeg(binary, args, duration=duration, timeout=FINGERPRINT_TIMEOUT_S)
        data = np.fromfile(raw, dtype=np.uint8)
    return data[: data.size - data.size % (side * side)].reshape(-1, side, side).astype(np.float32)


def content_box(frames: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the picture inside letterbox bars or a blurred fill.

    Bars are cut only in pairs of about the same size (a centred picture, as a letterbox or blur-fill
    makes it), each at least MIN_BAR of the side: a picture with a plain sky is not cut.
    """
    detail = np.abs(np.diff(frames, axis=1))[:, :, :-1] + np.abs(np.diff(frames, axis=2))[:, :-1, :]
    detail = detail.mean(axis=0)
    typical = float(np.percentile(detail, 90)) or 1.0

    def span(profile: np.ndarray) -> tuple[int, int]:
        size = len(profile) + 1
        busy = np.flatnonzero(profile >= EDGE_DETAIL_SHARE * typical)
        if busy.size == 0:
            return 0, size
        start, end = int(busy[0]), int(busy[-1]) + 2
        before, after = start, size - end
        if min(before, after) < MIN_BAR * size or abs(before - after) > MIN_BAR * size:
            return 0, size
        return start, end

    top, bottom = span(detail.mean(axis=1))
    left, right = span(detail[top:bottom].mean(axis=0))
    return top, bottom, left, right


def _resize(picture: np.ndarray, side: int) -> np.ndarray:
    """Area-average `picture` to side x side."""
    rows = np.linspace(0, picture.shape[0], side + 1).astype(int)
    cols = np.linspace(0, picture.shape[1], side + 1).astype(int)
    summed = np.add.reduceat(np.add.reduceat(picture, rows[:-1], axis=0), cols[:-1], axis=1)
    return summed / np.outer(np.diff(rows), np.diff(cols))


@lru_cache(maxsize=1)
def _centre_weight(size: int) -> np.ndarray:
    window = np.hanning(size + 2)[1:-1]
    return np.outer(window, window)


@lru_cache(maxsize=1)
def _dct_matrix(size: int) -> np.ndarray:
    k, n = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    matrix = np.cos(np.pi * (2 * n + 1) * k / (2 * size)) * np.sqrt(2 / size)
    matrix[0] /= np.sqrt(2)
    return matrix


def picture_hash(picture: np.ndarray) -> int:
    """The 64-bit mirror-invariant pHash of one grey picture (any size)."""
    square = _resize(picture.astype(np.float64), HASH_SIDE)
    # the edges and corners, where logos and captions sit, count less than the middle
    square = (square - square.mean()) * _centre_weight(HASH_SIDE)
    folded = (square + square[:, ::-1]) / 2
    dct = _dct_matrix(HASH_SIDE) @ folded @ _dct_matrix(HASH_SIDE).T
    # rows: vertical frequency 0..8; columns: the even horizontal ones (the fold zeroes the odd ones);
    # the mean (0, 0) says only how bright the clip is, so it is left out
    terms = np.array([dct[v, u] for v in range(9) for u in range(0, 16, 2) if (v, u) != (0, 0)][:HASH_BITS])
    bits = terms > np.median(terms)
    return int("".join("1" if bit else "0" for bit in bits), 2)


def frames_hash(frames: np.ndarray) -> int:
    """The fingerprint of sampled frames: the pHash of their mean picture inside the content box."""
    top, bottom, left, right = content_box(frames)
    return picture_hash(frames[:, top:bottom, left:right].mean(axis=0))


def fingerprint_clip(source: Path, duration: float, binary: Path) -> int:
    """The clip's 64-bit picture fingerprint (compare two with `hamming`)."""
    frames = read_grey_frames(source, duration, binary)
    if not len(frames):
        raise ValueError(f"{source.name}: no frames to fingerprint")
    return frames_hash(frames)


def hamming(a: int, b: int) -> int:
    """How many of two fingerprints' bits differ."""
    return (a ^ b).bit_count()


def cover_still(source: Path, duration: float, target: Path, binary: Path) -> Path:
    """A JPEG of the clip's middle frame, COVER_WIDTH wide: the library's cover."""
    args = [
        "-hide_banner", "-nostdin", "-loglevel", "error", "-progress", "pipe:1",
        "-ss", f"{duration / 2:.3f}", "-i", str(source), "-map", "0:v:0", "-frames:v", "1",
        "-vf", f"scale={COVER_WIDTH}:-2", "-q:v", "5", "-y", str(target),
    ]  # fmt: skip
    run_ffmpeg(binary, args, duration=duration, timeout=FINGERPRINT_TIMEOUT_S)
    return target
