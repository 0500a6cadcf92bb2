"""`wtf-portal` as a user runs it: a real process, real FFmpeg, exit codes and one-line errors."""

from __future__ import annotations

import itertools
import json
import os
import pty
import re
import signal
import subprocess
import sys
from pathlib import Path

import av
import psutil
import pytest
from PIL import Image

from tests.cli.runner import COMMAND, error_lines, write_config, wtf_portal
from tests.conftest import REPO
from tests.mediagen import ffmpeg, make_clip


def with_covers(*videos: str) -> list[str]:
    """What --out holds for these outputs: each video and its cover (DESIGN 4.11), sorted."""
    return sorted([*videos, *(Path(video).with_suffix(".jpg").name for video in videos)])


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", duration=1)


def read_back(path: Path) -> tuple[str, int, int, bool]:
    """Codec, size and whether there is audio, as read from the file itself."""
    with av.open(str(path)) as container:
        video = container.streams.video[0].codec_context
        return video.name, video.width, video.height, bool(container.streams.audio)


def test_render_two_brands_json(clip: Path, tmp_path: Path) -> None:
    result = wtf_portal("render", str(clip), "--brand", "watchthefall", "--brand", "fallclips",
                        "--preset", "square", "--out", str(tmp_path), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # --json is for scripts: no progress lines
    payload = json.loads(result.stdout)
    assert set(payload) == {"outputs", "errors"} and payload["errors"] == []
    assert [o["brand"] for o in payload["outputs"]] == ["watchthefall", "fallclips"]
    for output in payload["outputs"]:
        assert set(output) == {
            "source",
            "brand",
            "format",
            "path",
            "width",
            "height",
            "duration",
            "loudness",
            "placements",
            "edits",
            "captions",
        }
        assert output["captions"] is None  # no --captions: no sidecar
        assert output["placements"] == []  # no layer at position "auto"
        # no trim: the whole clip; the blurred fill (the default fit): no window to move
        trim = output["edits"]["trim"]
        assert trim["start"] == 0 and abs(trim["end"] - 1.0) <= 0.05 and trim["end_card"] is None
        assert output["edits"]["reframe"] == {"fit": "blur", "used": "blur", "anchor": None, "zoom": 1.0,
                                              "path": None}  # fmt: skip
        assert output["source"] == str(clip)
        loudness = output["loudness"]  # the tone, brought to WTF_LOUDNESS_LUFS' default
        assert loudness["target_lufs"] == -14 and abs(loudness["after"]["integrated_lufs"] + 14) <= 1
        assert loudness["before"]["integrated_lufs"] < -16 and loudness["after"]["true_peak_dbtp"] <= -1
        assert (output["width"], output["height"]) == (1080, 1080)
        assert abs(output["duration"] - 1.0) <= 0.1
        path = Path(output["path"])
        assert path == tmp_path / f"clip_{output['brand']}.mp4"
        assert read_back(path) == ("h264", 1080, 1080, True)
    assert sorted(p.name for p in tmp_path.iterdir()) == with_covers(
        "clip_fallclips.mp4", "clip_watchthefall.mp4"
    )


def test_fit_crop_fills_the_portrait_canvas(tmp_path: Path) -> None:
    landscape = make_clip(tmp_path / "wide.mp4", width=568, height=320)
    result = wtf_portal("render", str(landscape), "--brand", "watchthefall", "--preset", "portrait",
                        "--fit", "crop", "--out", str(tmp_path / "out"), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)["outputs"][0]
    assert read_back(Path(output["path"])) == ("h264", 1080, 1350, True)
    bad = wtf_portal("render", str(landscape), "--brand", "watchthefall", "--fit", "stretch")
    assert bad.returncode == 2 and len(error_lines(bad.stderr)) == 1 and "stretch" in bad.stderr


def test_repeated_preset_gives_every_format_never_an_overwrite(clip: Path, tmp_path: Path) -> None:
    small = {"WTF_MAX_SHORT_SIDE": "240"}
    result = wtf_portal("render", str(clip), "--brand", "watchthefall", "--brand", "fallclips",
                        "--preset", "vertical", "--preset", "square", "--fit", "square=crop",
                        "--out", str(tmp_path), "--json", env=small)  # fmt: skip
    assert result.returncode == 0, result.stderr
    outputs = json.loads(result.stdout)["outputs"]
    assert sorted((o["brand"], o["format"]) for o in outputs) == [
        ("fallclips", "square"), ("fallclips", "vertical"),
        ("watchthefall", "square"), ("watchthefall", "vertical"),
    ]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == with_covers(
        "clip_fallclips_square.mp4", "clip_fallclips_vertical.mp4",
        "clip_watchthefall_square.mp4", "clip_watchthefall_vertical.mp4",
    )  # fmt: skip
    for output in outputs:
        size = {"vertical": (240, 426), "square": (240, 240)}[output["format"]]
        assert read_back(Path(output["path"])) == ("h264", *size, True)
    bad = wtf_portal(
        "render", str(clip), "--brand", "fallclips", "--preset", "vertical", "--fit", "square=crop"
    )
    assert (
        bad.returncode == 2 and len(error_lines(bad.stderr)) == 1 and "'square' is not one of" in bad.stderr
    )


def test_bad_sources_fail_one_line_each_good_ones_still_render(clip: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    photo = tmp_path / "photo.mp4"
    Image.new("RGB", (32, 32)).save(photo, format="PNG")
    voice = tmp_path / "voice.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(voice))
    missing = tmp_path / "missing.mov"
    out = tmp_path / "out"

    result = wtf_portal("render", str(empty), str(clip), str(photo), str(voice), str(missing),
                        "--all-brands", "--out", str(out))  # fmt: skip

    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = error_lines(result.stderr)
    assert len(lines) == 4
    for bad, reason in [
        (empty, "empty"),
        (photo, "still image"),
        (voice, "no video"),
        (missing, "no such file"),
    ]:
        assert any(str(bad) in line and reason in line for line in lines), (bad, lines)
    # nothing else in --out: no partial file, no temp name
    assert sorted(p.name for p in out.iterdir()) == with_covers(
        "clip_dailyfails.mp4", "clip_fallclips.mp4", "clip_watchthefall.mp4",
    )  # fmt: skip
    assert len(result.stdout.splitlines()) == 3


def test_json_lists_errors_with_codes(clip: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    result = wtf_portal("render", str(clip), str(empty), "--brand", "dailyfails",
                        "--out", str(tmp_path / "o"), "--json")  # fmt: skip
    assert result.returncode == 2
    payload = json.loads(result.stdout)
    assert [o["source"] for o in payload["outputs"]] == [str(clip)]
    (error,) = payload["errors"]
    assert error["source"] == str(empty) and error["code"] == "empty_file"
    assert error["message"].startswith(f"{empty}: ")
    assert error_lines(result.stderr) == [f"wtf-portal: {error['message']}"]


def test_same_file_name_from_two_folders_gets_two_outputs(clip: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    twin = make_clip(other / "clip.mp4", duration=1, width=240, height=240)
    out = tmp_path / "out"
    result = wtf_portal(
        "render", str(clip), str(twin), "--brand", "watchthefall", "--out", str(out), "--json"
    )
    assert result.returncode == 0, result.stderr
    paths = {o["source"]: Path(o["path"]) for o in json.loads(result.stdout)["outputs"]}
    assert paths == {str(clip): out / "clip_watchthefall.mp4", str(twin): out / "clip-2_watchthefall.mp4"}
    assert read_back(paths[str(twin)])[1:3] == (240, 240)


@pytest.mark.parametrize(("args", "message"), [
    (["--brand", "nope"], "unknown brand 'nope'"),
    ([], "--brand ID"),
    (["--brand", "fallclips", "--all-brands"], "--brand ID"),
    (["--all-brands", "--config", "/nowhere/brands.json"], "brand config not found"),
    (["--all-brands", "--preset", "wide"], "'wide' is not one of"),
    (["--all-brands", "--bogus"], "No such option '--bogus'"),
])  # fmt: skip
def test_usage_errors_are_one_line_exit_2(args: list[str], message: str, clip: Path, tmp_path: Path) -> None:
    result = wtf_portal("render", str(clip), *args, "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.startswith("wtf-portal: ") and len(result.stderr.splitlines()) == 1
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["render", "--all-brands"], "Missing argument 'SOURCES...'"),
    (["nosuch"], "No such command 'nosuch'"),
    (["demo", "--size", "12x5"], "--size"),
    (["brands", "check", "--verbose"], "No such option '--verbose'"),
])  # fmt: skip
def test_every_command_reports_usage_errors_in_one_line(args: list[str], message: str) -> None:
    result = wtf_portal(*args)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("wtf-portal: ") and message in result.stderr


def test_brands_are_checked_before_any_work(clip: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, {"lost": {"name": "Lost", "logo": {"path": "lost.png"}}})
    out = tmp_path / "out"
    result = wtf_portal("render", str(clip), "--all-brands", "--config", str(config), "--out", str(out))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "brand 'lost'" in result.stderr and "lost.png: file not found" in result.stderr
    assert not out.exists()

    write_config(tmp_path, {})
    result = wtf_portal("render", str(clip), "--all-brands", "--config", str(config), "--out", str(out))
    assert result.returncode == 2 and "the config has no brands" in result.stderr


def test_out_must_be_a_folder(clip: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("a file")
    result = wtf_portal("render", str(clip), "--all-brands", "--out", str(taken))
    assert result.returncode == 2
    assert result.stderr.strip() == f"wtf-portal: --out {taken}: is a file, not a folder"


def test_bad_environment_names_the_variable(clip: Path, tmp_path: Path) -> None:
    result = wtf_portal("render", str(clip), "--all-brands", "--out", str(tmp_path), env={"WTF_CRF": "99"})
    assert result.returncode == 2 and "WTF_CRF" in result.stderr and len(result.stderr.splitlines()) == 1


def test_plain_progress_lines_when_not_a_terminal(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "three.mp4", duration=3)
    result = wtf_portal("render", str(source), "--brand", "fallclips", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    progress = [
        re.fullmatch(rf"{re.escape(str(source))}: (\w+) (\d+)%", line) for line in result.stderr.splitlines()
    ]
    assert progress and all(progress), result.stderr
    percents = [int(match[2]) for match in progress if match[1] == "rendering"]
    assert percents[-1] == 100 and len(percents) <= 11
    steps = [b - a for a, b in itertools.pairwise(percents)]
    assert all(step >= 10 for step in steps[:-1]) and steps[-1] > 0, percents
    assert result.stdout.strip() == f"fallclips: {tmp_path / 'out' / 'three_fallclips.mp4'} (320x568, 3.00 s)"


def test_progress_bar_on_a_terminal_keeps_stdout_for_results(clip: Path, tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [*COMMAND, "render", str(clip), "--brand", "watchthefall", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=terminal, cwd=REPO, env={**os.environ, "TERM": "xterm-256color"},
    )  # fmt: skip
    os.close(terminal)
    screen = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the process closed its end of the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(controller)
    stdout = process.stdout.read().decode()
    assert process.wait() == 0, screen
    assert stdout == f"watchthefall: {tmp_path / 'clip_watchthefall.mp4'} (320x568, 1.00 s)\n"
    text = screen.decode("utf-8", "replace")
    assert "clip.mp4 rendering" in text and "100%" in text and "━" in text
    assert "wtf-portal:" not in text


@pytest.mark.parametrize(("stop", "word"), [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")])
def test_a_stop_signal_cancels_cleanly(stop: signal.Signals, word: str, clip: Path, tmp_path: Path) -> None:
    long_clip = make_clip(tmp_path / "long.mp4", duration=10)
    out = tmp_path / "out"
    process = subprocess.Popen(
        [*COMMAND, "render", str(clip), str(long_clip), str(clip), "--all-brands", "--preset", "vertical",
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    for line in process.stderr:  # wait until the long clip is being rendered
        if line.startswith(f"{long_clip}: rendering"):
            break
    children = psutil.Process(process.pid).children(recursive=True)
    assert any("ffmpeg" in child.name() for child in children)
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + stop, stderr
    assert "Traceback" not in stderr
    assert error_lines(stderr) == [
        f"wtf-portal: {long_clip}: render cancelled",
        f"wtf-portal: {clip}: not rendered ({word})",
        f"wtf-portal: {word}; finished outputs were kept, nothing partial was left",
    ]
    # the first source's outputs are kept and listed; nothing of the second, no .part files
    kept = sorted(p.name for p in out.iterdir())
    assert kept == with_covers("clip_dailyfails.mp4", "clip_fallclips.mp4", "clip_watchthefall.mp4")
    assert len(stdout.splitlines()) == 3
    assert psutil.wait_procs(children, timeout=10)[1] == []  # FFmpeg was killed, not left rendering


def test_demo_script_brands_a_generated_clip(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "demo_orchestrator.py", "--out", str(tmp_path / "out"),
         "--seconds", "1", "--size", "360x640"],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "WTF_DATA_DIR": str(data)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    names = ["demo_dailyfails.mp4", "demo_fallclips.mp4", "demo_watchthefall.mp4"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == with_covers(*names)
    for name in names:
        path = tmp_path / "out" / name
        assert str(path) in result.stdout
        assert read_back(path) == ("h264", 1080, 1920, True)  # the demo shows the vertical preset
    assert list((data / "temp").iterdir()) == []  # the sample clip was made there and removed


def test_help_works_as_module_and_script() -> None:
    result = wtf_portal("--help")
    assert result.returncode == 0
    assert all(command in result.stdout for command in ("render", "brands", "demo"))
    script = Path(sys.executable).parent / "wtf-portal"
    result = subprocess.run([str(script), "render", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "--all-brands" in result.stdout
