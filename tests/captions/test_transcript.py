"""Transcripts read from SRT and WebVTT, checked against the clip, and written back as WebVTT."""

from __future__ import annotations

import pytest

from portal.media.transcript import (
    TranscriptError,
    checked_cues,
    fitted_cues,
    parse_subtitles,
    to_webvtt,
    trimmed,
)

SRT = """1
00:00:00,500 --> 00:00:01,250
Hello there

2
00:00:01,300 --> 00:00:02,900
General
<i>Kenobi</i>
"""

VTT = """WEBVTT
Kind: captions

NOTE written by hand

intro
00:00.500 --> 00:01.250 align:start
Hello there

00:00:01.300 --> 00:00:02.900
General Kenobi
"""


def test_srt_and_webvtt_give_the_same_cues_with_words_spread_over_each() -> None:
    srt, vtt = parse_subtitles(SRT), parse_subtitles(VTT)
    assert [(c.start, c.end, c.text) for c in srt] == [
        (0.5, 1.25, "Hello there"),
        (1.3, 2.9, "General Kenobi"),
    ]
    assert srt == vtt
    words = srt[1].words
    assert [w.text for w in words] == ["General", "Kenobi"]
    assert words[0].start == 1.3 and words[-1].end == 2.9 and words[0].end == words[1].start


def test_webvtt_written_back_reads_the_same() -> None:
    cues = parse_subtitles(SRT)
    text = to_webvtt(cues)
    assert text.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:01.250\nHello there\n")
    assert parse_subtitles(text) == cues


@pytest.mark.parametrize(
    ("document", "duration", "message"),
    [
        (SRT, 2.0, "cue 2 (00:00:01.300 --> 00:00:02.900): ends after the clip, which is 00:00:02.000 long"),
        (SRT.replace("00:00:01,300", "00:00:00,100"), 3.0,
         "cue 2 (00:00:00.100 --> 00:00:02.900): starts before cue 1"),
        (SRT.replace("00:00:01,250", "00:00:00,400"), 3.0,
         "cue 1 (00:00:00.500 --> 00:00:00.400): must end after it starts"),
        (SRT.replace("Hello there", ""), 3.0, "cue 1 (00:00:00.500 --> 00:00:01.250): has no text"),
    ],
)  # fmt: skip
def test_a_bad_cue_is_named(document: str, duration: float, message: str) -> None:
    with pytest.raises(TranscriptError) as raised:
        checked_cues(parse_subtitles(document), duration)
    assert str(raised.value).startswith(message)
    assert raised.value.status == 422


def test_unreadable_documents_say_why() -> None:
    with pytest.raises(TranscriptError, match="no cues"):
        parse_subtitles("just some words")
    with pytest.raises(TranscriptError, match=r"cue 1: cannot read the timing line '1 --> 2'"):
        parse_subtitles("1\n1 --> 2\nhi\n")


def test_a_sites_cues_are_fitted_to_the_clip_and_a_trim_moves_them() -> None:
    cues = parse_subtitles(SRT)
    late = parse_subtitles(
        "00:00:02.500 --> 00:00:04.000\nrunning on\n\n00:00:05.000 --> 00:00:06.000\npast it\n"
    )
    fitted = fitted_cues([*late, *cues], 3.0)  # out of order, one past the end, one across it
    assert [(c.start, c.end, c.text) for c in fitted] == [
        (0.5, 1.25, "Hello there"), (1.3, 2.9, "General Kenobi"), (2.5, 3.0, "running on")
    ]  # fmt: skip
    assert checked_cues(fitted[:2], 3.0) == fitted[:2]

    kept = trimmed(cues, (1.0, 2.0))
    assert [(c.start, c.end, c.text) for c in kept] == [
        (0.0, 0.25, "Hello there"),
        (0.3, 1.0, "General Kenobi"),
    ]
    assert [w.text for w in kept[0].words] == ["Hello", "there"]  # every word still shown
    assert all(0 <= w.start <= w.end <= 0.25 for w in kept[0].words)
    assert trimmed(cues, None) == cues and trimmed(cues, (2.95, 3.0)) == []
