"""Sources x brands x formats (DESIGN 4.10): counted before, made in one batch, one ZIP, read back."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

from tests.apptools import make_app
from tests.conftest import REPO
from tests.engine.inspect_output import assert_ready_to_post
from tests.mediagen import make_clip
from tests.web.conftest import AUTH
from tests.web.server import Server

FORMATS = ["vertical", "portrait", {"preset": "square", "fit": "crop"}]
SIZES = {"vertical": (240, 426), "portrait": (240, 300), "square": (240, 240)}  # WTF_MAX_SHORT_SIDE=240
BRANDS = ["watchthefall", "fallclips", "dailyfails", "fourth"]


def _four_brands(folder: Path) -> Path:
    """The repo's three brands (their assets where they are) and a fourth drawing the first one's logo."""
    config = json.loads((REPO / "brand_config.json").read_text())
    for brand in config["brands"].values():
        brand["logo"]["path"] = str(REPO / brand["logo"]["path"])
    config["brands"]["fourth"] = {**config["brands"]["watchthefall"], "name": "Fourth", "safe_zone": "none"}
    path = folder / "brand_config.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def matrix_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("matrix")
    env = {"WTF_BRAND_CONFIG": str(_four_brands(folder)), "WTF_MAX_SHORT_SIDE": "240",
           "WTF_X264_PRESET": "superfast"}  # fmt: skip
    running = Server(folder / "data", env=env)
    running.data_dir.mkdir()
    yield running.start()
    running.stop()


def test_three_sources_four_brands_three_formats_make_36_outputs_in_one_batch(
    matrix_server: Server, tmp_path: Path
) -> None:
    server = matrix_server
    clips = [make_clip(tmp_path / f"clip{n}.mp4", width=320, height=180) for n in range(3)]
    upload_ids = [server.upload(clip) for clip in clips]
    body = {"upload_ids": upload_ids, "brands": BRANDS, "formats": FORMATS}

    planned = server.call("POST", "/api/plans", json=body)
    assert planned.status_code == 200, planned.text
    plan = planned.json()["plan"]
    assert (plan["sources"], plan["brands"], plan["formats"], plan["count"]) == (3, 4, 3, 36)
    assert len(plan["outputs"]) == 36
    assert {(o["format"], o["width"], o["height"]) for o in plan["outputs"]} == {
        (name, *size) for name, size in SIZES.items()
    }
    assert server.call("GET", "/api/jobs").json()["jobs"] == []  # counting made nothing

    response = server.call("POST", "/api/videos/process", json=body)
    assert response.status_code == 202, response.text
    jobs = response.json()["jobs"]
    assert len(jobs) == 3 and len({job["batch_id"] for job in jobs}) == 1 and jobs[0]["batch_id"]
    assert jobs[0]["formats"] == [
        {"preset": "vertical", "fit": "blur"},
        {"preset": "portrait", "fit": "blur"},
        {"preset": "square", "fit": "crop"},
    ]
    done = [server.wait(job["id"], timeout=600) for job in jobs]
    assert [job["status"] for job in done] == ["completed"] * 3, [job["error"] for job in done]

    names = []
    for job, clip in zip(done, clips, strict=True):
        assert len(job["outputs"]) == 12
        made = {(o["brand"], o["format"]) for o in job["outputs"]}
        assert made == {(brand, preset) for brand in BRANDS for preset in SIZES}
        for output in job["outputs"]:
            assert (
                output["filename"] == f"{clip.stem}-{job['id'][:8]}_{output['brand']}_{output['format']}.mp4"
            )
            size = SIZES[output["format"]]
            assert (output["width"], output["height"]) == size
            assert_ready_to_post(server.data_dir / "outputs" / output["filename"], size, 1.0, 30, audio=True)
            names.append(output["filename"])
    assert len(set(names)) == 36

    batch = server.call("GET", f"/api/batches/{jobs[0]['batch_id']}").json()["batch"]
    assert batch["outputs"] == 36 and {job["id"] for job in batch["jobs"]} == {job["id"] for job in jobs}
    # the signed link works without the key
    archive = requests.get(f"{server.url}{batch['archive_url']}", timeout=60)
    assert archive.status_code == 200 and archive.headers["Content-Type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as bundle:
        listed = bundle.namelist()
        assert len(listed) == 72  # 36 outputs, each with its cover
        for job, clip in zip(done, clips, strict=True):
            folder = f"{clip.stem}-{job['id'][:8]}/"
            inside = sorted(name.removeprefix(folder) for name in listed if name.startswith(folder))
            covers = [o["filename"].removesuffix(".mp4") + ".jpg" for o in job["outputs"]]
            assert inside == sorted([o["filename"] for o in job["outputs"]] + covers)
        first = done[0]["outputs"][0]["filename"]
        stored = (server.data_dir / "outputs" / first).read_bytes()
        assert bundle.read(f"{clips[0].stem}-{done[0]['id'][:8]}/{first}") == stored
    tampered = batch["archive_url"].replace("signature=", "signature=x")
    assert requests.get(f"{server.url}{tampered}", timeout=30).status_code == 403
    assert (
        requests.get(f"{server.url}/api/batches/{jobs[0]['batch_id']}/archive", timeout=30).status_code == 401
    )


def test_one_source_one_format_keeps_its_names_and_no_batch(client: FlaskClient, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", width=320, height=180, duration=0.5)
    with clip.open("rb") as handle:
        upload = client.post("/api/uploads", data={"file": (handle, "c.mp4")}, headers=AUTH).json["upload"]
    job = client.post(
        "/api/videos/process", json={"upload_id": upload["id"], "brands": ["fallclips"], "preset": "square"},
        headers=AUTH,
    ).json["job"]  # fmt: skip
    assert job["batch_id"] is None and job["formats"] == [{"preset": "square", "fit": "blur"}]
    assert job["preset"] == "square"


def test_plans_count_links_and_files_to_upload(tmp_path: Path) -> None:
    client = make_app(tmp_path / "data", allow_private_urls=True).test_client()  # links on this machine
    body = {"brands": "all", "formats": ["vertical", "square"], "files": ["a.mp4", "b.mov"],
            "urls": ["http://127.0.0.1:9/v1.mp4", "http://127.0.0.1:9/v2.mp4"]}  # fmt: skip
    plan = client.post("/api/plans", json=body, headers=AUTH).json["plan"]
    assert (plan["sources"], plan["brands"], plan["formats"], plan["count"]) == (4, 3, 2, 24)
    assert {(o["format"], o["width"], o["height"]) for o in plan["outputs"]} == {
        ("vertical", 1080, 1920),
        ("square", 1080, 1080),
    }
    empty = client.post("/api/plans", json={"brands": ["fallclips"], "formats": ["source"]}, headers=AUTH)
    assert empty.json["plan"]["count"] == 0 and empty.json["plan"]["sources"] == 0


@pytest.mark.parametrize(("body", "names"), [
    ({"formats": ["square", {"preset": "square", "fit": "crop"}]}, "square"),
    ({"formats": ["vertical"], "preset": "square"}, "formats"),
    ({"formats": ["cinema"]}, "formats"),
    ({"formats": []}, "formats"),
])  # fmt: skip
def test_bad_formats_are_a_422_naming_them(client: FlaskClient, body: dict, names: str) -> None:
    for path in ("/api/videos/process", "/api/plans"):
        response = client.post(path, json={"url": "https://example.com/v.mp4", "brands": "all", **body},
                               headers=AUTH)  # fmt: skip
        assert response.status_code == 422, response.text
        assert response.json["error"]["code"] == "invalid_request"
        assert names in response.json["error"]["message"]


def test_multipart_takes_formats_and_a_fit_per_preset(client: FlaskClient, tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", width=320, height=180, duration=0.5)
    with clip.open("rb") as handle:
        response = client.post(
            "/api/videos/process", headers=AUTH,
            data={"file": (handle, "c.mp4"), "brands": "fallclips", "formats": ["vertical,square"],
                  "fit": ["blur", "square=crop"]},
        )  # fmt: skip
    assert response.status_code == 202, response.text
    assert response.json["job"]["formats"] == [
        {"preset": "vertical", "fit": "blur"},
        {"preset": "square", "fit": "crop"},
    ]
    with clip.open("rb") as handle:
        bad = client.post(
            "/api/videos/process", headers=AUTH,
            data={"file": (handle, "c.mp4"), "brands": "fallclips", "formats": "vertical",
                  "fit": "square=crop"},
        )  # fmt: skip
    assert bad.status_code == 422 and "square" in bad.json["error"]["message"]
