"""The library's fingerprints (issue 27): how well they recognise a repost, and how fast the index finds
one among 100,000 sources.

- Robustness: clips of five pattern families (three seeds each: different clips that look alike), each
  changed as a repost changes it (tests/mediagen.py REPOST_CHANGES). A change is *caught* when its
  fingerprint is within MATCH_DISTANCE bits of its original's; a *false match* is a pair of two different
  clips (any change of each) within MATCH_DISTANCE.
- Speed: 100,000 random fingerprints in the index (SQLite, as the default deployment), searched by 1,000
  queries (half near a stored one, half random) through `near_sources`, side by side with a scan that
  reads every fingerprint and counts bits in Python (the baseline the index replaces).
"""

from __future__ import annotations

import itertools
import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import insert, select

from bench.report import median, write_section
from portal.config import load_settings
from portal.database import Database, FingerprintBand, Source, new_id, utc_now
from portal.library.fingerprints import MATCH_DISTANCE, bands, from_column, near_sources, to_column
from portal.media.binary import locate_ffmpeg
from portal.media.fingerprint import fingerprint_clip, hamming
from portal.media.probe import probe_media
from tests.mediagen import PATTERN_FAMILIES, REPOST_CHANGES, make_pattern, make_repost

SEEDS = (1, 2, 3)
SOURCES = 100_000
QUERIES = 1_000
BATCH = 5_000


def robustness(work: Path) -> tuple[dict[str, list[int]], list[tuple[int, str]], int]:
    """Per change, its distance to its original (one per clip); for each pair of different clips, their
    distance and their families."""
    binary = locate_ffmpeg()
    prints: dict[tuple[str, int, str], int] = {}
    for family, seed in itertools.product(PATTERN_FAMILIES, SEEDS):
        original = make_pattern(work / f"{family}{seed}.mp4", family, seed)
        clips = {"original": original} | {
            change: make_repost(original, change, work / f"{family}{seed}-{change}.mp4")
            for change in REPOST_CHANGES
        }
        for change, path in clips.items():
            prints[(family, seed, change)] = fingerprint_clip(path, probe_media(path).duration, binary)
    caught = {
        change: [hamming(prints[(f, s, change)], prints[(f, s, "original")]) for f, s in
                 itertools.product(PATTERN_FAMILIES, SEEDS)]
        for change in REPOST_CHANGES
    }  # fmt: skip
    different = [
        (hamming(prints[a], prints[b]), " / ".join(sorted({a[0], b[0]})))
        for a, b in itertools.combinations(prints, 2)
        if a[:2] != b[:2]
    ]
    return caught, different, len(prints)


def fill_index(database: Database, count: int, rng: random.Random) -> list[int]:
    fingerprints = [rng.getrandbits(64) for _ in range(count)]
    now = utc_now()
    with database.session() as session:
        for start in range(0, count, BATCH):
            rows, band_rows = [], []
            for fingerprint in fingerprints[start : start + BATCH]:
                source_id = new_id()
                rows.append({"id": source_id, "kind": "upload", "pinned": False, "created_at": now,
                             "used_at": now, "fingerprint": to_column(fingerprint)})  # fmt: skip
                band_rows += [{"source_id": source_id, "band": band, "value": value}
                              for band, value in enumerate(bands(fingerprint))]  # fmt: skip
            session.execute(insert(Source), rows)
            session.execute(insert(FingerprintBand), band_rows)
    return fingerprints


def scan(session, fingerprint: int) -> dict[str, int]:
    """The baseline: every stored fingerprint read and compared."""
    found = {}
    for source_id, value in session.execute(select(Source.id, Source.fingerprint)):
        distance = hamming(fingerprint, from_column(value))
        if distance <= MATCH_DISTANCE:
            found[source_id] = distance
    return found


