"""The library through the real service (DESIGN 4.14): every upload and link becomes an item; the same clip
mirrored, re-encoded at another size and sent from another link is recognised after its download and the
job names the brand it already went to; search, pages, post texts in the ZIP, delete."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apptools import post_text_service
from tests.download.conftest import Site
from tests.mediagen import QUICK_ENCODE, ffmpeg, make_pattern
from tests.web.server import Server

PROCESS = "/api/videos/process"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from post_text_service(tmp_path_factory)


@pytest.fixture(scope="module")
def clips(site: Site, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A clip to upload, and the same clip mirrored at another size, served by the site as a repost."""
    original = tmp_path_factory.mktemp("clips") / "holiday.mp4"
    make_pattern(original, "life", seed=11, duration=2)
    (site.root / "repost").mkdir(exist_ok=True)
    repost = site.root / "repost" / "mirrored.mp4"
    ffmpeg("-i", str(original), "-vf", "hflip,scale=240:426", *QUICK_ENCODE, "-crf", "30", str(repost))
    return {"original": original, "repost": repost}


def test_a_repost_from_another_link_is_named_with_the_brand_and_the_job(
    service: Server, site: Site, clips
) -> None:
    with clips["original"].open("rb") as handle:
        uploaded = service.call("POST", "/api/uploads", files={"file": ("holiday.mp4", handle, "video/mp4")})
    upload = uploaded.json()["upload"]
    assert uploaded.status_code == 201 and upload["source_id"]
    sent = service.call(
        "POST", "/api/videos/process", json={"upload_id": upload["id"], "brands": ["watchthefall"]}
    )
    first = service.wait(sent.json()["job"]["id"])
    assert first["status"] == "completed" and first["source_id"] == upload["source_id"]
    assert first["warnings"] == []
    # an upload has no title or uploader: their clause goes, the rest stays
    assert first["outputs"][0]["post_text"] == "WatchTheFall #fails"

    link = f"{site.url}/repost/mirrored.mp4"
    sent = service.call("POST", "/api/videos/process", json={"url": link, "brands": ["fallclips"]})
    assert sent.status_code == 202 and sent.json()["job"]["warnings"] == []  # not known before the download
    second = service.wait(sent.json()["job"]["id"])
    assert second["status"] == "completed" and second["source_id"] != first["source_id"]
    assert second["warnings"] == [
        {
            "code": "already_branded",
            "brand": "watchthefall",
            "job_id": first["id"],
            "at": first["finished_at"],
        }
    ]
    # before submitting, the plan names the brands each clip already went to (the upload and the repost
    # are one clip: each plan names both brands and their jobs)
    plan = service.call("POST", "/api/plans", json={"upload_id": upload["id"], "brands": ["dailyfails"]})
    named = sorted((w["brand"], w["job_id"]) for w in plan.json()["plan"]["warnings"])
    assert named == [("fallclips", second["id"]), ("watchthefall", first["id"])]
    plan = service.call("POST", "/api/plans", json={"url": link, "brands": ["dailyfails"]}).json()["plan"]
    assert (
        sorted(w["brand"] for w in plan["warnings"]) == ["fallclips", "watchthefall"] and plan["count"] == 1
    )
    unknown = service.call(
        "POST", "/api/plans", json={"url": f"{site.url}/new.mp4", "brands": ["dailyfails"]}
    )
    assert unknown.status_code == 200 and unknown.json()["plan"]["warnings"] == []
    # the same link again: its item is known, so the answer warns at once
    again = service.call("POST", "/api/videos/process", json={"url": link, "brands": ["dailyfails"]})
    brands = sorted(warning["brand"] for warning in again.json()["job"]["warnings"])
    assert again.json()["job"]["source_id"] == second["source_id"] and brands == ["fallclips", "watchthefall"]
    assert service.wait(again.json()["job"]["id"])["status"] == "completed"

    archive = service.call("GET", f"/api/jobs/{second['id']}/archive")
    (output,) = second["outputs"]
    text_name = output["filename"].removesuffix(".mp4") + ".txt"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        cover_name = output["filename"].removesuffix(".mp4") + ".jpg"
        assert sorted(bundle.namelist()) == sorted([output["filename"], cover_name, text_name])
        assert bundle.read(text_name).decode() == output["post_text"] + "\n"
    assert output["post_text"] == f"mirrored\n{link}\nFallClips #fails"


def test_search_pages_and_delete(service: Server) -> None:
    found = service.call("GET", "/api/sources", params={"q": "MIRRORED"}).json()["sources"]
    assert [item["title"] for item in found] == ["mirrored"]
    item = found[0]
    assert item["kind"] == "url" and item["stored"] and item["fingerprinted"] and item["removal_at"]
    assert sorted(b for render in item["renders"] for b in render["brands"]) == ["dailyfails", "fallclips"]
    cover = service.call("GET", item["cover_url"])
    assert cover.status_code == 200 and cover.content[:2] == b"\xff\xd8"

    first = service.call("GET", "/api/sources", params={"limit": 1}).json()
    rest = service.call("GET", "/api/sources", params={"limit": 1, "cursor": first["next"]}).json()
    assert first["sources"][0]["id"] == item["id"]  # newest first: the link came after the upload
    assert [s["title"] for s in rest["sources"]] == ["holiday"] and rest["next"] is None
    assert service.call("GET", "/api/sources", params={"since": "2999-01-01"}).json()["sources"] == []

    pinned = service.call("POST", f"/api/sources/{item['id']}/pin").json()["source"]
    assert pinned["pinned"] and pinned["removal_at"] is None
    output_url = item["renders"][0]["outputs"][0]["url"]
    assert service.call("GET", output_url).status_code == 200
    assert service.call("DELETE", f"/api/sources/{item['id']}").json() == {"deleted": item["id"]}
    assert service.call("GET", f"/api/sources/{item['id']}").status_code == 404
    assert service.call("GET", output_url).status_code == 404
    assert service.call("GET", item["cover_url"]).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("GET", "/api/sources?since=yesterday", None, 400, "bad_since"),
        ("GET", "/api/sources?cursor=nope", None, 400, "bad_cursor"),
        ("GET", "/api/sources?limit=0", None, 400, "bad_limit"),
        ("GET", "/api/sources/nope", None, 404, "source_not_found"),
        ("POST", "/api/sources/nope/pin", None, 404, "source_not_found"),
        ("DELETE", "/api/sources/nope", None, 404, "source_not_found"),
        ("POST", PROCESS, {"source_id": "nope", "brands": ["fallclips"]}, 404, "source_not_found"),
        ("POST", PROCESS, {"source_id": "a", "url": "http://x.test/", "brands": ["fallclips"]}, 422, None),
    ],
)  # fmt: skip
def test_bad_requests_name_the_problem(service: Server, method, path, body, status, code) -> None:
    response = service.call(method, path, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and (code is None or error["code"] == code)
