"""Readers for the deployment files, shared by the consistency tests."""

from __future__ import annotations

import json
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
