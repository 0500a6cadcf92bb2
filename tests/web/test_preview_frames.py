"""The stills of the new-job form (issue 23, item 5) through the API: a brand's still on a frame of a
user's clip (`frame`: an upload, a job's source, a library item) in a format and fit, and a submission
that brands library items (a link fetched first) beside uploads and links, in one batch."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image

from tests.web.conftest import AUTH


@pytest.fixture
def upload(client: FlaskClient, clip: Path) -> dict:
    with clip.open("rb") as handle:
        answer = client.post("/api/uploads", data={"file": (handle, "clip.mp4")}, headers=AUTH)
    assert answer.status_code == 201, answer.json
    return answer.json["upload"]


def still(client: FlaskClient, query: str) -> Image.Image:
    answer = client.get(f"/api/brands/fallclips/preview.jpg?{query}", headers=AUTH)
    assert answer.status_code == 200 and answer.mimetype == "image/jpeg", answer.json
    return Image.open(io.BytesIO(answer.data))


def test_a_still_on_the_users_clip_in_each_format_and_fit(client: FlaskClient, upload: dict) -> None:
    generated = still(client, "preset=square")
    on_upload = still(client, f"preset=square&fit=crop&frame=upload:{upload['id']}")
    on_item = still(client, f"preset=square&fit=crop&frame=source:{upload['source_id']}")
    assert generated.size == on_upload.size == on_item.size == (1080, 1080)
    assert on_upload.tobytes() == on_item.tobytes()  # the same clip, the same plan
    assert on_upload.tobytes() != generated.tobytes()
    blurred = still(client, f"preset=square&fit=blur&frame=upload:{upload['id']}")
    assert blurred.tobytes() != on_upload.tobytes()  # the fit is the render's
    assert still(client, f"preset=vertical&frame=upload:{upload['id']}").size == (1080, 1920)
    # a window placed by hand frames the still as it frames the render
    placed = still(client, f"preset=square&fit=crop&anchor=0.5,0.2&zoom=2&frame=upload:{upload['id']}")
    assert placed.size == (1080, 1080) and placed.tobytes() != on_upload.tobytes()


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("preset=square&frame=upload:nope", 404, "unknown_clip"),
        ("preset=square&frame=source:nope", 404, "unknown_clip"),
        ("preset=square&frame=elsewhere:x", 404, "unknown_clip"),
        ("preset=square&fit=stretch", 400, "bad_fit"),
        ("preset=square&fit=blur&anchor=0.3,0.5", 400, "bad_framing"),
        ("preset=square&fit=crop&zoom=9", 400, "bad_framing"),
        ("preset=square&fit=crop&anchor=left", 400, "bad_framing"),
        ("preset=huge", 400, "bad_preset"),
    ],
)
def test_a_bad_still_request_names_the_problem(
    client: FlaskClient, query: str, status: int, code: str
) -> None:
    answer = client.get(f"/api/brands/fallclips/preview.jpg?{query}", headers=AUTH)
    assert (answer.status_code, answer.json["error"]["code"]) == (status, code)
    assert answer.json["error"]["message"]


def test_library_items_are_branded_beside_uploads_in_one_batch(client: FlaskClient, upload: dict) -> None:
    body = {"brands": ["fallclips"], "formats": ["square"], "upload_ids": [upload["id"]],
            "source_ids": [upload["source_id"]]}  # fmt: skip
    planned = client.post("/api/plans", json=body, headers=AUTH)
    assert planned.status_code == 200 and planned.json["plan"]["count"] == 2
    answer = client.post("/api/videos/process", json=body, headers=AUTH)
    assert answer.status_code == 202, answer.json
    jobs = answer.json["jobs"]
    assert sorted(job["source"]["kind"] for job in jobs) == ["library", "upload"]
    assert len({job["batch_id"] for job in jobs}) == 1 and jobs[0]["batch_id"]

    refused = client.post(
        "/api/videos/process", json={**body, "source_id": upload["source_id"]}, headers=AUTH
    )
    assert refused.status_code == 422 and "source_ids" in refused.json["error"]["message"]
    gone = client.post("/api/videos/process", json={**body, "source_ids": ["nope"]}, headers=AUTH)
    assert gone.status_code == 404
