"""The dashboard works under its Content-Security-Policy: every page of the daily flow, in real Chromium,
with the policy's violations recorded (none may happen) and its scripts and previews still running."""

from __future__ import annotations

import pytest

from portal.web.headers import content_security_policy
from tests.browser.conftest import wait_until
from tests.browser.test_dashboard import sign_in

pytestmark = pytest.mark.browser

RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation",
  (event) => window.cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`));
"""


def test_the_dashboard_runs_under_its_policy_with_no_violation(page) -> None:
    page.add_init_script(RECORD_VIOLATIONS)
    answer = page.goto("/login")
    assert answer.headers["content-security-policy"] == content_security_policy()
    assert (
        answer.headers["x-frame-options"] == "DENY" and answer.headers["x-content-type-options"] == "nosniff"
    )
    sign_in(page)
    page.get_by_role("button", name="Brand it").wait_for()  # app.js drew the form: the script ran
    assert page.evaluate("window.cspViolations") == []
    page.goto("/brands")
    wait_until(
        page,  # previews are fetched by the script and shown as blob: images
        "[...document.querySelectorAll('.previews img')].every(i => i.complete && i.naturalWidth > 0)",
    )
    assert page.evaluate("window.cspViolations") == []
