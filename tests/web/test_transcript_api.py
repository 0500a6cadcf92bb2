"""GET/PUT /api/jobs/<id>/transcript through the real app: stored once, edited, checked with a 422."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.captions.test_transcript import SRT
from tests.mediagen import make_clip
from tests.web.conftest import AUTH


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s clip: long enough for two cues."""
    return make_clip(tmp_path_factory.mktemp("clips") / "clip3.mp4", width=180, height=320, duration=3)


def _queued_job(client: FlaskClient, clip: Path) -> str:
    with clip.open("rb") as handle:
        answer = client.post(
            "/api/videos/process",
            data={"file": (handle, "clip.mp4"), "brands": "watchthefall"},
            headers=AUTH,
            content_type="multipart/form-data",
        )
    assert answer.status_code == 202, answer.get_json()
    return answer.get_json()["job"]["id"]


def test_a_transcript_is_put_read_and_edited(client: FlaskClient, long_clip: Path) -> None:
    job_id = _queued_job(client, long_clip)
    url = f"/api/jobs/{job_id}/transcript"
    missing = client.get(url, headers=AUTH)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "transcript_not_found"

    put = client.put(url, json={"subtitles": SRT}, headers=AUTH)
    assert put.status_code == 200, put.get_json()
    transcript = client.get(url, headers=AUTH).get_json()["transcript"]
    assert transcript["origin"] == "file"
    assert [cue["text"] for cue in transcript["cues"]] == ["Hello there", "General Kenobi"]

    cues = transcript["cues"]
    cues[1] = {"start": 1.3, "end": 2.9, "text": "General Grievous"}  # an edit: words spread again
    edited = client.put(url, json={"cues": cues}, headers=AUTH).get_json()["transcript"]
    assert edited["origin"] == "edit" and edited["cues"][1]["words"][1]["text"] == "Grievous"
    assert client.get(url, headers=AUTH).get_json()["transcript"] == edited


def test_bad_transcripts_are_refused_with_a_422_naming_the_cue(client: FlaskClient, long_clip: Path) -> None:
    job_id = _queued_job(client, long_clip)
    url = f"/api/jobs/{job_id}/transcript"
    late = client.put(url, json={"cues": [{"start": 1, "end": 9, "text": "too late"}]}, headers=AUTH)
    assert late.status_code == 422
    error = late.get_json()["error"]
    assert error["code"] == "invalid_transcript"
    assert error["message"].startswith("cue 1 (00:00:01.000 --> 00:00:09.000): ends after the clip")

    for body in ({}, {"cues": [], "subtitles": SRT}, {"cues": [{"start": "x"}]}, {"subtitles": "nothing"}):
        answer = client.put(url, json=body, headers=AUTH)
        assert answer.status_code == 422, body
        assert answer.get_json()["error"]["message"]
    assert client.get(url, headers=AUTH).status_code == 404  # nothing was stored
    assert client.put("/api/jobs/nope/transcript", json={"subtitles": SRT}, headers=AUTH).status_code == 404
