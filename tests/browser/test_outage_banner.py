"""The dashboard while the database is down (issue 29): a banner, not an error page, and it recovers by
itself when the database is back (real Chromium, the real service on a real PostgreSQL that is stopped)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.test_dashboard import sign_in
from tests.conftest import PostgresServer
from tests.web.server import Server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer.started() as server:
        yield server


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("data"), env={"WTF_DATABASE_URL": f"{postgres.url}/postgres"})
    yield running.start()
    running.stop()


def test_a_banner_while_the_database_is_down_then_the_page_recovers(page, postgres: PostgresServer) -> None:
    sign_in(page)
    page.get_by_role("button", name="Brand it").wait_for()
    banner = page.locator("#outage")
    assert banner.is_hidden()

    postgres.stop()
    try:
        page.locator("#status-filter").select_option("failed")  # the page asks the API for jobs
        banner.wait_for(state="visible")
        assert "database is unreachable" in banner.inner_text()
        assert page.get_by_role("button", name="Brand it").is_visible()  # the page stays usable
    finally:
        postgres.start()
    banner.wait_for(state="hidden")  # it checked again by itself

    postgres.stop()
    try:
        page.reload()  # a page that cannot be built without the database: a banner that retries
        page.get_by_text("This page tries again by itself").wait_for()
        assert "database is unreachable" in page.locator("main").inner_text()
    finally:
        postgres.start()
    page.get_by_role("button", name="Brand it").wait_for()  # reloaded by itself once it was back

    # what the browser saw while the database was down were 503s (and the console's note of them)
    for problem in page.problems:
        assert problem.startswith("503 ") or "status of 503" in problem, problem
    page.problems.clear()
