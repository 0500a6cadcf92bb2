"""`wtf-portal` as a user runs it: a real process, real FFmpeg, exit codes and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import REPO
from tests.mediagen import ffmpeg, make_clip


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portal", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", duration=1)


def test_render_two_brands_json(clip: Path, tmp_path: Path) -> None:
    result = run("render", str(clip), "--brand", "watchthefall", "--brand", "fallclips",
                 "--preset", "square", "--out", str(tmp_path), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["errors"] == []
    assert [o["brand"] for o in payload["outputs"]] == ["watchthefall", "fallclips"]
    for output in payload["outputs"]:
        assert output["source"] == str(clip)
        assert (output["width"], output["height"]) == (1080, 1080)
        assert abs(output["duration"] - 1.0) <= 0.1
        assert Path(output["path"]).is_file() and Path(output["path"]).parent == tmp_path


def test_bad_sources_fail_one_line_each_good_ones_still_render(clip: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    photo = tmp_path / "photo.mp4"
    Image.new("RGB", (32, 32)).save(photo, format="PNG")
    voice = tmp_path / "voice.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(voice))
    missing = tmp_path / "missing.mov"
    out = tmp_path / "out"

    result = run("render", str(empty), str(clip), str(photo), str(voice), str(missing),
                 "--all-brands", "--out", str(out))  # fmt: skip

    assert result.returncode == 2
    # progress lines go to stderr too when it is not a terminal; errors carry the program's name
    lines = [line for line in result.stderr.splitlines() if line.startswith("wtf-portal:")]
    assert len(lines) == 4 and "Traceback" not in result.stderr
    for bad, reason in [
        (empty, "empty"),
        (photo, "still image"),
        (voice, "no video"),
        (missing, "no such file"),
    ]:
        assert any(str(bad) in line and reason in line for line in lines), (bad, lines)
    assert sorted(p.name for p in out.iterdir()) == [
        "clip_dailyfails.mp4", "clip_fallclips.mp4", "clip_watchthefall.mp4",
    ]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), [
    (["--brand", "nope"], "unknown brand 'nope'"),
    ([], "--brand ID"),
    (["--all-brands", "--config", "/nowhere/brands.json"], "brand config not found"),
])  # fmt: skip
def test_usage_errors_are_one_line_exit_2(args: list[str], message: str, clip: Path, tmp_path: Path) -> None:
    result = run("render", str(clip), *args, "--out", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_bad_environment_names_the_variable(
    clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WTF_CRF", "99")
    result = run("render", str(clip), "--all-brands", "--out", str(tmp_path))
    assert result.returncode == 2 and "WTF_CRF" in result.stderr


def test_brands_check(tmp_path: Path) -> None:
    assert run("brands", "check").returncode == 0
    config = tmp_path / "brand_config.json"
    config.write_text(
        json.dumps({"version": 1, "brands": {"x": {"name": "X", "logo": {"path": "gone.png"}}}})
    )
    result = run("brands", "check", "--config", str(config))
    assert result.returncode == 2 and "gone.png" in result.stderr and "file not found" in result.stderr


def test_demo_brands_a_generated_clip(tmp_path: Path) -> None:
    result = run("demo", "--out", str(tmp_path), "--seconds", "1", "--size", "360x640")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "demo_dailyfails.mp4", "demo_fallclips.mp4", "demo_watchthefall.mp4",
    ]  # fmt: skip


def test_help_works_as_module_and_script() -> None:
    assert run("--help").returncode == 0
    script = Path(sys.executable).parent / "wtf-portal"
    assert subprocess.run([str(script), "render", "--help"], capture_output=True).returncode == 0
