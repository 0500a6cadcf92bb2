"""GET/PUT /api/sources/<id>/transcript through the real app: stored once per library item, edited,
checked with a 422 naming the cue; the library item says it has one."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.apptools import make_app
from tests.captions.test_transcript import SRT
from tests.mediagen import make_clip
from tests.web.conftest import AUTH


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s clip: long enough for two cues."""
    return make_clip(tmp_path_factory.mktemp("clips") / "clip3.mp4", width=180, height=320, duration=3)


def _library_item(client: FlaskClient, clip: Path) -> str:
    with clip.open("rb") as handle:
        answer = client.post(
            "/api/uploads",
            data={"file": (handle, "clip.mp4")},
            headers=AUTH,
            content_type="multipart/form-data",
        )
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()["upload"]["source_id"]


def test_a_transcript_is_put_read_and_edited(client: FlaskClient, long_clip: Path) -> None:
    source_id = _library_item(client, long_clip)
    url = f"/api/sources/{source_id}/transcript"
    missing = client.get(url, headers=AUTH)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "transcript_not_found"

    put = client.put(url, json={"subtitles": SRT}, headers=AUTH)
    assert put.status_code == 200, put.get_json()
    transcript = client.get(url, headers=AUTH).get_json()["transcript"]
    assert transcript["origin"] == "file" and transcript["source_id"] == source_id
    assert transcript["duration"] == pytest.approx(3.0, abs=0.1)
    assert [cue["text"] for cue in transcript["cues"]] == ["Hello there", "General Kenobi"]

    cues = transcript["cues"]
    cues[1] = {"start": 1.3, "end": 2.9, "text": "General Grievous"}  # an edit: words spread again
    edited = client.put(url, json={"cues": cues}, headers=AUTH).get_json()["transcript"]
    assert edited["origin"] == "edit" and edited["cues"][1]["words"][1]["text"] == "Grievous"
    assert client.get(url, headers=AUTH).get_json()["transcript"] == edited
    item = client.get(f"/api/sources/{source_id}", headers=AUTH).get_json()["source"]
    assert item["transcript"] == {"origin": "edit", "cues": 2, "updated_at": edited["updated_at"]}


def test_bad_transcripts_are_refused_with_a_422_naming_the_cue(client: FlaskClient, long_clip: Path) -> None:
    source_id = _library_item(client, long_clip)
    url = f"/api/sources/{source_id}/transcript"
    late = client.put(url, json={"cues": [{"start": 1, "end": 9, "text": "too late"}]}, headers=AUTH)
    assert late.status_code == 422
    error = late.get_json()["error"]
    assert error["code"] == "invalid_transcript"
    assert error["message"].startswith("cue 1 (00:00:01.000 --> 00:00:09.000): ends after the clip")
    backwards = [{"start": 1, "end": 2, "text": "one"}, {"start": 0.5, "end": 1, "text": "two"}]
    order = client.put(url, json={"cues": backwards}, headers=AUTH).get_json()["error"]["message"]
    assert order == "cue 2 (00:00:00.500 --> 00:00:01.000): starts before cue 1; cues must be in order"

    for body in ({}, {"cues": [], "subtitles": SRT}, {"cues": [{"start": "x"}]}, {"subtitles": "nothing"}):
        answer = client.put(url, json=body, headers=AUTH)
        assert answer.status_code == 422, body
        assert answer.get_json()["error"]["message"]
    assert client.get(url, headers=AUTH).status_code == 404  # nothing was stored
    unknown = client.put("/api/sources/nope/transcript", json={"subtitles": SRT}, headers=AUTH)
    assert unknown.status_code == 404 and unknown.get_json()["error"]["code"] == "source_not_found"
    assert client.get("/api/jobs/nope/transcript", headers=AUTH).status_code == 404  # one home: the item


def test_a_link_not_downloaded_yet_has_no_length_to_check_against(tmp_path: Path) -> None:
    client = make_app(tmp_path / "data", allow_private_urls=True).test_client()
    link = {"url": "http://127.0.0.1:9/v.mp4", "brands": ["watchthefall"]}  # never answers: no length
    answer = client.post("/api/videos/process", json=link, headers=AUTH)
    assert answer.status_code == 202, answer.get_json()
    source_id = answer.get_json()["job"]["source_id"]
    put = client.put(f"/api/sources/{source_id}/transcript", json={"subtitles": SRT}, headers=AUTH)
    assert put.status_code == 409 and put.get_json()["error"]["code"] == "clip_length_unknown"


def test_the_library_item_plays_its_clip_with_range(client: FlaskClient, long_clip: Path) -> None:
    source_id = _library_item(client, long_clip)
    part = client.get(f"/api/sources/{source_id}/video", headers={**AUTH, "Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.data) == 100 and part.mimetype == "video/mp4"
    assert client.get(f"/api/sources/{source_id}/video").status_code == 401