def speed(work: Path, rounds: int) -> dict:
    rng = random.Random(27)
    database = Database(load_settings(data_dir=work / "data"))
    database.upgrade()
    started = time.perf_counter()
    stored = fill_index(database, SOURCES, rng)
    fill_s = time.perf_counter() - started
    queries = []
    for index in range(QUERIES):
        if index % 2:
            queries.append(rng.getrandbits(64))
        else:
            flips = rng.sample(range(64), rng.randint(0, MATCH_DISTANCE))
            queries.append(rng.choice(stored) ^ sum(1 << bit for bit in flips))
    index_times, found = [], 0
    with database.session() as session:
        for query in queries:
            began = time.perf_counter()
            hits = near_sources(session, query)
            index_times.append(time.perf_counter() - began)
            found += bool(hits)
        scan_times = []
        for query in queries[: max(rounds, 1) * 10]:
            began = time.perf_counter()
            scan(session, query)
            scan_times.append(time.perf_counter() - began)
        agree = all(near_sources(session, q) == scan(session, q) for q in queries[:20])
    index_times.sort()
    db_file = work / "data" / "portal.db"
    return {
        "fill_s": fill_s, "found": found, "agree": agree,
        "median_ms": median(index_times) * 1000, "p99_ms": index_times[int(len(index_times) * 0.99)] * 1000,
        "max_ms": index_times[-1] * 1000, "scan_median_ms": median(scan_times) * 1000,
        "db_mb": db_file.stat().st_size / 1e6,
    }  # fmt: skip


def _share(values: list[int], bound: int) -> str:
    hits = sum(value <= bound for value in values)
    return f"{hits}/{len(values)}"


def run(rounds: int) -> None:
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="wtf-bench-library-") as folder:
        work = Path(folder)
        caught, different, clips = robustness(work)
        measured = speed(work, rounds)
    load_after = os.getloadavg()[0]
    rows = "\n".join(
        f"| {change} | {_share(distances, MATCH_DISTANCE)} | {sorted(distances)} |"
        for change, distances in caught.items()
    )
    total = sum(len(d) for d in caught.values())
    total_caught = sum(sum(v <= MATCH_DISTANCE for v in d) for d in caught.values())
    false = Counter(families for distance, families in different if distance <= MATCH_DISTANCE)
    false_rows = ", ".join(f"{families}: {count}" for families, count in false.most_common()) or "none"
    write_section(
        "library",
        f"""
## Library: fingerprint robustness and the index at 100,000 sources

Command: `python -m bench library` (bench/library.py). 1-minute load average {load_before:.1f} before,
{load_after:.1f} after (the machine is shared).

**Robustness** ({clips} clips: 5 pattern families x 3 seeds, each original and its {len(REPOST_CHANGES)}
changes of tests/mediagen.py `REPOST_CHANGES`; a match is a distance <= {MATCH_DISTANCE} of 64 bits).
Pairs caught: **{total_caught}/{total}**; false matches between different clips:
**{false.total()}/{len(different)}** pairs (by family: {false_rows}). testsrc2's clips at 10, 20 and 30 s
are one still layout with a small moving part: their mean pictures are nearly the same (docs/ENGINE.md
says what the fingerprint does not tell apart).

| change | caught | distances to the original (bits) |
| --- | --- | --- |
{rows}

**Speed** ({SOURCES:,} random fingerprints, {QUERIES:,} queries, half within {MATCH_DISTANCE} bits of a
stored one): the index (4 bands x 16 bits, each probed at radius 2: 548 indexed point lookups in one
query) answers in a median of **{measured["median_ms"]:.1f} ms**, p99 {measured["p99_ms"]:.1f} ms, max
{measured["max_ms"]:.1f} ms; the scan it replaces takes {measured["scan_median_ms"]:.0f} ms per query
(ratio **{measured["scan_median_ms"] / measured["median_ms"]:.0f}x**). Both found the same sources on the
queries compared: {"yes" if measured["agree"] else "NO"}. Filling the index took {measured["fill_s"]:.1f} s;
the SQLite file with {SOURCES:,} sources and their bands is {measured["db_mb"]:.0f} MB
({measured["db_mb"] * 1e6 / SOURCES:.0f} bytes per source, row and index overhead included).
""",
    )
