"""Hostile sources: a few KB that declare millions of samples, ten hours, a huge picture or other files.

Each is refused with the limit it broke, with the memory of the whole process tree bounded (measured:
the probing process and its largest child), never retried, and while the web keeps answering.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from portal.media.errors import SourceLimitError, SourceTooLongError, UnsupportedContainerError
from portal.media.options import SourceLimits
from portal.media.probe import probe_media
from tests.conftest import REPO
from tests.hostile.conftest import TreeMemory, healthz_watch
from tests.mediagen import _find_boxes, make_clip, make_long_clip, make_sample_bomb
from tests.web.server import Server

MB = 1024 * 1024
# What reading one hostile file may add to the service (the issue: "a few hundred MB" at most).
MEMORY_BOUND_MB = 300
CLAIMED_SAMPLES = 40_000_000  # about 1 GB of demuxer index if it were believed


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The hostile files, generated: each a few KB."""
    root = tmp_path_factory.mktemp("hostile")
    secret = root / "secret.ts"  # a file of this machine that a playlist would read
    make_clip(secret, width=64, height=64, duration=0.2, audio=False)
    playlist = root / "list.m3u8"
    playlist.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{secret}\n#EXT-X-ENDLIST\n")
    concat = root / "concat.mp4"  # named as a video; its contents are a concat list
    concat.write_text(f"ffconcat version 1.0\nfile '{secret}'\n")
    wide = root / "wide.mkv"
    make_clip(wide, width=8200, height=16, duration=0.04, fps=25, audio=False)
    return {
        "bomb": make_sample_bomb(root / "bomb.mp4", CLAIMED_SAMPLES),
        "long": make_long_clip(root / "long.mkv", hours=10),
        "playlist": playlist,
        "concat": concat,
        "wide": wide,
    }


def probe_in_fresh_process(path: Path, limits: SourceLimits) -> dict:
    """probe_media in a new Python; its error code and message, and the peak memory of it and its largest
    child (its VmHWM and RUSAGE_CHILDREN's ru_maxrss): the process tree's peak, measured by the kernel."""
    script = f"""
import json, resource
from portal.media.errors import SourceError
from portal.media.options import SourceLimits
from portal.media.probe import probe_media
try:
    probe_media({str(path)!r}, SourceLimits(**{json.dumps(limits.__dict__)}))
    outcome = {{"code": None, "message": ""}}
except SourceError as exc:
    outcome = {{"code": exc.code, "message": str(exc)}}
# this process's own high-water mark (ru_maxrss would count the process it was forked from before exec),
# and the largest child's (forked from this small one)
own = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
outcome["self_mb"], outcome["child_mb"] = own, child
print(json.dumps(outcome))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_bomb_is_small_and_claims_tens_of_millions_of_samples(hostile: dict[str, Path]) -> None:
    data = hostile["bomb"].read_bytes()
    (stsz,) = _find_boxes(data, "stsz")
    assert len(data) < 10_000
    assert int.from_bytes(data[stsz + 8 : stsz + 12], "big") == CLAIMED_SAMPLES


def test_sample_table_bomb_refused_naming_the_limit_with_memory_bounded(hostile: dict[str, Path]) -> None:
    outcome = probe_in_fresh_process(hostile["bomb"], SourceLimits())
    assert outcome["code"] == SourceLimitError.code
    assert f"declares {CLAIMED_SAMPLES} frames" in outcome["message"]
    assert "WTF_MAX_DURATION_S" in outcome["message"]
    assert outcome["self_mb"] + outcome["child_mb"] < MEMORY_BOUND_MB, outcome


def test_memory_limit_holds_when_the_counts_pass(hostile: dict[str, Path]) -> None:
    """A duration limit so loose that the count check lets the bomb through: the child's address-space
    limit still keeps the demuxer from building its index, and the file is refused."""
    limits = SourceLimits(max_duration_s=10_000_000, memory_mb=256)
    outcome = probe_in_fresh_process(hostile["bomb"], limits)
    assert outcome["code"] is not None  # refused (no frame can be read without the index)
    assert outcome["child_mb"] < limits.memory_mb
    assert outcome["self_mb"] + outcome["child_mb"] < MEMORY_BOUND_MB, outcome


def test_ten_hour_file_is_refused_by_the_duration_limit(hostile: dict[str, Path]) -> None:
    with pytest.raises(
        SourceTooLongError, match=r"lasts 36000 s, over the limit of 600 s \(WTF_MAX_DURATION_S\)"
    ):
        probe_media(hostile["long"])
    assert probe_media(hostile["long"], SourceLimits(max_duration_s=40_000)).duration > 35_999


@pytest.mark.parametrize("name", ["playlist", "concat"])
def test_files_that_open_other_files_are_refused(hostile: dict[str, Path], name: str) -> None:
    with pytest.raises(UnsupportedContainerError, match="not a self-contained video file"):
        probe_media(hostile[name])


def test_declared_picture_size_is_limited(hostile: dict[str, Path]) -> None:
    with pytest.raises(SourceLimitError, match="declares a 8200x16 picture, over the limit of 8192 px"):
        probe_media(hostile["wide"])


# --- the service: uploads and links -------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    """The real service (gunicorn, gevent, embedded worker), private addresses allowed for the loopback
    link, and the files served on a loopback HTTP server."""
    running = Server(tmp_path_factory.mktemp("data"), env={"WTF_ALLOW_PRIVATE_URLS": "1"}).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def file_server(hostile: dict[str, Path]):
    folder = hostile["bomb"].parent

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


EXPECTED_UPLOAD_REFUSALS = {
    "bomb": (413, "over_limit", f"bomb.mp4: its video track declares {CLAIMED_SAMPLES} frames"),
    "long": (413, "too_long", "long.mkv: the video lasts 36000 s, over the limit of 600 s"),
    "playlist": (415, "unsupported_container", "list.m3u8: is not a self-contained video file"),
    "concat": (415, "unsupported_container", "concat.mp4: is not a self-contained video file"),
    "wide": (413, "over_limit", "wide.mkv: declares a 8200x16 picture"),
}


def test_uploads_refused_with_4xx_while_the_web_answers_and_memory_stays_bounded(
    service: Server, hostile: dict[str, Path]
) -> None:
    with TreeMemory(service.process.pid) as memory, healthz_watch(service.url) as health:
        answers = {}
        for name, path in hostile.items():
            with path.open("rb") as handle:
                response = service.call("POST", "/api/uploads", files={"file": (path.name, handle)})
            answers[name] = (
                response.status_code,
                response.json()["error"]["code"],
                response.json()["error"]["message"],
            )
    for name, (status, code, start) in EXPECTED_UPLOAD_REFUSALS.items():
        assert answers[name][:2] == (status, code), answers[name]
        assert answers[name][2].startswith(start), answers[name]
    assert health.answered > 0 and health.failures == [], health.failures
    assert memory.growth_mb < MEMORY_BOUND_MB, memory.report()


def test_a_linked_bomb_fails_its_job_once_naming_the_limit(service: Server, file_server: str) -> None:
    with TreeMemory(service.process.pid) as memory:
        response = service.call(
            "POST", "/api/videos/process", json={"url": f"{file_server}/bomb.mp4", "brands": "all"}
        )
        assert response.status_code == 202, response.text
        job = service.wait(response.json()["job"]["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "over_limit"
    assert f"declares {CLAIMED_SAMPLES} frames" in job["error"]["message"]
    assert job["attempts"] == 1  # refused for its size: never retried
    assert memory.growth_mb < MEMORY_BOUND_MB, memory.report()
