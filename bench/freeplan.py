"""Render's free plan (issue 13): the Procfile's web command with render.free.yaml's settings inside a
512 MiB memory cgroup, branding a 10 s 1080x1920 30 fps clip for three brands; the PSS of the whole process
tree sampled every 100 ms, the outputs read back (DESIGN 4.4).

Two CPU shares: one CPU (the cgroup's CFS quota), and the free plan's 0.1 CPU with a 2 s clip instead (10 s
would take most of an hour there). Needs cgroup v1 (memory and cpu controllers, as root); the cgroups are
made under this process's own, so every limit above still applies.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import yaml

from bench.report import write_section
from portal.jobs.footprint import pss_mib, tree
from tests.conftest import REPO
from tests.engine.inspect_output import assert_ready_to_post
from tests.mediagen import make_clip
from tests.web.server import Server

MEMORY_MIB = 512
SAMPLE_EVERY_S = 0.1
BRANDS = ["watchthefall", "fallclips", "dailyfails"]
CFS_PERIOD_US = 100_000
CASES = (("1 CPU", 1.0, 10.0), ("0.1 CPU", 0.1, 2.0))  # (name, CPUs, clip seconds)


def _v1_folder(controller: str) -> Path:
    """This process's own cgroup (v1) of a controller, where the bench's cgroups are made."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path(f"/sys/fs/cgroup/{controller}{path}")
    raise RuntimeError(f"no cgroup v1 {controller} controller here")


class Cgroups:
    """A memory cgroup (limit, no swap beyond it) and a cpu cgroup (CFS quota) for one run."""

    def __init__(self, name: str, memory_mib: int, cpus: float) -> None:
        self.memory = _v1_folder("memory") / name
        self.cpu = _v1_folder("cpu") / name
        for folder in (self.memory, self.cpu):
            folder.mkdir()
        limit = str(memory_mib * 1_048_576)
        (self.memory / "memory.limit_in_bytes").write_text(limit)
        with contextlib.suppress(OSError):  # swap accounting may be off: then there is no swap to limit
            (self.memory / "memory.memsw.limit_in_bytes").write_text(limit)
        self.set_cpus(cpus)

    def set_cpus(self, cpus: float) -> None:
        (self.cpu / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
        (self.cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * CFS_PERIOD_US)))

    def wrap(self, command: list[str]) -> list[str]:
        """The command, started inside both cgroups (a shell joins them, then execs it)."""
        join = f'echo $$ > {self.memory}/cgroup.procs && echo $$ > {self.cpu}/cgroup.procs && exec "$@"'
        return ["sh", "-c", join, "sh", *command]

    def oom_kills(self) -> int:
        found = re.search(r"oom_kill (\d+)", (self.memory / "memory.oom_control").read_text())
        return int(found[1]) if found else 0

    def max_usage_mib(self) -> float:
        return int((self.memory / "memory.max_usage_in_bytes").read_text()) / 1_048_576

    def remove(self) -> None:
        for folder in (self.memory, self.cpu):
            with contextlib.suppress(OSError):
                folder.rmdir()


def free_blueprint_env() -> dict[str, str]:
    """render.free.yaml's settings with values (the secrets come from the bench)."""
    blueprint = yaml.safe_load((REPO / "render.free.yaml").read_text(encoding="utf-8"))
    (web,) = blueprint["services"]
    return {item["key"]: str(item["value"]) for item in web["envVars"] if "value" in item}


def _role(process: psutil.Process) -> str:
    """What a process of the tree is (the tree's root, gunicorn's master, is named by the caller)."""
    with contextlib.suppress(psutil.Error):
        line = " ".join(process.cmdline())
        for needle, role in (
            ("ffmpeg", "FFmpeg"),
            ("portal worker", "consumer"),
            ("gunicorn", "gunicorn worker"),
        ):
            if needle in line:
                return role
        return "other"
    return "gone"


@dataclass
class Peak:
    total: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)
    samples: int = 0

    def sample(self, root: psutil.Process) -> None:
        parts: dict[str, float] = {}
        for process in tree(root):
            role = "gunicorn master" if process.pid == root.pid else _role(process)
            parts[role] = parts.get(role, 0.0) + pss_mib(process)
        self.samples += 1
        if sum(parts.values()) > self.total:
            self.total, self.parts = sum(parts.values()), parts


def _sampler(root: psutil.Process, peak: Peak, stop: threading.Event) -> None:
    while not stop.wait(SAMPLE_EVERY_S):
        peak.sample(root)


def _footprint_logged(data: Path) -> str:
    found = re.search(r"Python processes hold (\d+) MiB", (data / "server.log").read_text())
    return f"{found[1]} MiB" if found else "not logged"


