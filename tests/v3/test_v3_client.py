"""A client written for v3 (its dashboard's calls, its fields, plus the key) against the real service.

A live server with its embedded consumer, links from the loopback site; the synchronous form (answers when
the job ends) and `Prefer: respond-async`; the signed links opened without the key, also in Chromium's
`<video>`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image, ImageChops, ImageStat

from tests.conftest import REPO
from tests.download.conftest import Site
from tests.engine.inspect_output import first_frame, luma_mean
from tests.mediagen import ffmpeg
from tests.web.server import KEY, TERMINAL, Server


class V3Client:
    """What v3's dashboard and scripts do: the same paths, fields and answers, plus the portal key."""

    def __init__(self, base: str, key: str | None = KEY) -> None:
        self.base, self.headers = base, ({"X-Portal-Key": key} if key else {})

    def get(self, path: str) -> requests.Response:
        return requests.get(self.base + path, headers=self.headers, timeout=30)

    def post(self, path: str, body: dict, *, prefer_async: bool = False) -> requests.Response:
        headers = {**self.headers, **({"Prefer": "respond-async"} if prefer_async else {})}
        return requests.post(self.base + path, json=body, headers=headers, timeout=300)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    config = tmp_path_factory.mktemp("config")
    shutil.copy(REPO / "brand_config.json", config / "brand_config.json")
    shutil.copytree(REPO / "brands", config / "brands")
    env = {"WTF_BRAND_CONFIG": str(config / "brand_config.json"), "WTF_ALLOW_PRIVATE_URLS": "1"}
    running = Server(tmp_path_factory.mktemp("data"), env=env).start()
    yield running
    running.stop()


@pytest.fixture
def v3(service: Server) -> V3Client:
    return V3Client(service.url)


def _frame(response: requests.Response, tmp_path: Path, name: str) -> Image.Image:
    assert response.status_code == 200 and response.headers["Content-Type"] == "video/mp4"
    path = tmp_path / name
    path.write_bytes(response.content)
    return first_frame(path).to_image()


