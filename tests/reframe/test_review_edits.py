"""Fixing one output's framing and cut in review (DESIGN 4.12), through the real service: a job cut to
1.5 s and cropped at the left of a half-red, half-blue landscape clip; its output rendered again alone
keeps the job's cut, moves its window where the review put it (read back off the new file's frames), the
engine's still shows the same window, a trim override cuts only that output, and the other output's file
does not change."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
import requests
from PIL import Image

from tests.mediagen import ffmpeg
from tests.reframe.test_api_cli import QUICK_ENV
from tests.web.server import Server

RED, BLUE = (255, 0, 0), (0, 0, 255)


@pytest.fixture(scope="module")
def halves(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s, 640x360: the left half red, the right half blue."""
    path = tmp_path_factory.mktemp("clips") / "halves.mp4"
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=red:s=320x360:d=3:r=25",
        "-f", "lavfi", "-i", "color=c=blue:s=320x360:d=3:r=25",
        "-filter_complex", "[0:v][1:v]hstack", "-pix_fmt", "yuv420p", "-c:v", "libx264", str(path),
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("data"), env=QUICK_ENV).start()
    yield running
    running.stop()


def mean_colour(picture: np.ndarray) -> tuple[int, int, int]:
    """The mean colour of the picture's middle (away from the brand's corner logo and bottom handle)."""
    height, width, _ = picture.shape
    middle = picture[height // 3 : height // 2, width // 4 : 3 * width // 4]
    return tuple(int(v) for v in middle.reshape(-1, 3).mean(axis=0))


def nearest(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    return min((RED, BLUE), key=lambda c: sum((a - b) ** 2 for a, b in zip(c, colour, strict=True)))


def fetched(server: Server, url: str, path: Path) -> Path:
    path.write_bytes(requests.get(server.url + url, timeout=30).content)
    return path


def first_frame_and_duration(path: Path) -> tuple[np.ndarray, float]:
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
        return frame, container.duration / av.time_base


def rendered_again(server: Server, job_id: str, number: int, overrides: dict) -> dict:
    answer = server.call("POST", f"/api/jobs/{job_id}/outputs/{number}/render", json=overrides)
    assert answer.status_code == 202, answer.text
    for _ in range(600):
        job = server.call("GET", f"/api/jobs/{job_id}").json()["job"]
        output = job["outputs"][number]
        if output["rerender"] is None or output["rerender"]["status"] == "failed":
            break
        time.sleep(0.2)
    assert output["rerender"] is None, output["rerender"]
    return output


def test_one_output_reframed_and_cut_again_alone(server: Server, halves: Path, tmp_path: Path) -> None:
    payload = {
        "upload_id": server.upload(halves), "brands": ["watchthefall", "fallclips"], "preset": "vertical",
        "fit": "crop", "trim": {"start": 1.0, "end": 2.5}, "anchor": {"x": 0.0, "y": 0.5},
    }  # fmt: skip
    answer = server.call("POST", "/api/videos/process", json=payload)
    assert answer.status_code == 202, answer.text
    job = server.wait(answer.json()["job"]["id"])
    assert job["status"] == "completed", job["error"]
    job_id = job["id"]
    frame, duration = first_frame_and_duration(fetched(server, job["outputs"][0]["url"], tmp_path / "v1.mp4"))
    assert nearest(mean_colour(frame)) == RED and duration == pytest.approx(1.5, abs=0.1)
    other = hashlib.sha256(fetched(server, job["outputs"][1]["url"], tmp_path / "other.mp4").read_bytes())

    # the engine's still with the window moved to the right shows blue, as the render will
    still = server.call("POST", f"/api/jobs/{job_id}/outputs/0/still", json={"anchor": {"x": 1.0, "y": 0.5}})
    assert still.status_code == 200, still.text
    jpeg = base64.b64decode(still.json()["still"].split(",", 1)[1])
    (tmp_path / "still.jpg").write_bytes(jpeg)
    assert nearest(mean_colour(np.asarray(Image.open(tmp_path / "still.jpg").convert("RGB")))) == BLUE

    output = rendered_again(server, job_id, 0, {"anchor": {"x": 1.0, "y": 0.5}})
    assert output["version"] == 2 and output["versions"][1]["overrides"]["anchor"] == {"x": 1.0, "y": 0.5}
    frame, duration = first_frame_and_duration(fetched(server, output["url"], tmp_path / "v2.mp4"))
    assert nearest(mean_colour(frame)) == BLUE  # the window where the review put it
    assert duration == pytest.approx(1.5, abs=0.1)  # the job's cut kept

    output = rendered_again(server, job_id, 0, {"trim": {"start": 0.0, "end": 1.0}})
    frame, duration = first_frame_and_duration(fetched(server, output["url"], tmp_path / "v3.mp4"))
    assert duration == pytest.approx(1.0, abs=0.1) and nearest(mean_colour(frame)) == RED  # the job's window

    bad = server.call("POST", f"/api/jobs/{job_id}/outputs/0/render", json={"zoom": 0.5})
    assert bad.status_code == 422 and "zoom" in bad.json()["error"]["message"]
    job = server.call("GET", f"/api/jobs/{job_id}").json()["job"]
    unchanged = fetched(server, job["outputs"][1]["url"], tmp_path / "other-after.mp4").read_bytes()
    assert hashlib.sha256(unchanged).digest() == other.digest()
