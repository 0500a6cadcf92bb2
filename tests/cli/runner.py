"""Run `wtf-portal` as a user does: a real process started from the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

COMMAND = [sys.executable, "-m", "portal"]


def wtf_portal(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*COMMAND, *args], capture_output=True, text=True, cwd=REPO, env={**os.environ, **(env or {})}
    )


def error_lines(stderr: str) -> list[str]:
    """The one-line errors (progress lines also go to stderr when it is not a terminal)."""
    return [line for line in stderr.splitlines() if line.startswith("wtf-portal:")]


def write_config(folder: Path, brands: dict) -> Path:
    path = folder / "brand_config.json"
    path.write_text(json.dumps({"version": 1, "brands": brands}))
    return path
