"""The dashboard's small things, in a real browser: paging back through jobs, a job's date, the brand form's
refusals (no layers, a bad id) said in words."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from tests.browser.test_dashboard import sign_in
from tests.download.conftest import Site
from tests.web.server import Server

pytestmark = pytest.mark.browser
PAGE_SIZE = 10  # jobs a page of the dashboard's list shows


def test_older_jobs_pages_back_once_and_each_job_shows_its_date(page, service: Server, site: Site) -> None:
    sign_in(page)
    more = page.get_by_role("button", name="Older jobs")
    page.locator("#status-filter").wait_for()
    assert not more.is_visible()  # nothing older than an empty list

    urls = [f"{site.url}/novideo.html?n={n}" for n in range(PAGE_SIZE + 2)]
    answer = service.call("POST", "/api/videos/process", json={"urls": urls, "brands": ["watchthefall"]})
    assert answer.status_code == 202, answer.text
    submitted = {job["id"]: job for job in answer.json()["jobs"]}
    for job_id in submitted:  # ended, so no live update adds a job to the list while the test reads it
        service.wait(job_id)

    page.reload()
    jobs = page.locator("li.job")
    jobs.nth(PAGE_SIZE - 1).wait_for()
    assert jobs.count() == PAGE_SIZE
    more.click()
    jobs.nth(PAGE_SIZE + 1).wait_for()
    assert not more.is_visible()  # the last page: nothing older to ask for
    ids = [item.get_attribute("id").removeprefix("job-") for item in jobs.all()]
    assert sorted(ids) == sorted(submitted)  # every job once, none repeated

    for item in jobs.all():
        when = item.locator("time")
        job = submitted[item.get_attribute("id").removeprefix("job-")]
        assert when.get_attribute("datetime") == job["created_at"]
        shown = when.inner_text()
        assert str(datetime.fromisoformat(job["created_at"].replace("Z", "+00:00")).year) in shown

    page.get_by_label("Show").select_option("cancelled")  # a filter with nothing in it
    jobs.first.wait_for(state="detached")
    assert not more.is_visible()


def new_brand_section(page):
    page.goto("/brands")
    return page.locator("section[data-brand='']")


def test_a_brand_with_no_layers_is_refused_with_the_reason(page, service: Server) -> None:
    config = Path(service.call("GET", "/api/debug/env").json()["settings"]["brand_config"])
    before = json.loads(config.read_text())
    sign_in(page)
    section = new_brand_section(page)
    section.get_by_label("Brand id").fill("bare")
    section.get_by_label("Display name").fill("Bare")
    for _ in range(2):  # a new brand starts with a logo and a handle
        section.locator("fieldset.layer").nth(0).get_by_role("button", name="Remove layer").click()
    section.get_by_role("button", name="Save brand").click()
    alert = section.get_by_role("alert")
    alert.wait_for()
    reason = alert.inner_text()
    assert "'bare' has no layers" in reason and "add an image or a text layer" in reason
    assert json.loads(config.read_text()) == before
    page.problems.clear()  # the 422 is the point


def test_a_bad_brand_id_says_what_is_allowed(page) -> None:
    sign_in(page)
    section = new_brand_section(page)
    field = section.get_by_label("Brand id")
    field.fill("-fall daily!")
    section.get_by_label("Display name").fill("Fall daily")
    section.get_by_role("button", name="Save brand").click()  # the browser stops it and says why
    message = field.evaluate("input => input.validationMessage")
    assert "letters, digits, - and _, starting with a letter or digit, up to 64 characters" in message
    assert "requested format" not in message
    rule = page.locator("#" + field.get_attribute("aria-describedby"))  # said before anyone gets it wrong
    assert rule.is_visible() and rule.inner_text().startswith("Letters, digits, - and _")
    field.fill("fall-daily_2")
    assert field.evaluate("input => input.checkValidity()")
    # the live preview of the half-typed id was refused too (422, said in the form): not a fault here
    page.problems[:] = [problem for problem in page.problems if not problem.startswith("console:")]
