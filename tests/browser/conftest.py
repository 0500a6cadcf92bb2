"""Real Chromium (Debian's) driven by Playwright against the real service."""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, require_program
from tests.download.conftest import site  # noqa: F401  (the loopback site, for link jobs)
from tests.web.server import Server

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    require_program("chromium", Path(CHROMIUM).exists())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The service with its own copy of the brands (the tests edit them) and links from loopback allowed."""
    data = tmp_path_factory.mktemp("data")
    config_dir = tmp_path_factory.mktemp("config")
    shutil.copy(REPO / "brand_config.json", config_dir / "brand_config.json")
    shutil.copytree(REPO / "brands", config_dir / "brands")
    env = {"WTF_BRAND_CONFIG": str(config_dir / "brand_config.json"), "WTF_ALLOW_PRIVATE_URLS": "1"}
    running = Server(data, env=env).start()
    yield running
    running.stop()


@contextlib.contextmanager
def watched_page(browser, service: Server, **context_args) -> Iterator:
    """A page of the service that records console errors and 5xx answers (`page.problems`); leaving the
    block fails the test if any happened."""
    context = browser.new_context(base_url=service.url, **context_args)
    # a bound for a busy machine, not a speed check: the brands page's nine FFmpeg previews take ~1.5 s here
    context.set_default_timeout(60_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 500 else None)
    page.problems = problems
    yield page
    context.close()
    assert problems == []


@pytest.fixture
def page(browser, service: Server) -> Iterator:
    """A desktop-sized watched page."""
    with watched_page(browser, service, viewport={"width": 1280, "height": 900}) as page:
        yield page


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def wait_until(page, expression: str, timeout_s: float = 60) -> None:
    """Wait until a JavaScript expression is true in the page. Playwright's wait_for_function runs its
    predicate through eval inside the page, which the dashboard's policy (no 'unsafe-eval') refuses;
    page.evaluate goes through the browser's debugger protocol, which the policy does not cover."""
    deadline = time.monotonic() + timeout_s  # a bound for a busy machine, not a speed check
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true within {timeout_s} s: {expression}"
        page.wait_for_timeout(100)
