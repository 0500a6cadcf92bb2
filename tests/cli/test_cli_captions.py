"""`wtf-portal render --captions FILE`: burned in by a brand with a captions layer, a .vtt beside each
output, and a bad file or cue refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

from tests.captions.test_burn_in import VTT, _black_clip, _frame, _ocr
from tests.cli.runner import error_lines, wtf_portal


def _config(folder: Path) -> Path:
    path = folder / "brand_config.json"
    brands = {"cap": {"name": "Cap", "layers": [{"captions": {"highlight": None, "size": 0.06}}]}}
    path.write_text(json.dumps({"version": 2, "brands": brands}))
    return path


def test_render_with_captions_burns_them_in_and_writes_the_vtt(tmp_path: Path) -> None:
    clip = _black_clip(tmp_path / "clip.mp4", 360, 640)
    words = tmp_path / "words.vtt"
    words.write_text(VTT)
    result = wtf_portal("render", str(clip), "--brand", "cap", "--config", str(_config(tmp_path)),
                        "--captions", str(words), "--out", str(tmp_path / "out"), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    [output] = json.loads(result.stdout)["outputs"]
    assert Path(output["captions"]).read_text().startswith("WEBVTT")
    assert "HELLO" in _ocr(_frame(Path(output["path"]), 0.7, tmp_path / "a.png"), tmp_path)


def test_bad_captions_are_one_line_errors(tmp_path: Path) -> None:
    clip = _black_clip(tmp_path / "clip.mp4", 180, 320, seconds=1)
    config = str(_config(tmp_path))
    broken = tmp_path / "broken.srt"
    broken.write_text("1\nsoon --> later\nhi\n")
    result = wtf_portal("render", str(clip), "--brand", "cap", "--config", config, "--captions", str(broken))
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        f"wtf-portal: --captions {broken}: cue 1: cannot read the timing line 'soon --> later'"
    ]
    late = tmp_path / "late.vtt"
    late.write_text(VTT)  # its first cue ends at 1.2 s; the clip lasts 1 s
    result = wtf_portal("render", str(clip), "--brand", "cap", "--config", config, "--captions", str(late),
                        "--out", str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 2
    [line] = error_lines(result.stderr)
    assert line.endswith(
        "clip.mp4: cue 1 (00:00:00.200 --> 00:00:01.200): ends after the clip, which is 00:00:01.000 long"
    )