def _difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of the top third (where watchthefall's logo sits), 0..255."""
    box = (0, 0, a.width, a.height // 3)
    return sum(ImageStat.Stat(ImageChops.difference(a.crop(box), b.crop(box))).mean) / 3


def test_fetch_then_brand_with_render_settings_then_saved_settings(
    v3: V3Client, site: Site, tmp_path: Path
) -> None:
    anyone = V3Client(v3.base, key=None)  # a phone, a chat: no key
    assert anyone.get("/portal/test").json()["status"] == "online"
    assert anyone.get("/__debug_health").json()["status"] == "healthy"
    names = [brand["name"] for brand in v3.get("/api/brands/list").json()["brands"]]
    assert "watchthefall" in names
    before = v3.get("/api/brands/watchthefall/config").json()["config"]

    fetched = v3.post("/api/videos/fetch", {"urls": [f"{site.url}/clip.mp4"]})
    assert fetched.status_code == 200, fetched.text
    body = fetched.json()
    assert (body["success"], body["total"], body["successful"]) == (True, 1, 1)
    (result,) = body["results"]
    assert result["success"] is True and result["url"] == f"{site.url}/clip.mp4" and result["size_mb"] >= 0
    original = anyone.get(result["download_url"])
    assert original.status_code == 200 and original.content == (site.root / "clip.mp4").read_bytes()

    def brand(**settings) -> Image.Image:
        body = {"source_path": result["filename"], "brands": ["WATCHTHEFALL"], **settings}
        answer = v3.post("/api/videos/process_brands", body)
        assert answer.status_code == 200, answer.text
        data = answer.json()
        assert data["success"] is True and data["message"]
        (output,) = data["outputs"]
        assert output["brand"] == "watchthefall" and output["filename"].endswith(".mp4")
        return _frame(anyone.get(output["download_url"]), tmp_path, output["filename"])

    plain = brand()
    bigger = brand(logo_scale=0.45, logo_padding=10)  # this render only (v3 read and ignored them)
    assert _difference(plain, bigger) > 2
    assert v3.get("/api/brands/watchthefall/config").json()["config"] == before  # the brand is unchanged

    saved = v3.post("/api/brands/watchthefall/config", {"logo_scale": 0.45, "logo_padding": 10})
    assert saved.json()["success"] is True
    after_save = brand()  # the next render uses the saved settings
    assert _difference(after_save, bigger) < 1 < _difference(after_save, plain)


def test_portrait_crop_renders_4_5_filled_with_the_picture(
    v3: V3Client, service: Server, tmp_path: Path
) -> None:
    """Issue 17 on v3's route: `preset` and `fit` reach the render (a blurred fill would be dark)."""
    white = tmp_path / "white.mp4"  # landscape: in 4:5 it leaves ~370 rows above it to fill
    ffmpeg("-f", "lavfi", "-i", "color=c=white:size=568x320:rate=30:duration=1", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(white))  # fmt: skip
    body = {
        "source_path": service.upload(white),
        "brands": ["watchthefall"],
        "preset": "portrait",
        "fit": "crop",
    }
    answer = v3.post("/api/videos/process_brands", body)
    assert answer.status_code == 200, answer.text
    (output,) = answer.json()["outputs"]
    video = tmp_path / output["filename"]
    video.write_bytes(V3Client(v3.base, key=None).get(output["download_url"]).content)
    frame = first_frame(video)
    assert (frame.width, frame.height) == (1080, 1350)
    # the top-left corner is the white picture, not the darkened blur (under 160); the logo sits top-right
    assert luma_mean(frame, (0, 0, 300, 200)) > 200


def test_url_form_and_async_form(v3: V3Client, service: Server, site: Site) -> None:
    answer = v3.post("/api/videos/process_brands", {"url": f"{site.url}/clip.mp4", "brands": ["fallclips"]})
    assert answer.status_code == 200 and answer.json()["success"] is True
    assert [output["brand"] for output in answer.json()["outputs"]] == ["fallclips"]

    queued = v3.post("/api/videos/process_brands", {"url": f"{site.url}/clip.mp4", "brands": ["DailyFails"]},
                     prefer_async=True)  # fmt: skip
    assert queued.status_code == 202 and queued.headers["Preference-Applied"] == "respond-async"
    job = service.wait(queued.json()["job"]["id"])
    assert job["status"] == "completed"
    assert requests.get(service.url + job["outputs"][0]["url"], timeout=30).status_code == 200  # no key

    fetches = v3.post("/api/videos/fetch", {"urls": [f"{site.url}/clip.mp4", f"{site.url}/novideo.html"]},
                      prefer_async=True)  # fmt: skip
    assert fetches.status_code == 202
    ids = [job["id"] for job in fetches.json()["jobs"]]
    assert [service.wait(job_id)["status"] for job_id in ids] == ["completed", "failed"]


def test_a_failed_download_answers_in_v3_shape(v3: V3Client, site: Site) -> None:
    fetched = v3.post("/api/videos/fetch", {"urls": [f"{site.url}/novideo.html"]}).json()
    assert (fetched["success"], fetched["successful"]) == (True, 0)
    assert fetched["results"][0]["success"] is False and "no video found" in fetched["results"][0]["error"]
    body = {"url": f"{site.url}/novideo.html", "brands": ["fallclips"]}
    answer = v3.post("/api/videos/process_brands", body)
    assert answer.status_code == 422
    assert answer.json()["success"] is False and "no video found" in answer.json()["error"]


def test_a_client_that_goes_away_does_not_cancel_the_job(service: Server, site: Site) -> None:
    link = f"{site.url}/slow.mp4?gone"  # the site waits 5 s before answering: the job outlasts the client
    body = {"url": link, "brands": ["watchthefall"]}
    with pytest.raises(requests.Timeout):
        requests.post(f"{service.url}/api/videos/process_brands", json=body, headers={"X-Portal-Key": KEY},
                      timeout=0.5)  # fmt: skip
    deadline = time.monotonic() + 60
    while not (mine := _jobs_of(service, link)) and time.monotonic() < deadline:
        time.sleep(0.2)  # a loaded server may create the job after the client hung up
    (job,) = mine
    assert service.wait(job["id"])["status"] == "completed"


def test_a_signed_link_plays_in_chromium_without_the_key(browser, v3: V3Client, site: Site) -> None:
    body = {"url": f"{site.url}/clip.mp4", "brands": ["watchthefall"]}
    answer = v3.post("/api/videos/process_brands", body)
    link = v3.base + answer.json()["outputs"][0]["download_url"]
    context = browser.new_context()  # no cookie, no key: what a phone opening a shared link has
    page = context.new_page()
    try:
        page.set_content(f'<video id="v" src="{link}" muted playsinline preload="auto"></video>')
        page.wait_for_function("document.getElementById('v').readyState >= 2", timeout=30_000)
        assert page.evaluate("document.getElementById('v').videoWidth") > 0
        page.evaluate("document.getElementById('v').play()")
        page.wait_for_function("document.getElementById('v').currentTime > 0.2", timeout=30_000)

        tampered = link.replace("signature=", "signature=x")
        page.set_content(f'<video id="v" src="{tampered}" muted></video>')
        page.wait_for_function("document.getElementById('v').error !== null", timeout=30_000)
    finally:
        context.close()
    assert requests.get(tampered, timeout=30).status_code == 403


def test_waiting_clients_do_not_tie_up_the_server(v3: V3Client, service: Server, site: Site) -> None:
    """More synchronous waiters than gthread's 16 threads: the server still answers everyone else."""
    link = f"{site.url}/slow.mp4?wait"  # 5 s before each download starts: no job ends while they are counted
    waiters = 24
    body = {"url": link, "brands": ["watchthefall", "fallclips", "dailyfails"]}
    with ThreadPoolExecutor(waiters) as pool:
        answers = [pool.submit(v3.post, "/api/videos/process_brands", body) for _ in range(waiters)]
        deadline = time.monotonic() + 60
        while len(mine := _jobs_of(service, link)) < waiters and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(mine) == waiters
        waiting = [job for job in mine if job["status"] not in TERMINAL]
        assert len(waiting) > 16  # still waiting: each one holds its request open
        assert v3.get("/api/brands/list").status_code == 200  # others are served meanwhile
        assert V3Client(v3.base, key=None).get("/portal/test").status_code == 200
        for job in waiting:  # let the waiters go: a cancelled job answers them in v3's shape
            service.call("POST", f"/api/jobs/{job['id']}/cancel")
        results = [answer.result() for answer in answers]
    assert all(r.status_code in (200, 409) for r in results), [r.text for r in results]
    cancelled = [r.json() for r in results if r.status_code == 409]
    assert cancelled and all(a["success"] is False and "cancelled" in a["error"] for a in cancelled)


def _jobs_of(service: Server, source_name: str) -> list[dict]:
    jobs = service.call("GET", "/api/jobs", params={"limit": 100}).json()["jobs"]
    return [job for job in jobs if job["source"]["name"] == source_name]


def test_process_brands_takes_an_optional_formats_list(v3: V3Client, service: Server, tmp_path: Path) -> None:
    clip = tmp_path / "wide.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=1", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip))  # fmt: skip
    body = {"source_path": service.upload(clip), "brands": ["fallclips"], "formats": ["vertical", "square"]}
    answer = v3.post("/api/videos/process_brands", body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["message"] == "Successfully processed video for 1 brands in 2 formats"
    outputs = answer.json()["outputs"]
    assert sorted(o["format"] for o in outputs) == ["square", "vertical"]
    for output in outputs:
        assert output["filename"].endswith(f"_fallclips_{output['format']}.mp4")
        video = tmp_path / output["filename"]
        video.write_bytes(V3Client(v3.base, key=None).get(output["download_url"]).content)
        frame = first_frame(video)
        assert (frame.width, frame.height) == {"vertical": (1080, 1920), "square": (1080, 1080)}[
            output["format"]
        ]
    both = v3.post("/api/videos/process_brands", {**body, "preset": "square"})
    assert both.status_code == 400 and both.json()["success"] is False and "formats" in both.json()["error"]
