"""Speech recognition (DESIGN 4.13): a clip's speech as timed cues, behind one interface.

`recognize` takes the clip's first sound track, decodes it with the engine `WTF_CAPTIONS_ENGINE` names
and groups the words it heard into cues. Two engines: PocketSphinx with the US English model inside its
PyPI package (shipped: offline and small, but weak on noisy, accented or synthetic speech), and
faster-whisper with a model the operator installs (`WTF_CAPTIONS_MODEL`; docs/ENGINE.md says how). Like a
render, it reports progress, stops on cancel and is bounded in time.

A brand's glossary (names, handles) is given to the engine as hints where it takes them (faster-whisper's
hotwords and prompt; PocketSphinx learns each entry as a word, pronounced as its parts are), and then
corrects the spelling of what was heard, across words ("watch the fall" -> "WatchTheFall",
`apply_glossary`).
"""

from __future__ import annotations

import difflib
import re
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from portal.media.errors import EngineError, RenderCancelledError
from portal.media.probe import probe_media
from portal.media.transcript import Cue, Word

POCKETSPHINX, FASTER_WHISPER = "pocketsphinx", "faster-whisper"
ENGINES = (POCKETSPHINX, FASTER_WHISPER)
SAMPLE_RATE = 16_000  # what the acoustic model was trained on
CHUNK_BYTES = SAMPLE_RATE * 2 // 2  # half a second of 16-bit mono per decoder call: cancel is seen quickly
FRAMES_PER_SECOND = 100  # PocketSphinx's segment times are in 10 ms frames
CUE_GAP_S = 0.6  # a pause this long starts a new cue
CUE_MAX_CHARS = 64  # two lines of ~32
CUE_MAX_S = 5.0
GLOSSARY_MATCH = 0.8  # difflib ratio from which heard words are taken to be a glossary entry
GLOSSARY_SPAN = 4  # at most this many heard words make one entry ("scotland w t f" -> "ScotlandWTF")


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


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.casefold())


def _pronunciation(decoder, entry: str) -> str | None:
    """An entry's phones from the dictionary's words: its camel-case parts ("WatchTheFall"), else the
    longest dictionary words its letters start with ("scotlandwtf": scotland w t f); None if no split."""
    parts = [part.casefold() for part in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", entry)]
    if parts and all(decoder.lookup_word(part) for part in parts):
        return " ".join(decoder.lookup_word(part) for part in parts)
    rest, phones = _letters(entry), []
    while rest:
        size = next((n for n in range(len(rest), 0, -1) if decoder.lookup_word(rest[:n])), 0)
        if not size:
            return None
        phones.append(decoder.lookup_word(rest[:size]))
        rest = rest[size:]
    return " ".join(phones) or None


def _pocketsphinx_words(
    pcm: bytes,
    glossary: Sequence[str],
    on_fraction: Callable[[float], None],
    cancel: threading.Event | None,
    deadline: float,
) -> list[Word]:
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
    for entry in glossary:  # hints: each entry becomes a word it can hear (spelled right by apply_glossary)
        key = _letters(entry)
        phones = _pronunciation(decoder, entry) if key and not decoder.lookup_word(key) else None
        if phones:
            decoder.add_word(key, phones, True)
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


def _faster_whisper_words(
    pcm: bytes,
    model: str | None,
    glossary: Sequence[str],
    on_fraction: Callable[[float], None],
    cancel: threading.Event | None,
    deadline: float,
) -> list[Word]:
    try:
        import numpy as np
        from faster_whisper import WhisperModel
    except ImportError:
        raise RecognitionError(
            "WTF_CAPTIONS_ENGINE=faster-whisper, but faster-whisper is not installed "
            "(pip install faster-whisper; docs/ENGINE.md)"
        ) from None
    if not model:
        raise RecognitionError("WTF_CAPTIONS_ENGINE=faster-whisper needs WTF_CAPTIONS_MODEL (a model folder)")
    audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0
    hints = ", ".join(glossary) or None
    segments, info = WhisperModel(model, device="cpu", compute_type="int8").transcribe(
        audio, word_timestamps=True, vad_filter=True, hotwords=hints, initial_prompt=hints
    )
    words = []
    for segment in segments:  # a generator: the model decodes as it is read
        if cancel is not None and cancel.is_set():
            raise RenderCancelledError("recognition cancelled")
        if time.monotonic() > deadline:
            raise RecognitionTimeoutError("speech recognition did not finish in time")
        words += [Word(w.word.strip(), round(w.start, 3), round(w.end, 3)) for w in segment.words or []]
        on_fraction(min(1.0, segment.end / max(info.duration, 0.001)))
    return [word for word in words if word.text]


def apply_glossary(cues: Sequence[Cue], glossary: Sequence[str]) -> list[Cue]:
    """Cues whose heard words sound like a glossary entry take its spelling: one word ("wtf" -> "WTF") or
    up to GLOSSARY_SPAN in a row ("watch the fall" -> "WatchTheFall"), compared by their letters (ignoring
    case and punctuation; the same first letter, about as many letters); the closest match wins, and the
    entry spans the words it replaces."""
    by_key = {_letters(entry): entry for entry in glossary if _letters(entry)}
    if not by_key:
        return list(cues)

    def closeness(heard: str, key: str) -> float:
        if heard[:1] != key[:1] or abs(len(heard) - len(key)) > len(key) / 4:
            return 0.0
        return difflib.SequenceMatcher(a=heard, b=key, autojunk=False).ratio()

    fixed = []
    for cue in cues:
        words, at = [], 0
        while at < len(cue.words):
            spans = range(min(GLOSSARY_SPAN, len(cue.words) - at), 0, -1)
            scored = [
                (closeness("".join(_letters(w.text) for w in cue.words[at : at + span]), key), span, key)
                for span in spans
                for key in by_key
            ]
            score, span, key = max(scored)
            if score >= GLOSSARY_MATCH:
                run = cue.words[at : at + span]
                words.append(Word(by_key[key], run[0].start, run[-1].end))
                at += span
            else:
                words.append(cue.words[at])
                at += 1
        fixed.append(Cue(cue.start, cue.end, " ".join(w.text for w in words), tuple(words)))
    return fixed


def recognize(
    binary: Path,
    source: Path,
    *,
    engine: str = POCKETSPHINX,
    model: str | None = None,
    glossary: Sequence[str] = (),
    on_fraction: Callable[[float], None] = lambda _fraction: None,
    cancel: threading.Event | None = None,
    timeout: float = 600.0,
) -> list[Cue]:
    """The clip's speech as cues (none for a clip without sound or speech); `on_fraction` 0..1; `model`:
    faster-whisper's model (a folder, or a name it may download if the operator allows it)."""
    if engine not in ENGINES:
        raise RecognitionError(f"unknown captions engine {engine!r} (choose from {', '.join(ENGINES)})")
    deadline = time.monotonic() + timeout
    pcm = read_pcm(binary, source, timeout) if probe_media(source).has_audio else b""
    if not pcm:
        on_fraction(1.0)
        return []
    if engine == FASTER_WHISPER:
        words = _faster_whisper_words(pcm, model, glossary, on_fraction, cancel, deadline)
    else:
        words = _pocketsphinx_words(pcm, glossary, on_fraction, cancel, deadline)
    return apply_glossary(cues_of(words), glossary)
