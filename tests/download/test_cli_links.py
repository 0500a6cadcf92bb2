"""`wtf-portal render` takes links as well as files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.download.conftest import Site


def render(*args: str, allow_private: bool) -> subprocess.CompletedProcess:
    env = {**os.environ, "WTF_ALLOW_PRIVATE_URLS": "1" if allow_private else "0"}
    return subprocess.run(
        [sys.executable, "-m", "portal", "render", *args], capture_output=True, text=True, cwd=REPO, env=env
    )


def test_render_a_link(site: Site, tmp_path: Path) -> None:
    result = render(
        f"{site.url}/video.html",
        "--brand",
        "dailyfails",
        "--out",
        str(tmp_path),
        "--json",
        allow_private=True,
    )
    assert result.returncode == 0, result.stderr
    (output,) = json.loads(result.stdout)["outputs"]
    assert output["source"] == f"{site.url}/video.html" and Path(output["path"]).is_file()


def test_refused_link_is_one_line_exit_2(site: Site, tmp_path: Path) -> None:
    result = render(f"{site.url}/clip.mp4", "--all-brands", "--out", str(tmp_path), allow_private=False)
    errors = [line for line in result.stderr.splitlines() if line.startswith("wtf-portal:")]
    assert result.returncode == 2 and len(errors) == 1 and "WTF_ALLOW_PRIVATE_URLS" in errors[0]
    assert list(tmp_path.iterdir()) == []


def test_a_link_whose_first_answer_is_audio_only_renders(site: Site, tmp_path: Path) -> None:
    url = f"{site.url}/audiofirst/master.m3u8"
    result = render(url, "--brand", "dailyfails", "--out", str(tmp_path), "--json", allow_private=True)
    assert result.returncode == 0, result.stderr
    (output,) = json.loads(result.stdout)["outputs"]
    assert (output["width"], output["height"]) == (320, 568) and abs(output["duration"] - 1) <= 0.1
    only = render(f"{site.url}/audioonly/master.m3u8", "--brand", "dailyfails", "--out", str(tmp_path / "o"),
                  allow_private=True)  # fmt: skip
    errors = [line for line in only.stderr.splitlines() if line.startswith("wtf-portal:")]
    assert (
        only.returncode == 2 and len(errors) == 1 and "audio only" in errors[0] and "audioonly" in errors[0]
    )
