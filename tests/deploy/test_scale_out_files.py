"""The scaled-out shapes with no shared disk (DESIGN 4.9): compose.s3.yaml, the Kubernetes object-storage
overlay and Render's scaled blueprint (render.scale.yaml) agree with the base files and with config.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from urllib.parse import urlparse

import pytest
import yaml

from portal.config import load_settings
from tests.conftest import REPO, require_program
from tests.deploy.deployfiles import (
    KNOWN_VARIABLES,
    WEB_COMMAND,
    WORKER_COMMAND,
    k8s_object,
    kustomize_documents,
    mentioned_variables,
)

BOTO3_VARIABLES = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
WORKER_HEADROOM_MB = 512


@pytest.mark.parametrize("name", ["compose.s3.yaml", "render.scale.yaml"])
def test_every_variable_named_is_a_setting(name: str) -> None:
    assert mentioned_variables((REPO / name).read_text(encoding="utf-8")) <= KNOWN_VARIABLES


# --- compose.s3.yaml -----------------------------------------------------------------------------------


class ComposeLoader(yaml.SafeLoader):
    """YAML as compose reads it: `!reset VALUE` clears what the base file set."""


ComposeLoader.add_constructor("!reset", lambda loader, node: ("!reset", loader.construct_sequence(node)))


@pytest.fixture(scope="module")
def compose_s3() -> dict:
    return yaml.load((REPO / "compose.s3.yaml").read_text(encoding="utf-8"), Loader=ComposeLoader)


def _default(value: str) -> str:
    match = re.fullmatch(r"\$\{[A-Z_]+:-([^}]*)\}", value)
    assert match, f"{value} should have a default"
    return match[1]


def test_compose_s3_web_and_worker_share_no_volume(compose_s3: dict) -> None:
    base = yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))
    for name in ("web", "worker"):
        service = compose_s3["services"][name]
        assert service["volumes"] == ("!reset", []), "the base's shared wtf-data volume is dropped"
        assert "command" not in service, "the start commands stay the base's"
        assert base["services"][name]["command"] == (WEB_COMMAND if name == "web" else WORKER_COMMAND)
        env = service["environment"]
        assert set(env) >= BOTO3_VARIABLES
        assert env["AWS_SECRET_ACCESS_KEY"].startswith("${AWS_SECRET_ACCESS_KEY:?"), "never a default secret"
        settings = load_settings(storage_url=_default(env["WTF_STORAGE_URL"]),
                                 storage_public_url=_default(env["WTF_STORAGE_PUBLIC_URL"]))  # fmt: skip
        assert settings.storage_url.startswith("s3://")
        assert service["depends_on"]["bucket"] == {
            "condition": "service_completed_successfully", "required": False,
        }  # fmt: skip


def test_compose_s3_minio_profile_makes_the_bucket_the_portal_uses(compose_s3: dict) -> None:
    services = compose_s3["services"]
    assert services["minio"]["profiles"] == services["bucket"]["profiles"] == ["minio"]
    assert services["minio"]["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    assert services["bucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    env = services["web"]["environment"]
    bucket = urlparse(_default(env["WTF_STORAGE_URL"])).netloc
    assert f"mc mb --ignore-existing store/{bucket}" in " ".join(services["bucket"]["command"])
    assert urlparse(_default(env["AWS_ENDPOINT_URL"])).netloc == "minio:9000"
    published = urlparse(_default(env["WTF_STORAGE_PUBLIC_URL"])).port
    assert f"{published}:9000" in services["minio"]["ports"], "browsers follow presigned links there"
    assert services["minio"]["environment"]["MINIO_ROOT_USER"] == env["AWS_ACCESS_KEY_ID"]
    assert services["minio"]["environment"]["MINIO_ROOT_PASSWORD"] == env["AWS_SECRET_ACCESS_KEY"]


# --- Kubernetes overlay --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s_s3() -> list[dict]:
    require_program("kubectl", shutil.which("kubectl") is not None)
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "deploy" / "k8s-object-storage")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def test_k8s_overlay_needs_no_read_write_many(k8s_s3: list[dict]) -> None:
    assert not [doc for doc in k8s_s3 if doc["kind"] == "PersistentVolumeClaim"]
    config = k8s_object(k8s_s3, "ConfigMap", "wtf-portal-config")["data"]
    assert load_settings(storage_url=config["WTF_STORAGE_URL"]).storage_url.startswith("s3://")
    secret = k8s_object(k8s_s3, "Secret", "wtf-portal-object-storage")["stringData"]
    assert set(secret) == BOTO3_VARIABLES and set(secret.values()) == {""}
    for name, command in (("wtf-portal-web", WEB_COMMAND), ("wtf-portal-worker", WORKER_COMMAND)):
        pod = k8s_object(k8s_s3, "Deployment", name)["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["command"] == command
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        assert all("persistentVolumeClaim" not in volume for volume in volumes.values())
        mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
        assert "emptyDir" in volumes[mounts[config["WTF_DATA_DIR"]]], "scratch space of the pod's own"
        assert container["envFrom"] == [
            {"configMapRef": {"name": "wtf-portal-config"}},
            {"secretRef": {"name": "wtf-portal-secrets"}},
            {"secretRef": {"name": "wtf-portal-object-storage"}},
        ]


def test_k8s_overlay_changes_nothing_else(k8s_s3: list[dict]) -> None:
    require_program("kubectl", shutil.which("kubectl") is not None)
    base = {(doc["kind"], doc["metadata"]["name"]) for doc in kustomize_documents()}
    overlay = {(doc["kind"], doc["metadata"]["name"]) for doc in k8s_s3}
    assert base - overlay == {("PersistentVolumeClaim", "wtf-portal-data")}
    assert overlay - base == {("Secret", "wtf-portal-object-storage")}


# --- render.scale.yaml ---------------------------------------------------------------------------------

# What Render's blueprint spec (render.com/docs/blueprint-spec) allows where this file uses it.
SERVICE_FIELDS = {
    "web": {"type", "name", "runtime", "plan", "buildCommand", "startCommand", "healthCheckPath",
            "autoDeploy", "envVars", "numInstances", "region"},
    "worker": {"type", "name", "runtime", "plan", "buildCommand", "startCommand", "autoDeploy", "envVars",
               "numInstances", "region"},
    "keyvalue": {"type", "name", "plan", "maxmemoryPolicy", "ipAllowList", "region"},
}  # fmt: skip
ENV_SOURCES = {"value", "generateValue", "sync", "fromDatabase", "fromService"}
# RAM of Render's instance types, MB.
PLAN_MB = {"starter": 512, "standard": 2048, "pro": 4096, "pro plus": 8192}


@pytest.fixture(scope="module")
def blueprint() -> dict:
    return yaml.safe_load((REPO / "render.scale.yaml").read_text(encoding="utf-8"))


def _service(blueprint: dict, kind: str) -> dict:
    (service,) = [s for s in blueprint["services"] if s["type"] == kind]
    return service


def _env(blueprint: dict, service: dict) -> dict[str, dict]:
    """A service's variables with its groups' merged in, as Render sets them."""
    groups = {group["name"]: group["envVars"] for group in blueprint["envVarGroups"]}
    merged: dict[str, dict] = {}
    for item in service["envVars"]:
        entries = groups[item["fromGroup"]] if "fromGroup" in item else [item]
        for entry in entries:
            assert entry["key"] not in merged, f"{entry['key']} set twice for {service['name']}"
            merged[entry["key"]] = entry
    return merged


def test_render_scale_is_a_well_formed_blueprint(blueprint: dict) -> None:
    assert set(blueprint) == {"services", "databases", "envVarGroups"}
    names = [s["name"] for s in blueprint["services"]] + [d["name"] for d in blueprint["databases"]]
    assert len(names) == len(set(names))
    for service in blueprint["services"]:
        assert set(service) <= SERVICE_FIELDS[service["type"]], service["name"]
        assert "disk" not in service, "Render's disks cannot be shared: media is in object storage"
    for group in blueprint["envVarGroups"]:
        for entry in group["envVars"]:
            assert len(set(entry) & ENV_SOURCES) == 1 and set(entry) <= ENV_SOURCES | {"key"}, entry
    for service in blueprint["services"]:
        for entry in service.get("envVars", []):
            assert set(entry) == {"fromGroup"} or len(set(entry) & ENV_SOURCES) == 1, entry


def test_render_scale_runs_the_start_commands_with_shared_state(blueprint: dict) -> None:
    web, worker = _service(blueprint, "web"), _service(blueprint, "worker")
    assert web["startCommand"].split() == WEB_COMMAND and worker["startCommand"].split() == WORKER_COMMAND
    assert web["buildCommand"] == worker["buildCommand"] == "./render-build.sh"
    assert web["healthCheckPath"] == "/readyz"
    keyvalue, (database,) = _service(blueprint, "keyvalue"), blueprint["databases"]
    assert keyvalue["maxmemoryPolicy"] == "noeviction", "evicting a queue loses jobs"
    assert keyvalue["ipAllowList"] == [] and database["ipAllowList"] == [], "private network only"
    for service in (web, worker):
        env = _env(blueprint, service)
        assert env["WTF_DATABASE_URL"]["fromDatabase"] == {
            "name": database["name"],
            "property": "connectionString",
        }
        assert env["WTF_QUEUE_URL"]["fromService"] == {
            "type": "keyvalue", "name": keyvalue["name"], "property": "connectionString",
        }  # fmt: skip
        for name in ("WTF_STORAGE_URL", *BOTO3_VARIABLES):
            assert env[name] == {"key": name, "sync": False}, "asked for at set-up, never in git"
        python = env["PYTHON_VERSION"]["value"]
        assert f"python-{python}" == (REPO / "runtime.txt").read_text(encoding="utf-8").strip()
    web_env = _env(blueprint, web)
    assert web_env["WTF_EMBEDDED_WORKER"]["value"] == "0"
    assert web_env["WTF_PORTAL_KEY"] == {"key": "WTF_PORTAL_KEY", "sync": False}
    assert web_env["WTF_SECRET_KEY"] == {"key": "WTF_SECRET_KEY", "generateValue": True}


def test_render_scale_worker_has_memory_for_its_renders(blueprint: dict) -> None:
    worker = _service(blueprint, "worker")
    env = _env(blueprint, worker)
    budget = int(env["WTF_RENDER_MEMORY_MB"]["value"]) * int(env["WTF_WORKER_CONCURRENCY"]["value"])
    assert PLAN_MB[worker["plan"]] >= budget + WORKER_HEADROOM_MB
    assert worker["numInstances"] >= 2, "the point of this blueprint is more than one worker"
