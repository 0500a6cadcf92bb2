"""Fixtures shared by every test area."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI") == "true"


def require_program(name: str, found: bool) -> None:
    """Skip with a reason naming the missing program; in CI a missing program is a failure."""
    if found:
        return
    message = f"{name} is not installed (.ci/run installs it with apt-get)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the developer's WTF_* settings."""
    for name in list(os.environ):
        if name.startswith("WTF_") or name in ("FFMPEG_PATH", "PORT"):
            monkeypatch.delenv(name, raising=False)
