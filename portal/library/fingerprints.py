"""The fingerprint index: near fingerprints found without a scan (multi-index hashing).

A 64-bit fingerprint is cut into BANDS bands of 16 bits, one indexed row each ((band, value) is a B-tree
index). If two fingerprints differ in at most MATCH_DISTANCE bits, then by the pigeonhole principle some
band differs in at most PROBE_RADIUS bits; so a search looks up each band's value and the values up to
PROBE_RADIUS bits away (BANDS x 137 point lookups in one indexed query), then checks the few candidates'
full distance.
"""

from __future__ import annotations

from itertools import combinations

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from portal.database import FingerprintBand, Source
from portal.media.fingerprint import HASH_BITS, hamming

BANDS = 4
BAND_BITS = HASH_BITS // BANDS
BAND_MASK = (1 << BAND_BITS) - 1
# Two clips whose fingerprints differ in at most this many bits are the same clip (docs/PERFORMANCE.md has
# the pairs caught and the false matches at this distance). The lookup finds every such pair as long as
# BANDS * (PROBE_RADIUS + 1) > MATCH_DISTANCE.
MATCH_DISTANCE = 10
PROBE_RADIUS = 2
SIGN = 1 << (HASH_BITS - 1)


def to_column(fingerprint: int) -> int:
    """An unsigned 64-bit fingerprint as the signed BIGINT the databases store."""
    return fingerprint - (1 << HASH_BITS) if fingerprint >= SIGN else fingerprint


def from_column(value: int) -> int:
    return value + (1 << HASH_BITS) if value < 0 else value


def bands(fingerprint: int) -> list[int]:
    return [(fingerprint >> (band * BAND_BITS)) & BAND_MASK for band in range(BANDS)]


def probes(fingerprint: int) -> dict[int, list[int]]:
    """Per band, its value and every value up to PROBE_RADIUS bits away."""
    flips = [0] + [
        sum(1 << bit for bit in bits)
        for radius in range(1, PROBE_RADIUS + 1)
        for bits in combinations(range(BAND_BITS), radius)
    ]
    return {band: [value ^ flip for flip in flips] for band, value in enumerate(bands(fingerprint))}


def index_fingerprint(session: Session, source: Source, fingerprint: int) -> None:
    """Store the source's fingerprint and its index rows (replacing any earlier ones)."""
    source.fingerprint = to_column(fingerprint)
    session.execute(delete(FingerprintBand).where(FingerprintBand.source_id == source.id))
    session.add_all(
        FingerprintBand(source_id=source.id, band=band, value=value)
        for band, value in enumerate(bands(fingerprint))
    )


def near_sources(session: Session, fingerprint: int, max_distance: int = MATCH_DISTANCE) -> dict[str, int]:
    """Ids of the sources whose fingerprint is within `max_distance` bits, with their distance."""
    lookups = or_(
        *(and_(FingerprintBand.band == band, FingerprintBand.value.in_(values))
          for band, values in probes(fingerprint).items())
    )  # fmt: skip
    candidates = select(FingerprintBand.source_id).where(lookups).distinct()
    rows = session.execute(select(Source.id, Source.fingerprint).where(Source.id.in_(candidates)))
    found = {source_id: hamming(fingerprint, from_column(value)) for source_id, value in rows}
    return {source_id: distance for source_id, distance in found.items() if distance <= max_distance}
