"""Captions through the real service: an uploaded WebVTT named at submission is burned into the brand
with a captions layer, each output gets its sidecar (in the JOB object and the ZIP), the transcript is
stored on the library item, and an edit made once through the API shows in every later render: one output
rendered again, and "Brand again" in another format."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.captions.test_burn_in import VTT, _black_clip, _frame, _ocr
from tests.captions.test_recognize import SENTENCE, SHARE, found_share, spoken_clip
from tests.conftest import REPO
from tests.web.server import Server


@pytest.fixture(scope="module")
def captions_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("captions")
    config = json.loads((REPO / "brand_config.json").read_text())
    plain = config["brands"]["watchthefall"]
    plain["logo"]["path"] = str(REPO / plain["logo"]["path"])
    captioned = {"name": "Captioned", "safe_zone": "tiktok",
                 "layers": [{"captions": {"highlight": None, "size": 0.06}}]}  # fmt: skip
    path = folder / "brand_config.json"
    path.write_text(json.dumps({"version": 2, "brands": {"watchthefall": plain, "captioned": captioned}}))
    env = {"WTF_BRAND_CONFIG": str(path), "WTF_MAX_SHORT_SIDE": "360", "WTF_X264_PRESET": "superfast"}
    running = Server(folder / "data", env=env)
    running.data_dir.mkdir()
    yield running.start()
    running.stop()


def _upload_vtt(server: Server, text: str, name: str = "words.vtt"):
    return server.call("POST", "/api/uploads", files={"file": (name, io.BytesIO(text.encode()), "text/vtt")})


def test_an_uploaded_vtt_is_burned_in_listed_and_editable(captions_server: Server, tmp_path: Path) -> None:
    server = captions_server
    answer = _upload_vtt(server, VTT)
    assert answer.status_code == 201, answer.text
    captions = answer.json()["upload"]
    assert captions["media"] == {"kind": "subtitles", "cues": 2}

    clip = _black_clip(tmp_path / "clip.mp4", 360, 640)
    body = {"upload_id": server.upload(clip), "brands": ["captioned", "watchthefall"],
            "captions": captions["id"]}  # fmt: skip
    submitted = server.call("POST", "/api/videos/process", json=body)
    assert submitted.status_code == 202, submitted.text
    job = server.wait(submitted.json()["job"]["id"])
    assert job["status"] == "completed", job["error"]

    by_brand = {output["brand"]: output for output in job["outputs"]}
    for output in job["outputs"]:  # every output has its sidecar, burned in or not
        sidecar = server.call("GET", output["captions"]["url"])
        assert sidecar.status_code == 200 and "HELLO WORLD" in sidecar.text
    video = tmp_path / "captioned.mp4"
    video.write_bytes(server.call("GET", by_brand["captioned"]["url"]).content)
    assert "GOODBYE" in _ocr(_frame(video, 2.4, tmp_path / "a.png"), tmp_path)
    plain = tmp_path / "plain.mp4"
    plain.write_bytes(server.call("GET", by_brand["watchthefall"]["url"]).content)
    assert "GOODBYE" not in _ocr(_frame(plain, 2.4, tmp_path / "b.png"), tmp_path)

    archive = server.call("GET", f"/api/jobs/{job['id']}/archive")
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        names = set(bundle.namelist())
    for output in job["outputs"]:
        assert {output["filename"], output["captions"]["filename"]} <= names

    # the file's cues are stored on the library item, where an edit replaces them
    url = f"/api/sources/{job['source_id']}/transcript"
    transcript = server.call("GET", url).json()["transcript"]
    assert transcript["origin"] == "file" and [c["text"] for c in transcript["cues"]] == [
        "HELLO WORLD",
        "GOODBYE NOW",
    ]
    cues = transcript["cues"]
    cues[1] = {"start": 1.8, "end": 2.9, "text": "FAREWELL NOW"}
    assert server.call("PUT", url, json={"cues": cues}).status_code == 200

    # one output rendered again reads the item's transcript as it is now
    number = job["outputs"].index(by_brand["captioned"])
    again = server.call("POST", f"/api/jobs/{job['id']}/outputs/{number}/render", json={})
    assert again.status_code == 202, again.text
    job = server.wait(job["id"], until=lambda j: j["outputs"][number]["rerender"] is None)
    output = job["outputs"][number]
    assert output["version"] == 2 and output["captions"]["filename"].endswith("_v2.vtt")
    assert "FAREWELL NOW" in server.call("GET", output["captions"]["url"]).text
    video.write_bytes(server.call("GET", output["url"]).content)
    assert "FAREWELL" in _ocr(_frame(video, 2.4, tmp_path / "c.png"), tmp_path)

    # and so does the same clip branded again from the library, in another format, with no captions asked
    body = {"source_id": job["source_id"], "brands": ["captioned"], "formats": [{"preset": "square"}]}
    branded = server.call("POST", "/api/videos/process", json=body)
    assert branded.status_code == 202, branded.text
    square = server.wait(branded.json()["job"]["id"])
    assert square["status"] == "completed", square["error"]
    video.write_bytes(server.call("GET", square["outputs"][0]["url"]).content)
    assert "FAREWELL" in _ocr(_frame(video, 2.4, tmp_path / "d.png"), tmp_path)
    assert server.call("GET", url).json()["transcript"]["origin"] == "edit"  # the edit was kept


def test_bad_captions_are_refused_by_name(captions_server: Server, tmp_path: Path) -> None:
    server = captions_server
    broken = _upload_vtt(server, "WEBVTT\n\n00:02.000 --> 00:01.000\nbackwards\n", "broken.vtt")
    assert broken.status_code == 201  # readable; checked against a clip once it has one
    late = _upload_vtt(server, "WEBVTT\n\nnot a time --> 00:01.000\nx\n", "late.vtt")
    assert late.status_code == 422
    assert late.json()["error"]["message"].startswith("late.vtt: cue 1: cannot read the timing line")

    clip = _black_clip(tmp_path / "clip.mp4", 360, 640, seconds=1)
    video = server.upload(clip)
    as_source = server.call("POST", "/api/videos/process", json={"upload_id": broken.json()["upload"]["id"],
                                                                 "brands": ["captioned"]})  # fmt: skip
    assert as_source.status_code == 422 and as_source.json()["error"]["code"] == "not_a_video"
    video_as_captions = server.call(
        "POST", "/api/videos/process", json={"upload_id": video, "brands": ["captioned"], "captions": video}
    )
    assert video_as_captions.status_code == 422
    assert video_as_captions.json()["error"]["code"] == "invalid_captions"

    body = {"upload_id": video, "brands": ["captioned"], "captions": broken.json()["upload"]["id"]}
    job = server.wait(server.call("POST", "/api/videos/process", json=body).json()["job"]["id"])
    assert job["status"] == "failed"
    assert job["error"]["code"] == "invalid_transcript"
    assert "cue 1 (00:00:02.000 --> 00:00:01.000): must end after it starts" in job["error"]["message"]


def test_auto_captions_recognize_the_speech_in_the_worker(captions_server: Server, tmp_path: Path) -> None:
    server = captions_server
    body = {"upload_id": server.upload(spoken_clip(tmp_path)), "brands": ["captioned"], "captions": "auto"}
    submitted = server.call("POST", "/api/videos/process", json=body)
    assert submitted.status_code == 202, submitted.text
    job = server.wait(submitted.json()["job"]["id"])
    assert job["status"] == "completed", job["error"]
    transcript = server.call("GET", f"/api/sources/{job['source_id']}/transcript").json()["transcript"]
    assert transcript["origin"] == "recognition"
    heard = [word["text"] for cue in transcript["cues"] for word in cue["words"]]
    assert found_share(heard, SENTENCE.split()) >= SHARE, heard
    sidecar = server.call("GET", job["outputs"][0]["captions"]["url"]).text
    assert transcript["cues"][0]["text"] in sidecar
