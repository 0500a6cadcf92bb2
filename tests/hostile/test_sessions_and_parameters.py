"""A session is born with its CSRF token and an empty token never matches; every answer carries the security
headers; and no number or date a client can send answers 500 (property-based, over the routes' parameters).
"""

from __future__ import annotations

import base64
import json
import math
import shutil
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.web.headers import security_headers
from tests.apptools import make_app
from tests.conftest import REPO
from tests.web.server import KEY

API = {"X-Portal-Key": KEY}


def _signed_in(app: Flask):
    """A browser that opened the sign-in page and signed in: nothing else fetched since."""
    client = app.test_client()
    client.get("/login")
    with client.session_transaction() as session:
        token = session["csrf_token"]
    assert client.post("/login", data={"key": KEY, "csrf_token": token}).status_code == 302
    return client


def test_a_session_gets_its_csrf_token_at_sign_in(app: Flask) -> None:
    client = _signed_in(app)
    with client.session_transaction() as session:
        token = session["csrf_token"]
    assert len(token) >= 32
    for sent in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "wrong"}):
        refused = client.post("/api/jobs/nojob/cancel", headers=sent)
        assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "csrf_failed"
    accepted = client.post("/api/jobs/nojob/cancel", headers={"X-CSRF-Token": token})
    assert accepted.status_code == 404  # past the CSRF check: the job does not exist


def test_an_empty_kept_token_never_matches_an_empty_sent_one(app: Flask) -> None:
    client = _signed_in(app)
    with client.session_transaction() as session:
        session["csrf_token"] = ""  # a session from before tokens were drawn at sign-in
    for sent in ({}, {"X-CSRF-Token": ""}):
        assert client.post("/api/jobs/nojob/cancel", headers=sent).status_code == 403
        assert client.post("/brands/x/delete", headers=sent).status_code == 400


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/login", {}),
        ("/", {}),  # a redirect to the sign-in page
        ("/healthz", {}),
        ("/api/jobs", API),
        ("/api/jobs/nojob", API),  # an error answer
        ("/static/app.js", {}),
        ("/api/videos/download/x.mp4?expires=1&signature=x", {}),
    ],
)
def test_every_answer_carries_the_security_headers(app: Flask, path: str, headers: dict) -> None:
    answer = app.test_client().get(path, headers=headers)
    for name, value in security_headers().items():
        assert answer.headers.get_all(name) == [value], (path, name)
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


def test_the_pages_have_no_inline_script_or_handlers() -> None:
    """What the policy forbids is not in the templates: scripts come from /static, data in JSON blocks."""
    templates = Path(__file__).resolve().parents[2] / "portal" / "templates"
    for template in templates.glob("*.html"):
        text = template.read_text()
        for tag in text.split("<script")[1:]:
            opening = tag.split(">", 1)[0]
            assert "src=" in opening or 'type="application/json"' in opening, (template.name, opening)
        assert " onclick=" not in text and " onload=" not in text and "javascript:" not in text, template.name


# --- numbers and dates from clients ---------------------------------------------------------------------

# Text that looks like a number to some parser: Unicode digits, signs, exponents, huge digit runs.
NUMBERISH = st.one_of(
    st.text(
        alphabet=st.sampled_from("0123456789\u00b2\u00b3\u00b9\u0661\u0662\u07c0\u0966-+.eE _xX\x00"),
        max_size=40,
    ),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.integers(min_value=4000, max_value=6000).map(lambda n: "9" * n),
    st.text(max_size=20),
)
DATEISH = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.text(alphabet=st.sampled_from("0123456789-:T.+Z "), max_size=40),
    st.text(max_size=20),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | DATEISH,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


CURSOR = st.one_of(
    st.tuples(DATEISH, st.text(max_size=10)).map(lambda pair: _cursor(list(pair))),
    JSONISH.map(_cursor),
    # JSON nested deeper than the parser recurses
    st.integers(min_value=1, max_value=5000).map(
        lambda depth: base64.urlsafe_b64encode(b"[" * depth + b"]" * depth).decode()
    ),
    st.text(max_size=30),
)
PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip


@PROPERTY_SETTINGS
@given(expires=NUMBERISH, signature=st.text(max_size=50))
def test_a_signed_links_expiry_never_answers_500(app: Flask, expires: str, signature: str) -> None:
    answer = app.test_client().get(
        "/api/videos/download/out.mp4", query_string={"expires": expires, "signature": signature}
    )
    assert answer.status_code == 403, (expires, answer.status_code)


@PROPERTY_SETTINGS
@given(limit=NUMBERISH, cursor=CURSOR, status=st.text(max_size=12))
def test_job_pages_never_answer_500(app: Flask, limit: str, cursor: str, status: str) -> None:
    answer = app.test_client().get(
        "/api/jobs", query_string={"limit": limit, "cursor": cursor, "status": status}, headers=API
    )
    assert answer.status_code in (200, 400), (limit, cursor, status, answer.get_data(as_text=True)[:300])


def _header_value(text: str) -> bool:
    return not any(c in text for c in "\r\n\x00")  # what HTTP can carry in a header at all


@PROPERTY_SETTINGS
@given(byte_range=st.one_of(NUMBERISH.map(lambda n: f"bytes={n}"), NUMBERISH.map(lambda n: f"bytes=0-{n}"))
       .filter(_header_value), since=DATEISH.filter(_header_value))  # fmt: skip
def test_ranges_and_dates_on_a_download_never_answer_500(app: Flask, byte_range: str, since: str) -> None:
    outputs = Path(app.extensions["runtime"].settings.outputs_dir)
    outputs.mkdir(parents=True, exist_ok=True)
    (outputs / "out.mp4").write_bytes(b"0123456789" * 10)
    answer = app.test_client().get(
        "/api/videos/download/out.mp4",
        headers={**API, "Range": byte_range, "If-Modified-Since": since, "If-Range": since},
    )
    assert answer.status_code in (200, 206, 304, 416), (byte_range, since, answer.status_code)


@pytest.fixture
def own_brands_app(tmp_path: Path) -> Flask:
    """The app on its own copy of the brands: the v3 route below saves what it accepts."""
    shutil.copy(REPO / "brand_config.json", tmp_path / "brand_config.json")
    shutil.copytree(REPO / "brands", tmp_path / "brands")
    return make_app(tmp_path / "data", brand_config=tmp_path / "brand_config.json")


V3_NUMBERS = (
    "watermark_scale",
    "watermark_opacity",
    "logo_scale",
    "logo_padding",
    "text_size",
    "text_margin",
)


@PROPERTY_SETTINGS
@given(
    field=st.sampled_from(V3_NUMBERS),
    value=st.one_of(
        st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -0.0]),
        st.floats(),
        st.integers(min_value=-(10**40), max_value=10**40),
        NUMBERISH,
    ),
)
def test_v3_settings_numbers_never_answer_500(own_brands_app: Flask, field: str, value: object) -> None:
    body = json.dumps({field: value})  # Infinity and NaN as Python's json writes (and reads) them
    answer = own_brands_app.test_client().post(
        "/api/brands/fallclips/config", data=body, headers={**API, "Content-Type": "application/json"}
    )
    assert answer.status_code < 500, (field, value, answer.get_data(as_text=True)[:300])
