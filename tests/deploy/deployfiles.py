"""Readers for the deployment files, shared by the consistency tests."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from portal.config import Settings, _variable_name
from tests.conftest import REPO

WEB_COMMAND = ["gunicorn", "-c", "portal/gunicorn.conf.py", "portal.app:app"]
WORKER_COMMAND = ["wtf-portal", "worker"]
KNOWN_VARIABLES = frozenset(_variable_name(name) for name in Settings.model_fields) | {
    "WTF_FFMPEG_PATH",
    "WTF_PORT",
}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def exec_form(self) -> list[str]:
        """The JSON array of CMD/ENTRYPOINT/VOLUME, or the shell form split like /bin/sh would."""
        text = self.arguments.strip()
        return json.loads(text) if text.startswith("[") else shlex.split(text)


def dockerfile_instructions(path: Path = REPO / "Dockerfile") -> list[Instruction]:
    """Instructions in order, continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def last_stage(instructions: list[Instruction]) -> list[Instruction]:
    starts = [i for i, ins in enumerate(instructions) if ins.keyword == "FROM"]
    return instructions[starts[-1] :]


def load_yaml_documents(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def kustomize_documents() -> list[dict]:
    """The manifests as `kubectl apply -k deploy/k8s` would send them."""
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(REPO / "deploy" / "k8s")], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def k8s_object(documents: list[dict], kind: str, name: str) -> dict:
    for doc in documents:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(f"no {kind} {name} in deploy/k8s")


def systemd_unit(name: str) -> dict[str, dict[str, str]]:
    """Sections of a unit file; a key given several times (Environment=) has its values joined by spaces."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for raw in (REPO / "deploy" / "systemd" / name).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current[key] = f"{current[key]} {value}" if key in current else value
    return sections


def env_file_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            names.add(line.partition("=")[0])
    return names


def mentioned_variables(text: str) -> set[str]:
    return set(re.findall(r"\bWTF_[A-Z0-9_]+\b", text))


def megabytes(size: str) -> int:
    """nginx sizes: 510m, 1g, 524288k."""
    match = re.fullmatch(r"(\d+)([kKmMgG]?)", size.strip())
    assert match, f"not an nginx size: {size}"
    number, unit = int(match[1]), match[2].lower()
    return {"k": number // 1024, "m": number, "g": number * 1024, "": number // 1_048_576}[unit]


def duration_seconds(value: str) -> int:
    """systemd and compose durations: 2100, 2100s, 35m, 1h."""
    match = re.fullmatch(r"(\d+)\s*(s|sec|m|min|h)?", value.strip())
    assert match, f"not a duration: {value}"
    return int(match[1]) * {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[match[2]]


def memory_mib(value: str) -> int:
    """Kubernetes quantities (2048Mi, 2Gi) and systemd sizes (2048M, 2G)."""
    match = re.fullmatch(r"(\d+)(Mi|Gi|M|G)", value.strip())
    assert match, f"not a memory size: {value}"
    return int(match[1]) * (1024 if match[2] in ("Gi", "G") else 1)


NGINX_SITE = REPO / "deploy" / "nginx" / "wtf-portal.conf"


def nginx_test_config(
    folder: Path, *, http_port: int = 80, https_port: int = 443, upstream_port: int = 8000
) -> Path:
    """The shipped site inside a minimal nginx.conf, with a fresh self-signed certificate and given ports."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    site = NGINX_SITE.read_text(encoding="utf-8")
    replacements = {
        "/etc/letsencrypt/live/portal.example.com/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/portal.example.com/privkey.pem": str(key),
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
    }
    for old, new in replacements.items():
        assert old in site, f"the nginx site no longer has {old!r}"
        site = site.replace(old, new)
    site = "\n".join(line for line in site.splitlines() if "listen [::]" not in line)
    (folder / "site.conf").write_text(site, encoding="utf-8")
    config = folder / "nginx.conf"
    temp = " ".join(
        f"{kind}_temp_path {folder}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config.write_text(
        # As root, nginx's workers would drop to `nobody`, who cannot enter pytest's private tmp folders.
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"pid {folder}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{ access_log off; {temp} include {folder}/site.conf; }}\n",
        encoding="utf-8",
    )
    return config
