"""Trim and follow as a user asks for them: the API (JSON and multipart) of the real service, v3's
process_brands, and `wtf-portal render`. The answers say what was cut and where the window went."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.runner import error_lines, wtf_portal
from tests.reframe.clips import face_clip
from tests.web.server import Server

QUICK_ENV = {"WTF_X264_PRESET": "ultrafast", "WTF_MAX_SHORT_SIDE": "360", "WTF_LOUDNESS_LUFS": "off"}


@pytest.fixture(scope="module")
def face(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return face_clip(tmp_path_factory.mktemp("clips") / "face.mp4", seconds=3.0).path


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("data"), env=QUICK_ENV).start()
    yield running
    running.stop()


def test_a_trimmed_follow_job_through_the_api(quick_server: Server, face: Path) -> None:
    payload = {
        "upload_id": quick_server.upload(face), "brands": ["watchthefall"], "preset": "vertical",
        "fit": "follow", "trim": {"start": 0.5, "end": 2.5}, "anchor": {"x": 0.4, "y": 0.5},
    }  # fmt: skip
    response = quick_server.call("POST", "/api/videos/process", json=payload)
    assert response.status_code == 202, response.text
    job = quick_server.wait(response.json()["job"]["id"])
    assert job["status"] == "completed", job["error"]
    assert job["fit"] == "follow"
    assert job["edits"] == {"trim": {"start": 0.5, "end": 2.5, "end_card": False}, "anchor": [0.4, 0.5],
                            "zoom": None, "follow_fallback": None}  # fmt: skip
    [output] = job["outputs"]
    assert (output["width"], output["height"]) == (360, 640)
    assert abs(output["duration"] - 2.0) <= 1 / 30
    done = output["edits"]
    assert done["trim"] == {"start": 0.5, "end": 2.5, "end_card": None}
    path = done["reframe"]["path"]
    assert done["reframe"]["used"] == "follow" and path["found"]
    assert path["keys"][0]["t"] == 0 and path["keys"][-1]["t"] == pytest.approx(2.0, abs=0.05)
    assert any(key["reason"].startswith("face") for key in path["keys"])


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"fit": "blur", "anchor": {"x": 0.2, "y": 0.5}}, "fit crop or follow"),
        ({"fit": "crop", "zoom": 9}, "zoom"),
        ({"trim": {"start": 2, "end": 1}}, "must come after its start"),
        ({"trim": {"start": 1, "end": 30}}, "past the end of the clip"),
        ({"anchor": {"x": 1.5, "y": 0.5}, "fit": "crop"}, "anchor.x"),
    ],
)
def test_bad_edits_are_refused_naming_the_problem(quick_server: Server, face: Path, change, words) -> None:
    payload = {
        "upload_id": quick_server.upload(face),
        "brands": ["watchthefall"],
        "preset": "vertical",
        **change,
    }
    response = quick_server.call("POST", "/api/videos/process", json=payload)
    assert response.status_code == 422, response.text
    assert words in response.json()["error"]["message"]


def test_multipart_takes_the_clis_forms(quick_server: Server, face: Path) -> None:
    with face.open("rb") as handle:
        response = quick_server.call(
            "POST", "/api/videos/process", files={"file": ("face.mp4", handle)},
            data={"brands": "watchthefall", "preset": "square", "fit": "crop", "trim": "1:",
                  "anchor": "0.8,0.5"},
        )  # fmt: skip
    assert response.status_code == 202, response.text
    job = quick_server.wait(response.json()["job"]["id"])
    assert job["status"] == "completed", job["error"]
    assert job["edits"]["anchor"] == [0.8, 0.5]
    assert abs(job["outputs"][0]["duration"] - 2.0) <= 1 / 30
    with face.open("rb") as handle:
        bad = quick_server.call("POST", "/api/videos/process", files={"file": ("face.mp4", handle)},
                                data={"brands": "watchthefall", "trim": "soon"})  # fmt: skip
    assert bad.status_code == 422 and "START:END" in bad.json()["error"]["message"]


def test_v3_process_brands_takes_start_and_end(quick_server: Server, face: Path) -> None:
    upload_id = quick_server.upload(face)
    asked = {"source_path": upload_id, "brands": ["WatchTheFall"], "start": 1, "end": 2}
    response = quick_server.call(
        "POST", "/api/videos/process_brands", headers={"Prefer": "respond-async"}, json=asked
    )
    assert response.status_code == 202, response.text
    job = quick_server.wait(response.json()["job"]["id"])
    assert job["status"] == "completed", job["error"]
    assert abs(job["outputs"][0]["duration"] - 1.0) <= 1 / 30
    bad = quick_server.call("POST", "/api/videos/process_brands", json={**asked, "start": 2, "end": 1})
    assert (
        bad.status_code == 400 and bad.json()["success"] is False and "after its start" in bad.json()["error"]
    )


def test_the_cli_trims_and_follows(face: Path, tmp_path: Path) -> None:
    result = wtf_portal("render", str(face), "--brand", "watchthefall", "--preset", "vertical",
                        "--fit", "follow", "--trim", "0.5:2", "--zoom", "1.2", "--out", str(tmp_path),
                        "--json", env=QUICK_ENV)  # fmt: skip
    assert result.returncode == 0, result.stderr
    [output] = json.loads(result.stdout)["outputs"]
    assert abs(output["duration"] - 1.5) <= 1 / 30
    assert output["edits"]["reframe"]["zoom"] == 1.2 and output["edits"]["reframe"]["path"]["found"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--trim", "two:three"), "START:END"),
        (("--anchor", "0.5"), "X,Y"),
        (("--anchor", "0.5,0.5"), "fit crop or follow"),  # the default fit is blur
        (("--trim", "9:"), "past the end of the clip"),
    ],
)
def test_the_cli_refuses_bad_edits_in_one_line(face: Path, tmp_path: Path, args, words) -> None:
    result = wtf_portal("render", str(face), "--brand", "watchthefall", "--out", str(tmp_path), *args)
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr
    assert len(error_lines(result.stderr)) == 1 or "Error: Invalid value" in result.stderr
    assert not list(tmp_path.glob("*.mp4"))
