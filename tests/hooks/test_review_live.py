"""Review (DESIGN 4.12) through the real service: approve one output, then all; every output that becomes
approved is told to the job's webhook once (`output.approved`, signed, naming the output); bad requests are
clear 4xx answers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hooks.receiver import Receiver
from tests.hooks.test_webhooks_live import FAST_RETRIES, signature_ok
from tests.mediagen import make_clip
from tests.web.server import Server


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", width=160, height=284, duration=1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("data"), env=FAST_RETRIES).start()
    yield running
    running.stop()


def events_of(receiver: Receiver, count: int) -> list[dict]:
    deadline = time.monotonic() + 30
    while len(receiver.received) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return [json.loads(delivery.body) for delivery in receiver.received]


def branded_with_webhook(server: Server, clip: Path, receiver: Receiver) -> tuple[str, dict]:
    """A two-brand job of the clip whose webhook goes to `receiver`, waited for; (its id, the job)."""
    payload = {
        "upload_id": server.upload(clip),
        "brands": ["watchthefall", "fallclips"],
        "webhook_url": receiver.url,
    }
    job_id = server.call("POST", "/api/videos/process", json=payload).json()["job"]["id"]
    return job_id, server.wait(job_id)


def test_approve_one_then_all(server: Server, clip: Path) -> None:
    with Receiver() as receiver:
        job_id, job = branded_with_webhook(server, clip, receiver)
        assert [o["review"] for o in job["outputs"]] == ["pending", "pending"]
        assert [o["number"] for o in job["outputs"]] == [0, 1]

        answer = server.call("POST", f"/api/jobs/{job_id}/outputs/1/review", json={"state": "approved"})
        assert answer.status_code == 200, answer.text
        assert [o["review"] for o in answer.json()["job"]["outputs"]] == ["pending", "approved"]
        again = server.call("POST", f"/api/jobs/{job_id}/outputs/1/review", json={"state": "approved"})
        assert again.status_code == 200  # already approved: no second event
        everything = server.call("POST", f"/api/jobs/{job_id}/review", json={"state": "approved"})
        assert [o["review"] for o in everything.json()["job"]["outputs"]] == ["approved", "approved"]

        events = events_of(receiver, 3)
        time.sleep(1.5)  # a repeat would arrive now
        assert len(receiver.received) == 3
        # deliveries go out from a pool of senders, so they may arrive in any order
        by_output = {(e["event"], e.get("output")): e for e in events}
        assert sorted(by_output, key=str) == sorted(
            [("job.completed", None), ("output.approved", 1), ("output.approved", 0)], key=str
        )
        assert by_output[("output.approved", 1)]["job"]["outputs"][1]["review"] == "approved"
        assert all(signature_ok(delivery) for delivery in receiver.received)
        assert {"output.approved"} <= {w["event"] for w in server.job(job_id)["webhooks"]}

        rejected = server.call("POST", f"/api/jobs/{job_id}/outputs/0/review", json={"state": "rejected"})
        assert rejected.json()["job"]["outputs"][0]["review"] == "rejected"

        missing = server.call("POST", f"/api/jobs/{job_id}/outputs/7/review", json={"state": "approved"})
        assert missing.status_code == 404 and "no output 7" in missing.json()["error"]["message"]
        wrong = server.call("POST", f"/api/jobs/{job_id}/outputs/0/review", json={"state": "maybe"})
        assert wrong.status_code == 422 and "state" in wrong.json()["error"]["message"]
        nojob = server.call("POST", "/api/jobs/nope/outputs/0/review", json={"state": "approved"})
        assert nojob.status_code == 404


def test_render_one_output_again(server: Server, clip: Path) -> None:
    with Receiver() as receiver:
        job_id, job = branded_with_webhook(server, clip, receiver)
        outputs = server.data_dir / "outputs"
        first = {o["filename"]: (outputs / o["filename"]).read_bytes() for o in job["outputs"]}
        server.call("POST", f"/api/jobs/{job_id}/outputs/0/review", json={"state": "approved"})

        asked = {"layers": [{"index": 0, "x": 0.25, "y": 0.5, "width": 0.3}], "cover_at": 0.3}
        answer = server.call("POST", f"/api/jobs/{job_id}/outputs/0/render", json=asked)
        assert answer.status_code == 202, answer.text
        assert answer.json()["job"]["outputs"][0]["rerender"]["status"] in ("queued", "rendering")
        job = server.wait(job_id, until=lambda job: job["outputs"][0]["version"] == 2)
        again, other = job["outputs"]
        assert again["rerender"] is None and again["review"] == "pending"  # a new version is reviewed anew
        assert again["filename"].endswith("_watchthefall_v2.mp4") and again["cover_at"] == 0.3
        assert [v["version"] for v in again["versions"]] == [1, 2]
        assert again["versions"][1]["overrides"] == asked
        assert again["versions"][1]["requested_by"].startswith("api key from ")
        assert again["versions"][0]["requested_by"] is None
        # the job's files are untouched: the first version kept, the other output byte-identical
        for name, content in first.items():
            assert (outputs / name).read_bytes() == content
        assert other["filename"] in first and other["version"] == 1
        assert (outputs / again["filename"]).is_file() and (outputs / again["filename"][:-4]).with_suffix(
            ".jpg"
        ).is_file()
        events = events_of(receiver, 3)
        assert [(e["event"], e.get("output")) for e in events][1:] == [
            ("output.approved", 0),
            ("output.rerendered", 0),
        ]
        assert events[2]["job"]["outputs"][0]["version"] == 2

        def refused(body: dict) -> str:
            answer = server.call("POST", f"/api/jobs/{job_id}/outputs/0/render", json=body)
            assert answer.status_code == 422, answer.text
            return answer.json()["error"]["message"]

        assert "layers[0].index" in refused({"layers": [{"index": 9}]})
        assert "layers.0.x" in refused({"layers": [{"index": 0, "x": 2, "y": 0.5}]})
        assert "trim end 1 must come after its start" in refused({"trim": {"start": 2, "end": 1}})
        assert "zoom" in refused({"zoom": 0.5})
        assert "x and y" in refused({"layers": [{"index": 0, "x": 0.5}]})

        assert server.call("DELETE", f"/api/jobs/{job_id}").status_code == 200
        assert not any(outputs.glob(f"*{job_id[:8]}*"))  # every version and cover went with the job
