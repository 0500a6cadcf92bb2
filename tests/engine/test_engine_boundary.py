"""The engine knows nothing of HTTP, the database, the queue or the settings (DESIGN 2)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import portal.media

FORBIDDEN = ("flask", "sqlalchemy", "huey", "portal.config")
ENGINE_MODULES = (
    "portal.video_processor",
    "portal.commands.demo",
    *(f"portal.media.{module.name}" for module in pkgutil.iter_modules(portal.media.__path__)),
)


def test_importing_the_engine_loads_no_web_database_queue_or_settings_module() -> None:
    script = (
        "import importlib, json, sys\n"
        f"for name in {list(ENGINE_MODULES)!r}:\n"
        "    importlib.import_module(name)\n"
        f"forbidden = {FORBIDDEN!r}\n"
        "print(json.dumps(sorted(m for m in sys.modules if m in forbidden or m.split('.')[0] in forbidden)))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "portal.media.plan" in ENGINE_MODULES and "portal.media.probe" in ENGINE_MODULES
    assert json.loads(result.stdout) == []
