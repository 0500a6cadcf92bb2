"""Procfile, render.yaml and gunicorn.conf.py agree with the other targets and with the app's real routes."""

from __future__ import annotations

import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from werkzeug.routing import Map

from tests.conftest import REPO
from tests.deploy.deployfiles import KNOWN_VARIABLES, WEB_COMMAND, WORKER_COMMAND, dockerfile_instructions


def procfile() -> dict[str, str]:
    lines = (REPO / "Procfile").read_text(encoding="utf-8").splitlines()
    return dict(line.split(":", 1) for line in lines if line.strip() and not line.startswith("#"))


BLUEPRINTS = ("render.yaml", "render.free.yaml")  # the paid plan's and the free plan's


def blueprint_web(name: str) -> dict:
    blueprint = yaml.safe_load((REPO / name).read_text(encoding="utf-8"))
    (web,) = [service for service in blueprint["services"] if service["type"] == "web"]
    return web


@pytest.fixture(scope="module", params=BLUEPRINTS)
def render_web(request: pytest.FixtureRequest) -> dict:
    return blueprint_web(request.param)


@pytest.fixture(scope="module")
def url_map(tmp_path_factory: pytest.TempPathFactory) -> Map:
    from portal.app import create_app
    from portal.config import load_settings

    data = tmp_path_factory.mktemp("data")
    settings = load_settings(data_dir=data, portal_key="k" * 32, secret_key="s" * 32, embedded_worker=False)
    return create_app(settings).url_map


def _routes(url_map: Map, path: str, method: str = "GET") -> bool:
    adapter = url_map.bind("localhost")
    try:
        adapter.match(path, method=method)
    except Exception:
        return False
    return True


def test_procfile_lines_are_the_start_commands() -> None:
    lines = procfile()
    assert lines["web"].split() == WEB_COMMAND
    assert lines["worker"].split() == WORKER_COMMAND


def test_render_yaml_starts_what_the_procfile_starts(render_web: dict, url_map: Map) -> None:
    assert render_web["startCommand"].split() == WEB_COMMAND
    assert "render-build.sh" in render_web["buildCommand"]
    assert _routes(url_map, render_web["healthCheckPath"])
    names = {item["key"] for item in render_web.get("envVars", [])}
    assert {name for name in names if name.startswith("WTF_")} <= KNOWN_VARIABLES
    python = next(item["value"] for item in render_web["envVars"] if item["key"] == "PYTHON_VERSION")
    assert f"python-{python}" == (REPO / "runtime.txt").read_text(encoding="utf-8").strip()
    secrets = [item for item in render_web["envVars"] if item["key"] in ("WTF_PORTAL_KEY", "WTF_SECRET_KEY")]
    assert secrets and all("value" not in item for item in secrets), "secrets are set in Render, not in git"


def _env(web: dict) -> dict[str, dict]:
    return {item["key"]: item for item in web["envVars"]}


def test_free_blueprint_is_the_paid_one_without_disk_and_with_the_free_budget() -> None:
    paid, free = blueprint_web("render.yaml"), blueprint_web("render.free.yaml")
    assert free["plan"] == "free" and paid["plan"] != "free"
    assert "disk" not in free and "disk" in paid  # free services have no disk
    same = ("type", "name", "runtime", "buildCommand", "startCommand", "healthCheckPath")
    assert {key: free[key] for key in same} == {key: paid[key] for key in same}
    env = _env(free)
    assert "WTF_DATA_DIR" not in env, "no disk to point at: the default ./data"
    assert env["WTF_EMBEDDED_WORKER"]["value"] == "1" and env["WTF_WORKER_CONCURRENCY"]["value"] == "1"
    assert env["WTF_EMBEDDED_IN_WEB_WORKER"]["value"] == "1"  # two interpreters, not three
    assert int(env["WTF_RENDER_MEMORY_MB"]["value"]) < 512  # the budget is set for a 512 MB instance
    # nothing to edit but the secrets: every other variable has its value in the file
    to_fill = {key for key, item in env.items() if "value" not in item}
    assert to_fill == {"WTF_PORTAL_KEY", "WTF_SECRET_KEY"} and env["WTF_SECRET_KEY"]["generateValue"]
    shared = set(env) & set(_env(paid)) - {"WTF_RENDER_MEMORY_MB", "WTF_MAX_UPLOAD_MB"}
    assert {key: env[key] for key in shared} == {key: _env(paid)[key] for key in shared}


def test_render_build_script_is_executable_and_installs_no_apt_ffmpeg() -> None:
    script = REPO / "render-build.sh"
    assert script.stat().st_mode & 0o111
    assert "apt" not in script.read_text(encoding="utf-8")


def test_probed_and_proxied_paths_are_real_routes(url_map: Map) -> None:
    (healthcheck,) = [ins for ins in dockerfile_instructions() if ins.keyword == "HEALTHCHECK"]
    assert "/readyz" in healthcheck.arguments
    for path in ("/healthz", "/readyz", "/api/test", "/metrics"):
        assert _routes(url_map, path), path
    # Named by the nginx site and the Kubernetes events Ingress.
    assert _routes(url_map, "/api/jobs/3f2a9c/events")
    assert _routes(url_map, "/api/jobs/3f2a9c/archive")
    assert _routes(url_map, "/api/videos/download/clip_watchthefall.mp4")


def test_gunicorn_config_binds_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "18765")
    config = runpy.run_path(str(REPO / "portal" / "gunicorn.conf.py"))
    bind = config["bind"]
    assert (bind if isinstance(bind, list) else [bind]) == ["0.0.0.0:18765"]
    assert config.get("worker_class") == "portal.web.gevent_worker.PortalGeventWorker"
    monkeypatch.setenv("WTF_BIND_HOST", "127.0.0.1")  # behind nginx on the same host
    assert runpy.run_path(str(REPO / "portal" / "gunicorn.conf.py"))["bind"] == "127.0.0.1:18765"


def test_gunicorn_check_config_loads_the_app(tmp_path: Path) -> None:
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    assert gunicorn, "gunicorn is a runtime dependency"
    env = {
        "PATH": str(Path(sys.executable).parent),
        "PORT": "18766",
        "WTF_DATA_DIR": str(tmp_path),
        "WTF_PORTAL_KEY": "k" * 32,
        "WTF_SECRET_KEY": "s" * 32,
        "WTF_EMBEDDED_WORKER": "0",
    }
    result = subprocess.run(
        [gunicorn, "--check-config", *WEB_COMMAND[1:]], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
