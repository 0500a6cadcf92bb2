"""Loudness (EBU R128): read a measurement, and plan the gain that meets a target. Pure: no I/O.

Measuring the source (`plan.source_loudness_args` builds it, the facade runs it) is one audio-only FFmpeg
run: `ebur128=peak=true` after the same stereo 48 kHz preparation the render uses, so a 5.1 source is
measured as the stereo downmix it becomes. The gain is then applied in the render's single pass: a plain
`volume` when the peaks allow it (exact, linear), else `volume` and a look-ahead limiter that keeps the
true peak under the ceiling. Each output's sound is measured in that same pass (`plan.measure_steps`,
read back by `parse_meter_log`), not by another FFmpeg run after it.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from portal.media.errors import RenderError

TRUE_PEAK_LIMIT_DBTP = -1.0  # DESIGN 4.4
# Below this the clip is silence (or room noise): it is left alone rather than boosted by 40 dB.
SILENCE_LUFS = -60.0
# A plain gain must leave this much below the limit: AAC encoding adds up to ~0.5 dB of inter-sample peak.
AAC_PEAK_MARGIN_DB = 0.5
# Where the limiter holds sample peaks when a plain gain would clip: a further margin below the plain-gain
# threshold for the peaks between samples that a sample-peak limiter does not see.
LIMITER_CEILING_DBFS = -2.0
LIMITER_ATTACK_MS = 5
LIMITER_RELEASE_MS = 50
# Limited chains are measured again (audio only) and their gain corrected until they land this close.
MAKEUP_TOLERANCE_LU = 0.3
MAKEUP_PASSES = 4
MAX_MAKEUP_DB = 24.0  # bounds a runaway correction; outputs must land within 1 LU (DESIGN 4.4)
SUMMARY_LINES = 40  # ebur128's summary is the last ~15 lines of FFmpeg's stderr

_METER_INTEGRATED = re.compile(r"^lavfi\.r128\.I=(-?[\d.]+|-?inf|nan)$", re.M)
_METER_TRUE_PEAK = re.compile(r"^lavfi\.r128\.true_peak=([\d.]+|inf|nan)$", re.M)
_INTEGRATED = re.compile(r"^\s*I:\s+(-?[\d.]+|-?inf)\s+LUFS", re.M)
_TRUE_PEAK = re.compile(r"^\s*Peak:\s+(-?[\d.]+|-?inf)\s+dBFS", re.M)


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float
    true_peak_dbtp: float

    @property
    def silent(self) -> bool:
        return self.integrated_lufs <= SILENCE_LUFS

    def as_dict(self) -> dict:
        # JSON has no -inf: a silent file's peak is reported as null
        return {key: value if math.isfinite(value) else None for key, value in asdict(self).items()}


@dataclass(frozen=True)
class LoudnessReport:
    """What the engine did to one output's sound: the target, the gain applied, measured before and after."""

    target_lufs: float | None  # None: left as it was (WTF_LOUDNESS_LUFS=off, or silence)
    gain_db: float
    limited: bool  # a limiter held the peaks (a plain gain would have gone over the ceiling)
    before: Loudness
    after: Loudness

    def as_dict(self) -> dict:
        return {
            "target_lufs": self.target_lufs,
            "gain_db": self.gain_db,
            "limited": self.limited,
            "before": self.before.as_dict(),
            "after": self.after.as_dict(),
        }


@dataclass(frozen=True)
class GainPlan:
    """The steps that bring a measured source to the target (empty: leave the sound alone)."""

    target_lufs: float | None
    gain_db: float
    limited: bool
    steps: tuple[str, ...]


def plan_gain(measured: Loudness | None, target_lufs: float | None, makeup_db: float = 0.0) -> GainPlan:
    """The gain, and the limiter if the peaks need one, that take `measured` to `target_lufs`.

    A limiter takes some loudness away with the peaks; `makeup_db` (measured by running the limited
    chain over the source's sound, see `makeup_needed`) puts it back.
    """
    if measured is None or target_lufs is None or measured.silent:
        return GainPlan(None, 0.0, False, ())
    gain = round(target_lufs - measured.integrated_lufs + makeup_db, 2)
    volume = f"volume={gain:.2f}dB"
    if measured.true_peak_dbtp + gain <= TRUE_PEAK_LIMIT_DBTP - AAC_PEAK_MARGIN_DB:
        return GainPlan(target_lufs, gain, False, (volume,))
    limit = 10 ** (LIMITER_CEILING_DBFS / 20)
    # level=0: no automatic make-up gain; latency=1: the look-ahead delay is removed (duration kept)
    limiter = (
        f"alimiter=limit={limit:.4f}:attack={LIMITER_ATTACK_MS}:release={LIMITER_RELEASE_MS}"
        ":level=0:latency=1"
    )
    return GainPlan(target_lufs, gain, True, (volume, limiter))


def makeup_needed(gain: GainPlan, limited_result: Loudness, makeup_db: float) -> float | None:
    """The new make-up gain after measuring the limited chain, or None once it is close enough."""
    assert gain.target_lufs is not None
    shortfall = gain.target_lufs - limited_result.integrated_lufs
    if abs(shortfall) <= MAKEUP_TOLERANCE_LU:
        return None
    return min(MAX_MAKEUP_DB, makeup_db + shortfall)


def parse_summary(stderr: str) -> Loudness:
    """The integrated loudness and true peak from ebur128's summary in FFmpeg's stderr."""
    integrated, peak = _INTEGRATED.findall(stderr), _TRUE_PEAK.findall(stderr)
    if not integrated or not peak:
        raise RenderError("loudness measurement printed no summary", stderr[-2000:])
    return Loudness(float(integrated[-1]), float(peak[-1]))


def parse_meter_log(text: str) -> Loudness:
    """The integrated loudness and true peak from ebur128's per-frame readings (`metadata=1`) as
    `ametadata=mode=print` writes them: the last integrated value, the highest true peak (linear)."""
    integrated, peaks = _METER_INTEGRATED.findall(text), _METER_TRUE_PEAK.findall(text)
    if not integrated or not peaks:
        raise RenderError("the render pass wrote no loudness readings", text[-2000:])
    peak = max(float(value) for value in peaks)
    return Loudness(float(integrated[-1]), 20 * math.log10(peak) if peak > 0 else -math.inf)
