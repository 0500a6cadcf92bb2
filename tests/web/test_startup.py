"""The server refuses to start without a key (outside a dev run) or with a bad setting: one line, exit 2."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.web.server import free_port

GUNICORN = shutil.which("gunicorn", path=str(Path(sys.executable).parent))


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "WTF_PORTAL_KEY"),
        ({"WTF_PORTAL_KEY": "k" * 20, "WTF_CRF": "77"}, "WTF_CRF"),
        ({"WTF_PORTAL_KEY": "k" * 20, "WTF_QUEUE_URL": "amqp://x"}, "WTF_QUEUE_URL"),
    ],
)
def test_procfile_command_refuses_bad_settings(env: dict, variable: str, tmp_path: Path) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WTF_")}
    run_env = {**clean, "PORT": str(free_port()), "WTF_DATA_DIR": str(tmp_path), **env}
    result = subprocess.run(
        [GUNICORN, "-c", "portal/gunicorn.conf.py", "portal.app:app"],
        cwd=REPO,
        env=run_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"wtf-portal: {variable}" in result.stderr and "Traceback" not in result.stderr
