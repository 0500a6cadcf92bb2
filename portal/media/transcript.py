"""A clip's transcript (DESIGN 4.13): timed cues, each with its words, read from SRT or WebVTT and written
back as WebVTT (each output's sidecar). Pure: no I/O.

Every way a transcript arrives (a file, an edit through the API, a recognizer) ends in `checked_cues`, so
one rule says what a usable transcript is: each cue has text, starts before it ends, starts no earlier than
the cue before it, and lies inside the clip. A problem raises `TranscriptError` naming the cue (1-based, as
SRT numbers them) and what is wrong, so the client can fix that line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from portal.errors import PortalError
from portal.media.errors import EngineError


class TranscriptError(PortalError):
    """A transcript that cannot be used: unreadable, or a cue out of order or outside the clip."""

    code = "invalid_transcript"
    status = 422


class NoPlatformSubtitlesError(EngineError):
    """Captions "platform" asked for a clip whose site offered no subtitles we can read."""

    code = "no_platform_subtitles"

    def __init__(self, what: str) -> None:
        super().__init__(
            f'{what}: captions "platform" were asked for, but its site offers no subtitles or automatic '
            'captions for it; use an SRT or WebVTT file, or "auto" (speech recognition)'
        )


@dataclass(frozen=True)
class Word:
    """One word and when it is spoken, in seconds from the clip's start."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Cue:
    """One caption: its text, when it shows, and its words' timings."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...]

    def as_dict(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "words": [{"text": w.text, "start": w.start, "end": w.end} for w in self.words],
        }


def spread_words(text: str, start: float, end: float) -> tuple[Word, ...]:
    """A cue's words with timings spread over it in proportion to their length (a file carries no word
    timings; a longer word takes longer to say)."""
    words = text.split()
    total = sum(len(word) for word in words) or 1
    timed, at = [], start
    for word in words:
        until = at + (end - start) * len(word) / total
        timed.append(Word(word, round(at, 3), round(until, 3)))
        at = until
    return tuple(timed)


# 00:00:01,500 (SRT), 00:00:01.500 or 00:01.500 (WebVTT; hours optional)
_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{3})"
_TIMING = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")


def _seconds(hours: str | None, minutes: str, seconds: str, millis: str) -> float:
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000


def parse_subtitles(text: str) -> list[Cue]:
    """The cues of an SRT or WebVTT document, in file order (not yet checked against a clip).

    Both formats are blocks separated by blank lines whose timing line holds `-->`; SRT numbers its blocks,
    WebVTT may name them and has a header, NOTE and STYLE blocks, and tags in its text, all skipped here.
    """
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    cues = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip("\n").split("\n")
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            continue  # the WEBVTT header, a NOTE, a STYLE block, or stray text
        match = _TIMING.match(lines[timing])
        if match is None:
            raise TranscriptError(f"cue {len(cues) + 1}: cannot read the timing line {lines[timing]!r}")
        groups = match.groups()
        start, end = _seconds(*groups[:4]), _seconds(*groups[4:])
        body = " ".join(re.sub(r"<[^>]*>", "", line).strip() for line in lines[timing + 1 :])
        body = " ".join(body.split())
        cues.append(Cue(start, end, body, spread_words(body, start, end)))
    if not cues:
        raise TranscriptError("no cues: expected SRT or WebVTT blocks with 'start --> end' lines")
    return cues


def checked_cues(cues: Iterable[Cue], duration: float) -> list[Cue]:
    """The cues if they make a usable transcript of a clip `duration` seconds long, else TranscriptError
    naming the first bad cue."""
    checked: list[Cue] = []
    for number, cue in enumerate(cues, start=1):
        where = f"cue {number} ({_clock(cue.start)} --> {_clock(cue.end)})"
        if not cue.text.strip():
            raise TranscriptError(f"{where}: has no text")
        if cue.start < 0 or cue.end <= cue.start:
            raise TranscriptError(f"{where}: must end after it starts")
        if cue.end > duration + 0.001:
            raise TranscriptError(f"{where}: ends after the clip, which is {_clock(duration)} long")
        if checked and cue.start < checked[-1].start:
            raise TranscriptError(f"{where}: starts before cue {number - 1}; cues must be in order")
        for word in cue.words:
            if word.start < cue.start - 0.001 or word.end > cue.end + 0.001 or word.end < word.start:
                raise TranscriptError(f"{where}: the word {word.text!r} is timed outside its cue")
        checked.append(cue)
    return checked


def fitted_cues(cues: Iterable[Cue], duration: float) -> list[Cue]:
    """Machine-made cues (a site's subtitles) fitted to the clip as downloaded: in time order, empty ones
    dropped, those past its end dropped and the last one cut at the end (a site's captions may run on a
    little past the file it serves). A person's file or edit is checked instead (`checked_cues`)."""
    fitted = []
    for cue in sorted(cues, key=lambda cue: cue.start):
        end = min(cue.end, duration)
        if not cue.text.strip() or end <= cue.start:
            continue
        words = tuple(Word(w.text, min(w.start, end), min(w.end, end)) for w in cue.words)
        fitted.append(Cue(cue.start, end, cue.text, words))
    return fitted


def trimmed(cues: Iterable[Cue], span: tuple[float, float] | None) -> list[Cue]:
    """The cues as an output cut to `span` (start, end in seconds of the source; None: uncut) shows them:
    in its time, those outside the kept range dropped, one across an edge cut there (its words' times held
    inside it: the caption still shows all of its words)."""
    if span is None:
        return list(cues)
    start, end = span
    kept = []
    for cue in cues:
        first, last = max(cue.start, start), min(cue.end, end)
        if last <= first:
            continue
        held = [
            (min(max(w.start, first), last) - start, min(max(w.end, first), last) - start) for w in cue.words
        ]
        words = tuple(
            Word(w.text, round(a, 3), round(b, 3)) for w, (a, b) in zip(cue.words, held, strict=True)
        )
        kept.append(Cue(round(first - start, 3), round(last - start, 3), cue.text, words))
    return kept


def cues_from_json(items: list[dict]) -> list[Cue]:
    """Cues as the API and the database hold them; words are spread over the cue when not given."""
    cues = []
    for number, item in enumerate(items, start=1):
        try:
            start, end, text = float(item["start"]), float(item["end"]), str(item["text"])
            words = item.get("words") or []
            timed = tuple(Word(str(w["text"]), float(w["start"]), float(w["end"])) for w in words)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise TranscriptError(
                f"cue {number}: expected {{start, end, text}} (seconds, seconds, text) and optional words"
            ) from None
        text = " ".join(text.split())
        cues.append(Cue(start, end, text, timed or spread_words(text, start, end)))
    return cues


def _clock(seconds: float, separator: str = ".") -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{separator}{rest % 1000:03d}"


def to_webvtt(cues: Iterable[Cue]) -> str:
    """The cues as a WebVTT document (each output's sidecar)."""
    blocks = ["WEBVTT"]
    blocks += [f"{_clock(cue.start)} --> {_clock(cue.end)}\n{cue.text}" for cue in cues]
    return "\n\n".join(blocks) + "\n"
