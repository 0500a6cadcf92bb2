"""Webhooks through the real service: gunicorn, a real Huey consumer, a loopback receiver.

Each job end is delivered exactly once with a valid signature (checked by docs/API.md's own snippet);
a receiver that fails is retried on the configured schedule; a worker killed between two tries loses
nothing, because the next worker finds the delivery in the database.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.download.conftest import Site
from tests.hooks.conftest import SECRET
from tests.hooks.receiver import Receiver
from tests.mediagen import make_clip
from tests.web.server import KEY, Server

FAST_RETRIES = {"WTF_WEBHOOK_SECRET": SECRET, "WTF_ALLOW_PRIVATE_URLS": "1", "WTF_MAX_ATTEMPTS": "1"}


def documented_verifier() -> Callable[..., bool]:
    """The receiver snippet of docs/API.md, run as written."""
    text = (REPO / "docs" / "API.md").read_text(encoding="utf-8")
    section = text.split("### Checking a signature", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 12  # the promise: about ten lines
    namespace: dict = {}
    exec(code, namespace)
    return namespace["wtf_signature_ok"]


def signature_ok(delivery) -> bool:
    return documented_verifier()(SECRET, delivery.headers, delivery.body)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", width=160, height=284, duration=1)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(
        tmp_path, env={**FAST_RETRIES, "WTF_WEBHOOK_RETRY_DELAYS": "0.5,0.5,0.5,0.5,0.5"}
    ).start()
    yield running
    running.stop()


def submit(server: Server, clip: Path, webhook_url: str) -> str:
    payload = {"upload_id": server.upload(clip), "brands": ["watchthefall"], "webhook_url": webhook_url}
    answer = server.call("POST", "/api/videos/process", json=payload)
    assert answer.status_code == 202, answer.text
    return answer.json()["job"]["id"]


def settled(server: Server, job_id: str) -> dict:
    """The job once its webhook is no longer pending."""
    return server.wait(
        job_id, until=lambda job: job["webhooks"] and job["webhooks"][0]["status"] != "pending"
    )


def test_a_completed_job_is_delivered_once_signed(server: Server, clip: Path) -> None:
    with Receiver() as receiver:
        job_id = submit(server, clip, receiver.url)
        job = settled(server, job_id)
        time.sleep(2)  # two more passes of every sender: a repeat would arrive now
        (delivery,) = receiver.received
    assert signature_ok(delivery)
    assert delivery.headers["X-WTF-Event"] == "job.completed"
    body = json.loads(delivery.body)
    assert body["event"] == "job.completed"
    assert (body["job"]["id"], body["job"]["status"]) == (job_id, "completed")
    assert [o["filename"] for o in body["job"]["outputs"]] == [o["filename"] for o in job["outputs"]]
    (record,) = job["webhooks"]
    assert delivery.headers["X-WTF-Delivery"] == record["id"]
    assert (record["status"], record["attempts"], record["last_status"]) == ("delivered", 1, 200)
    # the signed output link in the delivery opens without the key
    link = body["job"]["outputs"][0]["url"]
    opened = server.call("GET", link, headers={"X-Portal-Key": ""})
    assert opened.status_code == 200 and opened.content[4:8] == b"ftyp"


def test_a_failed_and_a_cancelled_job_are_delivered_once_each(server: Server, site: Site) -> None:
    with Receiver() as receiver:
        # the receiver answers GET with 501: the download fails, and WTF_MAX_ATTEMPTS=1 ends the job;
        # fetch (v3's route) answers when it has
        fetch = {"urls": [receiver.url + "/clip.mp4"], "webhook_url": receiver.url}
        answer = server.call("POST", "/api/videos/fetch", json=fetch)
        assert answer.status_code == 200 and answer.json()["successful"] == 0, answer.text
        failed = settled(server, answer.json()["results"][0]["job_id"])
        # the site waits 5 s before answering this link: the job is queued or downloading when cancelled,
        # however fast the machine (a render of a clip can end first)
        slow = {"url": f"{site.url}/slow.mp4?hooks", "brands": ["watchthefall"], "webhook_url": receiver.url}
        cancelled_id = server.call("POST", "/api/videos/process", json=slow).json()["job"]["id"]
        assert server.call("POST", f"/api/jobs/{cancelled_id}/cancel").status_code == 202
        cancelled = settled(server, cancelled_id)
        time.sleep(2)
        deliveries = {json.loads(d.body)["job"]["id"]: d for d in receiver.received}
    assert len(receiver.received) == 2 and set(deliveries) == {failed["id"], cancelled_id}
    assert (failed["status"], cancelled["status"]) == ("failed", "cancelled")
    for job in (failed, cancelled):
        delivery = deliveries[job["id"]]
        body = json.loads(delivery.body)
        assert body["event"] == delivery.headers["X-WTF-Event"] == f"job.{job['status']}"
        assert body["job"]["error"] == job["error"] and signature_ok(delivery)


def test_a_failing_receiver_gets_three_tries(server: Server, clip: Path) -> None:
    with Receiver(statuses=[500, 500]) as receiver:
        job = settled(server, submit(server, clip, receiver.url))
        time.sleep(2)
        tries = receiver.received
    assert len(tries) == 3
    assert len({t.headers["X-WTF-Delivery"] for t in tries}) == 1  # one delivery, tried three times
    assert len({t.body for t in tries}) == 1 and all(signature_ok(t) for t in tries)
    (record,) = job["webhooks"]
    assert (record["status"], record["attempts"], record["last_status"]) == ("delivered", 3, 200)


def _worker(data_dir: Path, env: dict) -> subprocess.Popen:
    full = {**os.environ, "WTF_PORTAL_KEY": KEY, "WTF_SECRET_KEY": "s" * 32, "WTF_DATA_DIR": str(data_dir),
            "WTF_BRAND_CONFIG": str(REPO / "brand_config.json"), **env}  # fmt: skip
    log = (data_dir / "worker.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "portal", "worker"], cwd=REPO, env=full, stdout=log,
                            stderr=log, start_new_session=True)  # fmt: skip


def test_a_worker_restart_between_tries_loses_no_delivery(tmp_path: Path, clip: Path) -> None:
    env = {**FAST_RETRIES, "WTF_EMBEDDED_WORKER": "0", "WTF_WEBHOOK_RETRY_DELAYS": "5"}
    server = Server(tmp_path, env=env).start()
    worker = _worker(tmp_path, env)
    try:
        with Receiver(statuses=[500]) as receiver:
            job_id = submit(server, clip, receiver.url)
            receiver.wait_for(1)
            # the first try's answer recorded (the worker writes it just after the receiver answers)
            server.wait(job_id, until=lambda job: job["webhooks"] and job["webhooks"][0]["attempts"] == 1)
            os.killpg(worker.pid, signal.SIGKILL)  # a crash, not a graceful stop
            worker.wait(timeout=10)
            (record,) = server.job(job_id)["webhooks"]
            assert (record["status"], record["attempts"]) == ("pending", 1)  # the second try is owed
            worker = _worker(tmp_path, env)
            job = settled(server, job_id)
            tries = receiver.received
        assert len(tries) == 2 and tries[0].headers["X-WTF-Delivery"] == tries[1].headers["X-WTF-Delivery"]
        assert job["webhooks"][0]["status"] == "delivered" and job["webhooks"][0]["attempts"] == 2
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        server.stop()
