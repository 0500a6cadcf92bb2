"""Speech recognition on PocketSphinx: espeak-ng speaks a known sentence into a generated clip and the
recognizer finds most of its words, at their times; a silent clip and a clip without sound give none;
a brand's glossary corrects spellings; cancel stops it."""

from __future__ import annotations

import difflib
import importlib.util
import itertools
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from portal.config import ConfigError, load_settings
from portal.media.binary import locate_ffmpeg
from portal.media.errors import RenderCancelledError
from portal.media.recognize import apply_glossary, cues_of, recognize
from portal.media.transcript import Cue, Word
from tests.conftest import require_program
from tests.mediagen import ffmpeg, make_clip

# espeak-ng's voice is synthetic, which PocketSphinx's model was not trained on: on a plainer sentence it
# finds 6 of these 10 words (measured); longer or rarer words fare worse (docs/ENGINE.md)
SENTENCE = "we are going to the store to buy some food"
SHARE = 0.5


def spoken_clip(folder: Path, sentence: str = SENTENCE, channels: int = 1) -> Path:
    """A black clip whose sound is espeak-ng saying `sentence` (US English, 120 words a minute), in
    `channels` channels (6: 5.1, the voice in the centre channel)."""
    require_program("espeak-ng", shutil.which("espeak-ng") is not None)
    speech = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "120", "-w", str(speech), sentence], check=True)
    clip = folder / "spoken.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=black:size=180x320:rate=25", "-i", str(speech), "-shortest",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
        "-ac", str(channels), str(clip),
    )  # fmt: skip
    return clip


def found_share(heard: list[str], said: list[str]) -> float:
    """The share of the said words the recognizer heard, in order."""
    matcher = difflib.SequenceMatcher(a=said, b=heard, autojunk=False)
    return sum(block.size for block in matcher.get_matching_blocks()) / len(said)


def test_most_words_of_a_spoken_sentence_are_found_at_their_times(tmp_path: Path) -> None:
    clip = spoken_clip(tmp_path)
    fractions: list[float] = []
    cues = recognize(locate_ffmpeg(), clip, on_fraction=fractions.append)
    heard = [word.text for cue in cues for word in cue.words]
    assert found_share(heard, SENTENCE.split()) >= SHARE, heard
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    words = [word for cue in cues for word in cue.words]
    assert all(a.end <= b.start + 0.001 for a, b in itertools.pairwise(words))
    assert 0 <= cues[0].start < 1.0 and cues[-1].end <= 4.0  # the sentence lasts about 3 s


def test_speech_in_a_5_1_clip_is_found(tmp_path: Path) -> None:
    cues = recognize(locate_ffmpeg(), spoken_clip(tmp_path, channels=6))
    heard = [word.text for cue in cues for word in cue.words]
    assert found_share(heard, SENTENCE.split()) >= SHARE, heard


def test_silence_and_no_sound_give_no_cues(tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=black:size=180x320:rate=25:duration=1",
           "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "1",
           "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(silent))  # fmt: skip
    assert recognize(locate_ffmpeg(), silent) == []
    mute = make_clip(tmp_path / "mute.mp4", width=180, height=320, audio=False)
    assert recognize(locate_ffmpeg(), mute) == []


def test_cancel_stops_recognition(tmp_path: Path) -> None:
    clip = spoken_clip(tmp_path)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(RenderCancelledError):
        recognize(locate_ffmpeg(), clip, cancel=cancel)


def test_the_glossary_corrects_spelling_and_cues_break_at_pauses() -> None:
    words = [Word("watch", 0.0, 0.3), Word("the", 0.3, 0.4), Word("fal", 0.4, 0.8), Word("wtf", 2.0, 2.3)]
    cues = cues_of(words)
    assert [cue.text for cue in cues] == ["watch the fal", "wtf"]
    fixed = apply_glossary(cues, ["Fall", "WTF"])
    assert [cue.text for cue in fixed] == ["watch the Fall", "WTF"]
    assert fixed[0].words[2] == Word("Fall", 0.4, 0.8)
    assert apply_glossary([Cue(0, 1, "the", (Word("the", 0, 1),))], ["The", "then"])[0].text == "The"

    said = "follow watch the fall and scotland w t f"
    heard = [Word(w, i / 4, (i + 1) / 4) for i, w in enumerate(said.split(" "))]
    [cue] = apply_glossary(cues_of(heard), ["WatchTheFall", "ScotlandWTF"])
    assert cue.text == "follow WatchTheFall and ScotlandWTF"
    assert cue.words[1] == Word("WatchTheFall", 0.25, 1.0)  # it spans the words it replaced
    unrelated = cues_of([Word("with", 0, 0.3), Word("the", 0.3, 0.5), Word("fault", 0.5, 1)])
    assert apply_glossary(unrelated, ["WTF", "WatchTheFall"]) == unrelated


def test_a_brands_glossary_spells_the_names_espeak_says(tmp_path: Path) -> None:
    """espeak-ng says a handle and a place; PocketSphinx hears their words (measured: all ten) and the
    glossary, given to the recognizer as hints, writes them as the brand does."""
    clip = spoken_clip(tmp_path, "we are going to new york to see the rock")
    plain = [w.text for cue in recognize(locate_ffmpeg(), clip) for w in cue.words]
    assert "rock" in plain and "@TheRock" not in plain
    cues = recognize(locate_ffmpeg(), clip, glossary=["@TheRock", "New York", "WatchTheFall"])
    heard = [w.text for cue in cues for w in cue.words]
    assert "@TheRock" in heard and "New York" in heard, heard
    assert "rock" not in heard and "WatchTheFall" not in heard


def test_faster_whisper_is_refused_at_start_without_its_model_or_package(tmp_path: Path) -> None:
    """The second engine needs what the operator installs (docs/ENGINE.md): a bad setting stops start-up
    naming the variable, before any job would fail on it."""
    base = {"data_dir": tmp_path, "portal_key": "k" * 16, "secret_key": "s" * 32}
    with pytest.raises(ConfigError, match=r"WTF_CAPTIONS_MODEL: .*faster-whisper needs a model"):
        load_settings(**base, captions_engine="faster-whisper")
    installed = importlib.util.find_spec("faster_whisper") is not None
    if not installed:
        with pytest.raises(ConfigError, match=r"WTF_CAPTIONS_MODEL: .*faster-whisper is not installed"):
            load_settings(**base, captions_engine="faster-whisper", captions_model=str(tmp_path))
    assert load_settings(**base).captions_engine == "pocketsphinx"
