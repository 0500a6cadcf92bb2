"""Captions (issue 26): what speech recognition and burned-in captions cost.

- recognition: PocketSphinx on espeak-ng speech (a paragraph, about 30 s), wall time per minute of audio
  (the real-time factor), against FFmpeg only reading that sound (the floor every engine pays);
- burn-in: one 720x1280 output of a 10 s clip with a captions layer (a cue every 2 s, word highlight) against
  the same brand without it, alternated rounds, medians.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench.report import median, write_section
from portal.brand_loader import parse_brand_config
from portal.media.binary import locate_ffmpeg
from portal.media.recognize import read_pcm, recognize
from portal.media.transcript import Cue, spread_words
from portal.video_processor import render_source

PARAGRAPH = (
    "we are going to the store to buy some food. after that we will walk to the park and sit in the sun. "
    "the children want to play football with their friends, and the dog wants to run after the ball. "
    "in the evening we will cook dinner together and talk about the day."
)
CLIP_S = 10


def _spoken(folder: Path) -> Path:
    """A small black clip whose sound is espeak-ng reading PARAGRAPH."""
    speech, clip = folder / "speech.wav", folder / "speech.mp4"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "120", "-w", str(speech), PARAGRAPH], check=True)
    subprocess.run(
        [str(locate_ffmpeg()), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=c=black:size=180x320",
         "-i", str(speech), "-shortest", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
         "-c:a", "aac", str(clip)],
        check=True,
    )  # fmt: skip
    return clip


def _clip(folder: Path) -> Path:
    clip = folder / "clip.mp4"
    subprocess.run(
        [str(locate_ffmpeg()), "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"testsrc2=size=720x1280:rate=30:duration={CLIP_S}", "-f", "lavfi", "-i",
         f"sine=frequency=440:sample_rate=48000:duration={CLIP_S}", "-c:v", "libx264", "-preset", "ultrafast",
         "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)],
        check=True,
    )  # fmt: skip
    return clip


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def run(rounds: int = 3) -> None:
    binary = locate_ffmpeg()
    with tempfile.TemporaryDirectory(prefix="wtf-bench-captions-") as work:
        folder = Path(work)
        speech = _spoken(folder)
        audio_s = len(read_pcm(binary, speech, 60)) / 32_000
        floor, recognition = [], []
        for _ in range(rounds):
            floor.append(_timed(lambda: read_pcm(binary, speech, 60)))
            recognition.append(_timed(lambda: recognize(binary, speech)))
        clip = _clip(folder)
        layers = {"plain": [], "cap": [{"captions": {}}]}  # same brand, with and without captions
        config = {
            "version": 2,
            "brands": {
                key: {"name": key, "safe_zone": "tiktok", "layers": value} for key, value in layers.items()
            },
        }
        brands = parse_brand_config(config, folder, "bench").brands
        cues = [
            Cue(s, s + 1.8, text, spread_words(text, s, s + 1.8))
            for s, text in zip(range(0, CLIP_S, 2), PARAGRAPH.split(". "), strict=False)
        ]
        plain, captioned = [], []
        for index in range(rounds):
            out = folder / f"out{index}"
            plain.append(_timed(lambda out=out: render_source(clip, [brands["plain"]], out)))
            captioned.append(
                _timed(lambda out=out: render_source(clip, [brands["cap"]], out, transcript=cues))
            )
    load = os.getloadavg()
    per_minute = median(recognition) / audio_s * 60
    factor = median(recognition) / audio_s
    cost = median(captioned) / median(plain)
    write_section(
        "captions",
        f"""## Captions (issue 26): recognition and burn-in

`python -m bench captions --rounds {rounds}`; load average {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}
(a shared 2-core machine: compare the ratios, not the seconds).

| measure | median |
|---|---|
| PocketSphinx on {audio_s:.1f} s of espeak-ng speech | {median(recognition):.2f} s ({per_minute:.1f} s per \
minute of audio, real-time factor {factor:.2f}) |
| FFmpeg only reading that sound (the floor) | {median(floor):.2f} s |
| one 720x1280 output of a {CLIP_S} s clip, no captions | {median(plain):.2f} s |
| the same with a captions layer (5 cues, word highlight) | {median(captioned):.2f} s (x{cost:.2f}) |
""",
    )
