"""Speech recognition (DESIGN 4.13): a clip's speech as timed cues, behind one interface.

`recognize` takes the clip's first sound track, decodes it with the engine `WTF_CAPTIONS_ENGINE` names
and groups the words it heard into cues. The one engine shipped is PocketSphinx with the US English
model inside its PyPI package: offline and small, but weak on noisy or accented speech (docs/ENGINE.md).
Like a render, it reports progress, stops on cancel and is bounded in time. A brand's glossary (names,
handles) then corrects the spelling of words that sound alike (`apply_glossary`).
"""

from __future__ import annotations

import difflib
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from portal.media.errors import EngineError, RenderCancelledError
from portal.media.probe import probe_media
from portal.media.transcript import Cue, Word

ENGINES = ("pocketsphinx",)
SAMPLE_RATE = 16_000  # what the acoustic model was trained on
CHUNK_BYTES = SAMPLE_RATE * 2 // 2  # half a second of 16-bit mono per decoder call: cancel is seen quickly
FRAMES_PER_SECOND = 100  # PocketSphinx's segment times are in 10 ms frames
CUE_GAP_S = 0.6  # a pause this long starts a new cue
CUE_MAX_CHARS = 64  # two lines of ~32
CUE_MAX_S = 5.0
GLOSSARY_MATCH = 0.8  # difflib ratio from which a heard word is taken to be the glossary's


class RecognitionError(EngineError):
    code = "recognition_failed"


class RecognitionTimeoutError(RecognitionError):
    code = "recognition_timeout"
    transient = True


def read_pcm(binary: Path, source: Path, timeout: float) -> bytes:
    """The first sound track as 16 kHz mono signed 16-bit samples."""
    args = [str(binary), "-hide_banner", "-loglevel", "error", "-i", str(source), "-map", "0:a:0",
            "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"]  # fmt: skip
    try:
        done = subprocess.run(args, capture_output=True, timeout=max(1.0, timeout))
    except subprocess.TimeoutExpired:
        raise RecognitionTimeoutError("the clip's sound could not be read in time") from None
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
        raise RecognitionError(f"the clip's sound cannot be read ({reason[0]})")
    return done.stdout


def _pocketsphinx_words(
    pcm: bytes, on_fraction: Callable[[float], None], cancel: threading.Event | None, deadline: float
) -> list[Word]:
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
    decoder.start_utt()
    for at in range(0, len(pcm), CHUNK_BYTES):
        if cancel is not None and cancel.is_set():
            raise RenderCancelledError("recognition cancelled")
        if time.monotonic() > deadline:
            raise RecognitionTimeoutError("speech recognition did not finish in time")
        decoder.process_raw(pcm[at : at + CHUNK_BYTES], False, False)
        on_fraction(min(1.0, (at + CHUNK_BYTES) / len(pcm)))
    decoder.end_utt()
    words = []
    for segment in decoder.seg():
        text = segment.word.split("(")[0]  # "read(2)": the dictionary's second pronunciation
        if text.startswith(("<", "[")):  # <s>, </s>, <sil>, [NOISE]: not words
            continue
        start, end = segment.start_frame / FRAMES_PER_SECOND, (segment.end_frame + 1) / FRAMES_PER_SECOND
        words.append(Word(text, round(start, 3), round(end, 3)))
    return words


def cues_of(words: Sequence[Word]) -> list[Cue]:
    """Words grouped into cues: a new one after a pause, or when the current one is full."""
    groups: list[list[Word]] = []
    for word in words:
        current = groups[-1] if groups else None
        if (
            current is None
            or word.start - current[-1].end >= CUE_GAP_S
            or sum(len(w.text) + 1 for w in current) + len(word.text) > CUE_MAX_CHARS
            or word.end - current[0].start > CUE_MAX_S
        ):
            groups.append([word])
        else:
            current.append(word)
    return [Cue(g[0].start, g[-1].end, " ".join(w.text for w in g), tuple(g)) for g in groups]


def apply_glossary(cues: Sequence[Cue], glossary: Sequence[str]) -> list[Cue]:
    """Cues whose words close to a glossary entry (ignoring case) take its spelling ("wtf" -> "WTF")."""
    if not glossary:
        return list(cues)
    by_key = {entry.casefold(): entry for entry in glossary}

    def spelled(text: str) -> str:
        match = difflib.get_close_matches(text.casefold(), by_key, n=1, cutoff=GLOSSARY_MATCH)
        return by_key[match[0]] if match else text

    fixed = []
    for cue in cues:
        words = tuple(Word(spelled(w.text), w.start, w.end) for w in cue.words)
        fixed.append(Cue(cue.start, cue.end, " ".join(w.text for w in words), words))
    return fixed


def recognize(
    binary: Path,
    source: Path,
    *,
    engine: str = "pocketsphinx",
    glossary: Sequence[str] = (),
    on_fraction: Callable[[float], None] = lambda _fraction: None,
    cancel: threading.Event | None = None,
    timeout: float = 600.0,
) -> list[Cue]:
    """The clip's speech as cues (none for a clip without sound or speech); `on_fraction` 0..1."""
    if engine not in ENGINES:
        raise RecognitionError(f"unknown captions engine {engine!r} (choose from {', '.join(ENGINES)})")
    deadline = time.monotonic() + timeout
    pcm = read_pcm(binary, source, timeout) if probe_media(source).has_audio else b""
    if not pcm:
        on_fraction(1.0)
        return []
    words = _pocketsphinx_words(pcm, on_fraction, cancel, deadline)
    return apply_glossary(cues_of(words), glossary)
