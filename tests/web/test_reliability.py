"""Cancel, crash recovery and the Procfile's web command, each against the real service."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import psutil

from tests.conftest import REPO
from tests.web.server import Server

SLOW = {"WTF_X264_PRESET": "slow"}  # a 20 s clip then takes long enough to interrupt


def running_ffmpeg(folder: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if "ffmpeg" in (process.info["name"] or "") and str(folder) in cmdline:
            found.append(process)
    return found


def rendering(job: dict) -> bool:
    return job["status"] == "rendering" and job["stage"] == "rendering" and job["progress"] > 0


def test_cancel_during_render_leaves_no_output_and_no_ffmpeg(tmp_path: Path, long_clip: Path) -> None:
    server = Server(tmp_path, env=SLOW).start()
    try:
        job = server.process_upload(long_clip, ["watchthefall", "fallclips"])
        running = server.wait(job["id"], until=rendering)  # stage and progress visible while it runs
        assert 0 < running["progress"] < 100
        assert server.call("POST", f"/api/jobs/{job['id']}/cancel").status_code == 202
        assert server.wait(job["id"])["status"] == "cancelled"
        outputs = tmp_path / "outputs"
        assert list(outputs.iterdir()) == []
        assert running_ffmpeg(outputs) == []
        assert server.call("POST", f"/api/jobs/{job['id']}/cancel").status_code == 409
        retried = server.call("POST", f"/api/jobs/{job['id']}/retry")
        assert retried.status_code == 202 and retried.json()["job"]["status"] == "queued"
        server.call("POST", f"/api/jobs/{job['id']}/cancel")
    finally:
        server.stop()


def test_kill_9_mid_render_then_restart_completes_the_job(tmp_path: Path, long_clip: Path) -> None:
    server = Server(tmp_path, env=SLOW).start()
    job = server.process_upload(long_clip, ["watchthefall"], preset="source")
    server.wait(job["id"], until=rendering)
    server.kill9()
    # FFmpeg gets SIGKILL from the kernel when its worker dies (PR_SET_PDEATHSIG); give it time to go
    _gone, alive = psutil.wait_procs(running_ffmpeg(tmp_path / "outputs"), timeout=10)
    assert alive == []

    # The lease timeout: past the heartbeat a healthy run writes every 5 s (tasks.HEARTBEAT_SECONDS) even
    # while its progress stands still, so only the killed run's job is requeued, never the rerun itself.
    restarted = Server(tmp_path, env={"WTF_HEARTBEAT_STALE_S": "10", "WTF_X264_PRESET": "ultrafast"}).start()
    try:
        done = restarted.wait(job["id"], timeout=120)
        assert done["status"] == "completed", done
        assert done["attempts"] == 2 and len(done["outputs"]) == 1
        assert not list((tmp_path / "outputs").glob(".*.part"))
    finally:
        restarted.stop()


def test_procfile_web_command_as_render_runs_it_completes_a_job(tmp_path: Path, clip: Path) -> None:
    web = (REPO / "Procfile").read_text().splitlines()[0].split(":", 1)[1].split()
    gunicorn = shutil.which(web[0], path=str(Path(sys.executable).parent))
    server = Server(tmp_path, command=[gunicorn, *web[1:]]).start()  # PORT set by Server, as Render does
    try:
        job = server.process_upload(clip, ["dailyfails"])
        assert server.wait(job["id"])["status"] == "completed"
    finally:
        server.stop()
