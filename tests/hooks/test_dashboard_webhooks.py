"""The dashboard shows a job's webhook deliveries (real Chromium against the real service)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import browser, screenshot  # noqa: F401  (real Chromium)
from tests.browser.test_dashboard import sign_in
from tests.hooks.conftest import SECRET
from tests.hooks.receiver import Receiver
from tests.mediagen import make_clip
from tests.web.server import Server

pytestmark = pytest.mark.browser


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Server]:
    env = {"WTF_WEBHOOK_SECRET": SECRET, "WTF_ALLOW_PRIVATE_URLS": "1", "WTF_WEBHOOK_RETRY_DELAYS": "1,1"}
    running = Server(tmp_path, env=env).start()
    yield running
    running.stop()


def test_a_job_shows_how_its_webhook_went(browser, service: Server, tmp_path: Path) -> None:  # noqa: F811
    clip = make_clip(tmp_path / "clip.mp4", width=160, height=284, duration=1)
    with Receiver(statuses=[500]) as receiver:
        payload = {"upload_id": service.upload(clip), "brands": ["watchthefall"], "webhook_url": receiver.url}
        job_id = service.call("POST", "/api/videos/process", json=payload).json()["job"]["id"]
        context = browser.new_context(base_url=service.url, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        try:
            sign_in(page)
            delivery = page.locator(f"#job-{job_id} li.webhook")
            # first the failed try is shown, then (refreshed by the page itself) the delivery
            delivery.and_(page.locator("[data-status=delivered]")).wait_for(timeout=120_000)  # a bound
            text = delivery.inner_text()
            assert "job.completed" in text and "delivered (HTTP 200, 2 tries)" in text
            assert receiver.url.split("/")[2] in text
            screenshot(page, "dashboard-webhook")
        finally:
            context.close()