def _run_case(work: Path, name: str, cpus: float, seconds: float) -> list[str]:
    clip = make_clip(work / f"clip-{seconds:g}s.mp4", width=1080, height=1920, duration=seconds)
    data = work / "data"
    data.mkdir()
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    cgroups = Cgroups(f"wtf-freeplan-{os.getpid()}-{cpus:g}", MEMORY_MIB, cpus=1.0)
    # start-up at one CPU (at 0.1 the imports alone outlast the bench's 30 s start wait); then the quota
    command = cgroups.wrap([gunicorn, "-c", "portal/gunicorn.conf.py", "portal.app:app"])
    env = {**free_blueprint_env(), "WTF_BIND_HOST": "127.0.0.1"}
    server = Server(data, env=env, command=command).start()
    peak, stop = Peak(), threading.Event()
    try:
        time.sleep(5)  # the consumer is up and has measured the service
        root = psutil.Process(server.process.pid)
        idle = Peak()
        idle.sample(root)
        cgroups.set_cpus(cpus)
        sampler = threading.Thread(target=_sampler, args=(root, peak, stop), daemon=True)
        sampler.start()
        started = time.monotonic()
        job = server.process_upload(clip, BRANDS)
        job = server.wait(job["id"], timeout=3600)
        wall = time.monotonic() - started
        stop.set()
        sampler.join()
        conforming = 0
        for output in job["outputs"]:
            with contextlib.suppress(AssertionError):
                assert_ready_to_post(data / "outputs" / output["filename"], (1080, 1920), seconds, 30, True)
                conforming += 1
        parts = ", ".join(f"{role} {mib:.0f}" for role, mib in sorted(peak.parts.items()))
        error = f" ({job['error']['code']})" if job.get("error") else ""
        return [
            name, f"{seconds:g} s", f"{job['status']}{error}", f"{wall:.0f} s",
            f"{conforming} of {len(BRANDS)}", f"{idle.total:.0f} MiB", _footprint_logged(data),
            f"{peak.total:.0f} MiB ({parts})", f"{cgroups.max_usage_mib():.0f} MiB", str(cgroups.oom_kills()),
        ]  # fmt: skip
    finally:
        stop.set()
        server.kill9()
        time.sleep(0.5)
        cgroups.remove()


# The layouts measured idle, side by side: (a change to the real config, extra environment).
LAYOUTS = {
    "before: master imports the app, consumer process": (
        "post_worker_init = lambda worker: None\nimport portal.app\n",
        {},
    ),
    "default now: lean master (settings only), consumer process": ("", {}),
    "free blueprint: lean master, consumer inside the one worker": ("", {"WTF_EMBEDDED_IN_WEB_WORKER": "1"}),
}


def _idle_layout(work: Path, change: str, env: dict[str, str]) -> str:
    conf = work / "gunicorn.conf.py"
    conf.write_text(f"exec(open({str(REPO / 'portal' / 'gunicorn.conf.py')!r}).read())\n{change}")
    data = work / "data"
    data.mkdir()
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    server = Server(data, env=env, command=[gunicorn, "-c", str(conf), "portal.app:app"]).start()
    try:
        time.sleep(10)  # the consumer is up (it measures the service at start)
        server.call("GET", "/api/jobs")  # the web worker has served a request
        idle = Peak()
        idle.sample(psutil.Process(server.process.pid))
    finally:
        server.kill9()
    parts = " + ".join(f"{role} {mib:.0f}" for role, mib in idle.parts.items())
    return f"{idle.total:.0f} MiB ({parts})"


def run(rounds: int = 1) -> None:
    layouts = []
    with tempfile.TemporaryDirectory(prefix="wtf-bench-layouts-") as tmp:
        for number, (name, (change, env)) in enumerate(LAYOUTS.items()):
            work = Path(tmp) / str(number)
            work.mkdir()
            layouts.append(f"| {name} | {_idle_layout(work, change, env)} |")
    rows = []
    with tempfile.TemporaryDirectory(prefix="wtf-bench-freeplan-") as tmp:
        for name, cpus, seconds in CASES:
            work = Path(tmp) / name.replace(" ", "-")
            work.mkdir()
            rows.append("| " + " | ".join(_run_case(work, name, cpus, seconds)) + " |")
    settings = free_blueprint_env()
    write_section("freeplan", "\n".join([
        "## Free plan: the whole service in 512 MiB",
        "",
        "Command: `make bench BENCH_ARGS=freeplan` (as root: cgroup v1 memory and cpu controllers). The",
        "Procfile's web command (`gunicorn -c portal/gunicorn.conf.py portal.app:app`: master, one gunicorn",
        "worker, the embedded consumer) with render.free.yaml's settings",
        f"(`WTF_RENDER_MEMORY_MB={settings['WTF_RENDER_MEMORY_MB']}`, `WTF_EMBEDDED_IN_WEB_WORKER="
        f"{settings['WTF_EMBEDDED_IN_WEB_WORKER']}`) in a {MEMORY_MIB} MiB memory cgroup (no swap beyond",
        "it), CFS quota as listed (start-up at one CPU, the job under the quota). One job: a 1080x1920",
        "30 fps clip with audio, three brands, `source` preset. PSS of every process of the tree summed",
        "every 100 ms; outputs read back against DESIGN 4.4 (H.264 High yuv420p BT.709, size, rate,",
        "duration, fast-start, AAC). At 0.1 CPU a 2 s clip (the 10 s one would take about five times as",
        "long); the time there is the job's, from submission to completion.",
        "",
        "| CPU | clip | job | time | outputs conforming | idle tree PSS | footprint the consumer measured "
        "| peak tree PSS (by process, MiB) | cgroup peak (incl. page cache) | OOM kills |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        "### Process layout: PSS of the idle tree (the same web command, one thing changed at a time)",
        "",
        "| layout | PSS of the tree, idle (MiB by process) |",
        "| --- | --- |",
        *layouts,
    ]))  # fmt: skip
