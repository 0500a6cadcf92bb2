"""Dockerfile, compose, Kubernetes, systemd and nginx agree with each other and with config.py.

No Docker engine, cluster or systemd runs here: the files are parsed and cross-checked, and the tools that
work offline are run for real (`kubectl kustomize`, `systemd-analyze verify`, `nginx -t`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from portal.config import Settings
from tests.conftest import REPO, require_program
from tests.deploy.deployfiles import (
    KNOWN_VARIABLES,
    NGINX_SITE,
    WEB_COMMAND,
    WORKER_COMMAND,
    dockerfile_instructions,
    duration_seconds,
    env_file_names,
    k8s_object,
    kustomize_documents,
    last_stage,
    load_yaml_documents,
    megabytes,
    memory_mib,
    mentioned_variables,
    nginx_test_config,
    systemd_unit,
)

DEFAULTS = {name: field.default for name, field in Settings.model_fields.items()}
UPLOAD_HEADROOM_MB = 10  # multipart framing: an upload just over the limit gets the app's JSON 413
WORKER_HEADROOM_MIB = 512  # Python, Huey, PyAV and yt-dlp beside the render budget
DEPLOY_FILES = [
    "Dockerfile",
    "compose.yaml",
    ".env.example",
    *(str(p.relative_to(REPO)) for p in sorted((REPO / "deploy").rglob("*")) if p.is_file()),
]


@pytest.mark.parametrize("name", DEPLOY_FILES)
def test_every_variable_named_in_deploy_files_is_a_setting(name: str) -> None:
    unknown = mentioned_variables((REPO / name).read_text(encoding="utf-8")) - KNOWN_VARIABLES
    # compose's own knob for the published host port is not a portal setting.
    assert unknown - {"WTF_HTTP_PORT"} == set(), f"{name} names variables config.py does not read"


# --- Dockerfile ----------------------------------------------------------------------------------------


def test_dockerfile_runtime_stage() -> None:
    instructions = dockerfile_instructions()
    assert sum(ins.keyword == "FROM" for ins in instructions) >= 2, "multi-stage: build deps apart"
    runtime = last_stage(instructions)
    by_keyword: dict[str, list] = {}
    for ins in runtime:
        by_keyword.setdefault(ins.keyword, []).append(ins)

    assert by_keyword["CMD"][-1].exec_form() == WEB_COMMAND
    assert "ENTRYPOINT" not in by_keyword, "compose and k8s replace CMD to run the worker"
    user = by_keyword["USER"][-1].arguments.split(":")[0]
    assert user not in ("root", "0")
    assert user.isdigit(), "numeric, so Kubernetes runAsNonRoot can check it"
    assert by_keyword["VOLUME"][-1].exec_form() == ["/data"]
    env_text = " ".join(ins.arguments for ins in by_keyword["ENV"])
    assert "WTF_DATA_DIR=/data" in env_text
    assert "PORT=8000" in env_text
    assert "8000" in by_keyword["EXPOSE"][-1].arguments


def test_dockerfile_uses_the_python_of_runtime_txt_and_the_wheel_ffmpeg() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    runtime = (REPO / "runtime.txt").read_text(encoding="utf-8").strip()  # python-3.11.7
    minor = ".".join(runtime.removeprefix("python-").split(".")[:2])
    assert f"python:{minor}-slim" in text
    assert not re.search(r"apt-get install[^\n]*ffmpeg", text), "FFmpeg comes from the imageio-ffmpeg wheel"
    assert "requirements.txt" in text


def test_dockerfile_healthcheck_asks_readyz_without_curl() -> None:
    (healthcheck,) = [ins for ins in dockerfile_instructions() if ins.keyword == "HEALTHCHECK"]
    assert "/readyz" in healthcheck.arguments
    assert "curl" not in healthcheck.arguments and "wget" not in healthcheck.arguments
    assert " CMD python " in f" {healthcheck.arguments} "


def test_dockerignore_keeps_secrets_and_local_state_out() -> None:
    ignored = set((REPO / ".dockerignore").read_text(encoding="utf-8").split())
    assert {".git", ".venv", "data", ".env", "tests"} <= ignored
    assert "portal" not in ignored and "requirements.txt" not in ignored


# --- compose -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    (document,) = load_yaml_documents(REPO / "compose.yaml")
    return document


def test_compose_services_and_commands(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == {"web", "worker", "redis", "postgres"}
    assert services["web"]["command"] == WEB_COMMAND
    assert services["worker"]["command"] == WORKER_COMMAND
    assert services["web"]["environment"]["WTF_EMBEDDED_WORKER"] == "0"
    assert services["web"]["environment"]["PORT"] == "8000"
    # published on the host's loopback only: the outside world comes in through a proxy (issue 10)
    assert services["web"]["ports"] == ["127.0.0.1:${WTF_HTTP_PORT:-8000}:8000"]


def test_compose_wires_queue_database_and_one_data_volume(compose: dict) -> None:
    services = compose["services"]
    for name in ("web", "worker"):
        env = services[name]["environment"]
        assert env["WTF_QUEUE_URL"] == "redis://redis:6379/0"
        assert re.fullmatch(
            r"postgresql://wtf:\$\{POSTGRES_PASSWORD:\?[^}]+\}@postgres:5432/wtf", env["WTF_DATABASE_URL"]
        )
        assert env["WTF_DATA_DIR"] == "/data"
        assert services[name]["volumes"] == ["wtf-data:/data"]
        for secret in ("WTF_PORTAL_KEY", "WTF_SECRET_KEY"):
            assert env[secret].startswith(f"${{{secret}:?"), "required from .env, never a default"
    assert "wtf-data" in compose["volumes"]


def test_compose_health_checks_and_start_order(compose: dict) -> None:
    services = compose["services"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"][1]
    assert services["web"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert services["worker"]["depends_on"]["web"]["condition"] == "service_healthy"
    assert "healthcheck" not in services["web"], "the image's HEALTHCHECK (/readyz) applies"


def test_compose_worker_stops_gracefully_after_a_render(compose: dict) -> None:
    worker = compose["services"]["worker"]
    assert worker["stop_signal"] == "SIGINT"
    assert duration_seconds(worker["stop_grace_period"]) > DEFAULTS["render_timeout_s"]


def test_compose_defaults_match_config(compose: dict) -> None:
    env = compose["services"]["web"]["environment"]
    for name, value in env.items():
        default = re.fullmatch(r"\$\{(WTF_[A-Z_]+):-([^}]*)\}", str(value))
        if default:
            field = default[1].removeprefix("WTF_").lower()
            assert default[2] == str(DEFAULTS[field]).removesuffix(".0"), name


# --- Kubernetes ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s() -> list[dict]:
    require_program("kubectl", shutil.which("kubectl") is not None)
    return kustomize_documents()


def _container(deployment: dict) -> dict:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def _config(k8s: list[dict]) -> dict[str, str]:
    return k8s_object(k8s, "ConfigMap", "wtf-portal-config")["data"]


def test_k8s_renders_and_names_only_known_variables(k8s: list[dict]) -> None:
    kinds = sorted(f"{doc['kind']}/{doc['metadata']['name']}" for doc in k8s)
    assert kinds == [
        "ConfigMap/wtf-portal-config",
        "Deployment/wtf-portal-web",
        "Deployment/wtf-portal-worker",
        "Ingress/wtf-portal",
        "Ingress/wtf-portal-events",
        "PersistentVolumeClaim/wtf-portal-data",
        "Secret/wtf-portal-secrets",
        "Service/wtf-portal-web",
    ]
    secret = k8s_object(k8s, "Secret", "wtf-portal-secrets")["stringData"]
    assert set(secret) == {
        "WTF_PORTAL_KEY",
        "WTF_SECRET_KEY",
        "WTF_DATABASE_URL",
        "WTF_WEBHOOK_SECRET",
        "WTF_PROXIES",
    }
    assert set(secret.values()) == {""}, "no known key ships in the repository"
    assert set(_config(k8s)) <= KNOWN_VARIABLES


def test_k8s_web_command_probes_and_port(k8s: list[dict]) -> None:
    web = k8s_object(k8s, "Deployment", "wtf-portal-web")
    container = _container(web)
    assert container["command"] == WEB_COMMAND
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["WTF_EMBEDDED_WORKER"] == "0"
    (port,) = container["ports"]
    assert port["containerPort"] == int(env["PORT"])
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    service = k8s_object(k8s, "Service", "wtf-portal-web")
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]


def test_k8s_worker_stops_gracefully_and_has_render_memory(k8s: list[dict]) -> None:
    worker = k8s_object(k8s, "Deployment", "wtf-portal-worker")
    container = _container(worker)
    assert container["command"] == WORKER_COMMAND
    config = _config(k8s)
    grace = worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > int(config["WTF_RENDER_TIMEOUT_S"])
    pre_stop = " ".join(container["lifecycle"]["preStop"]["exec"]["command"])
    assert "kill -INT 1" in pre_stop
    requested = memory_mib(container["resources"]["requests"]["memory"])
    concurrency = int({e["name"]: e["value"] for e in container["env"]}["WTF_WORKER_CONCURRENCY"])
    assert requested >= concurrency * int(config["WTF_RENDER_MEMORY_MB"]) + WORKER_HEADROOM_MIB
    assert memory_mib(container["resources"]["limits"]["memory"]) > requested
    assert "cpu" not in container["resources"]["limits"], "a CPU limit only throttles x264"


def test_k8s_pods_share_the_data_volume_as_non_root(k8s: list[dict]) -> None:
    pvc = k8s_object(k8s, "PersistentVolumeClaim", "wtf-portal-data")
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    data_dir = _config(k8s)["WTF_DATA_DIR"]
    for name in ("wtf-portal-web", "wtf-portal-worker"):
        pod = k8s_object(k8s, "Deployment", name)["spec"]["template"]["spec"]
        container = _container(k8s_object(k8s, "Deployment", name))
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert volumes[mounts[data_dir]]["persistentVolumeClaim"]["claimName"] == "wtf-portal-data"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert {"configMapRef": {"name": "wtf-portal-config"}} in container["envFrom"]
        assert {"secretRef": {"name": "wtf-portal-secrets"}} in container["envFrom"]


def test_k8s_ingress_body_size_and_unbuffered_events(k8s: list[dict]) -> None:
    config = _config(k8s)
    main = k8s_object(k8s, "Ingress", "wtf-portal")["metadata"]["annotations"]
    body = megabytes(main["nginx.ingress.kubernetes.io/proxy-body-size"])
    assert body == int(config["WTF_MAX_UPLOAD_MB"]) + UPLOAD_HEADROOM_MB
    events = k8s_object(k8s, "Ingress", "wtf-portal-events")
    annotations = events["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert annotations["nginx.ingress.kubernetes.io/use-regex"] == "true"
    (path,) = events["spec"]["rules"][0]["http"]["paths"]
    assert re.fullmatch(path["path"], "/api/jobs/3f2a9c/events")
    assert re.fullmatch(path["path"], "/api/events")  # the dashboard's stream of many jobs
    assert not re.fullmatch(path["path"], "/api/jobs/3f2a9c")


def test_k8s_defaults_match_config(k8s: list[dict]) -> None:
    for name, value in _config(k8s).items():
        field = name.removeprefix("WTF_").lower()
        if name in (
            "WTF_DATA_DIR",
            "WTF_BRAND_CONFIG",
            "WTF_QUEUE_URL",
            "WTF_LOG_FORMAT",
            "WTF_TRUSTED_PROXIES",
        ):
            continue  # deliberately different in a cluster (the Ingress controller is a proxy in front)
        assert value == str(DEFAULTS[field]).removesuffix(".0"), name


# --- systemd -------------------------------------------------------------------------------------------


def test_systemd_units_start_the_same_commands() -> None:
    web = systemd_unit("wtf-portal-web.service")["Service"]
    worker = systemd_unit("wtf-portal-worker.service")["Service"]
    assert web["ExecStart"].split()[1:] == WEB_COMMAND[1:]
    assert Path(web["ExecStart"].split()[0]).name == WEB_COMMAND[0]
    assert Path(worker["ExecStart"].split()[0]).name == WORKER_COMMAND[0]
    assert worker["ExecStart"].split()[1:] == WORKER_COMMAND[1:]
    assert "PORT=8000" in web["Environment"] and "WTF_EMBEDDED_WORKER=0" in web["Environment"]
    for unit in (web, worker):
        assert unit["EnvironmentFile"] == "/etc/wtf-portal/wtf-portal.env"
        assert unit["User"] != "root"
        assert unit["NoNewPrivileges"] == "yes"
        assert unit["ProtectSystem"] == "strict"


def test_systemd_worker_stops_with_sigint_after_a_render() -> None:
    worker = systemd_unit("wtf-portal-worker.service")["Service"]
    assert worker["KillSignal"] == "SIGINT"
    assert worker["KillMode"] == "mixed"
    assert duration_seconds(worker["TimeoutStopSec"]) > DEFAULTS["render_timeout_s"]
    assert memory_mib(worker["MemoryHigh"]) >= DEFAULTS["render_memory_mb"] + WORKER_HEADROOM_MIB
    assert memory_mib(worker["MemoryMax"]) > memory_mib(worker["MemoryHigh"])


def test_systemd_env_file_uses_the_state_directory() -> None:
    names = env_file_names(REPO / "deploy" / "systemd" / "wtf-portal.env")
    assert names <= KNOWN_VARIABLES
    assert {"WTF_PORTAL_KEY", "WTF_SECRET_KEY", "WTF_DATA_DIR"} <= names
    text = (REPO / "deploy" / "systemd" / "wtf-portal.env").read_text(encoding="utf-8")
    state = systemd_unit("wtf-portal-web.service")["Service"]["StateDirectory"]
    assert f"WTF_DATA_DIR=/var/lib/{state}" in text


@pytest.mark.parametrize("unit", ["wtf-portal-web.service", "wtf-portal-worker.service"])
def test_systemd_analyze_verify(unit: str, tmp_path: Path) -> None:
    require_program("systemd-analyze", shutil.which("systemd-analyze") is not None)
    # The units point at /opt/wtf-portal; verify them against this checkout's venv instead.
    venv_bin = REPO / ".venv" / "bin"
    text = (REPO / "deploy" / "systemd" / unit).read_text(encoding="utf-8")
    local = tmp_path / unit
    local.write_text(text.replace("/opt/wtf-portal/.venv/bin", str(venv_bin)), encoding="utf-8")
    result = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr


# --- nginx ---------------------------------------------------------------------------------------------


def test_nginx_site_limits_and_streams() -> None:
    text = NGINX_SITE.read_text(encoding="utf-8")
    (body,) = re.findall(r"client_max_body_size\s+(\S+);", text)
    assert megabytes(body) == DEFAULTS["max_upload_mb"] + UPLOAD_HEADROOM_MB
    events = re.search(r"location ~ (\S+) \{([^}]*)\}", text)
    assert events and re.search(events[1], "/api/jobs/3f2a9c/events")
    assert "proxy_buffering off;" in events[2]
    assert re.search(r"proxy_read_timeout\s+1h;", events[2])
    assert "location /api/videos/download/" in text
    assert "proxy_set_header X-Request-ID $wtf_request_id;" in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    require_program("nginx", shutil.which("nginx") is not None)
    require_program("openssl", shutil.which("openssl") is not None)
    config = nginx_test_config(tmp_path)
    result = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-c", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
