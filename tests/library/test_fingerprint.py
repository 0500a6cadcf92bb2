"""The picture fingerprint (DESIGN 4.14) on clips made by FFmpeg: the same clip re-encoded at another size,
with a logo burned in, trimmed by 0.5 s or mirrored stays within MATCH_DISTANCE bits of the original; a
different clip of the same pattern family does not. The index finds them without a scan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from portal.config import load_settings
from portal.database import Database, Source
from portal.library.fingerprints import (
    MATCH_DISTANCE,
    bands,
    from_column,
    index_fingerprint,
    near_sources,
    to_column,
)
from portal.media.binary import locate_ffmpeg
from portal.media.fingerprint import fingerprint_clip, hamming, picture_hash
from portal.media.probe import probe_media
from tests.mediagen import make_pattern, make_repost

# what the test checks; the bench (bench/library.py) measures every change of REPOST_CHANGES
CHANGES = ("smaller", "logo", "trimmed", "mirrored")


@pytest.fixture(scope="module")
def fingerprints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    folder = tmp_path_factory.mktemp("reposts")
    original = make_pattern(folder / "original.mp4", "life", seed=7)
    clips = {"original": original, "other": make_pattern(folder / "other.mp4", "life", seed=8)}
    for change in CHANGES:
        clips[change] = make_repost(original, change, folder / f"{change}.mp4")
    binary = locate_ffmpeg()
    return {name: fingerprint_clip(path, probe_media(path).duration, binary) for name, path in clips.items()}


@pytest.mark.parametrize("change", CHANGES)
def test_a_changed_copy_is_recognised(fingerprints: dict[str, int], change: str) -> None:
    assert hamming(fingerprints[change], fingerprints["original"]) <= MATCH_DISTANCE


def test_a_mirrored_picture_gives_the_same_bits() -> None:
    picture = np.random.default_rng(3).uniform(0, 255, (90, 160))
    assert picture_hash(picture) == picture_hash(picture[:, ::-1])
    assert (
        hamming(picture_hash(picture), picture_hash(picture[::-1, :])) > MATCH_DISTANCE
    )  # upside down is not


def test_another_clip_of_the_same_family_is_not_a_match(fingerprints: dict[str, int]) -> None:
    for name, fingerprint in fingerprints.items():
        if name != "other":
            assert hamming(fingerprint, fingerprints["other"]) > MATCH_DISTANCE, name


def test_the_index_finds_near_fingerprints_and_only_them(tmp_path: Path) -> None:
    database = Database(load_settings(data_dir=tmp_path / "data"))
    database.upgrade()
    base = 0xF0F0_1234_ABCD_8001
    spread = {  # a flip in every band, so no band is equal: the probes one and two bits away must find it
        "same": base,
        "near": base ^ 0x0001_0001_0001_0003,  # 5 bits, spread over the four bands
        "edge": base ^ 0x0007_0007_0003_0003,  # MATCH_DISTANCE bits exactly
        "far": base ^ 0x0007_0007_0007_0003,  # MATCH_DISTANCE + 1
        "unsigned": (1 << 63) | 5,  # the top bit survives the signed column
    }
    assert [hamming(base, spread[k]) for k in ("near", "edge", "far")] == [5, 10, 11]
    with database.session() as session:
        for name, fingerprint in spread.items():
            source = Source(id=name, kind="upload", pinned=False)
            session.add(source)
            session.flush()
            index_fingerprint(session, source, fingerprint)
    with database.session() as session:
        assert near_sources(session, base) == {"same": 0, "near": 5, "edge": 10}
        assert near_sources(session, (1 << 63) | 5) == {"unsigned": 0}
        assert from_column(session.get(Source, "unsigned").fingerprint) == (1 << 63) | 5
    assert from_column(to_column(2**64 - 1)) == 2**64 - 1 and len(bands(base)) == 4
