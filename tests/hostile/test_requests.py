"""What a request may be and who sent it, through the real app (issue 10, items 3, 5, 7, 8, 11, 12)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

from portal.web.auth import limiter
from tests.apptools import make_app
from tests.web.server import KEY

AUTH = {"X-Portal-Key": KEY}


@pytest.fixture(autouse=True)
def _fresh_limiter() -> None:
    limiter._failures.clear()  # one process-wide limiter: each test starts with no failures counted


def _csrf(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page)[1]


def _sign_in(client: FlaskClient, next_path: str = "") -> str:
    token = _csrf(client)
    query = f"?next={next_path}" if next_path else ""
    response = client.post(f"/login{query}", data={"csrf_token": token, "key": KEY})
    assert response.status_code == 302
    return response.headers["Location"]


@pytest.mark.parametrize("target", ["/%09/evil.example/phish", "//evil.example", "/\\evil.example",
                                    "https://evil.example", "/%0d%0a/evil.example"])  # fmt: skip
def test_sign_in_never_sends_the_browser_to_another_site(app: Flask, target: str) -> None:
    home = _sign_in(app.test_client())
    assert _sign_in(app.test_client(), target) == home and home.startswith("/") and "evil" not in home


def test_sign_in_returns_to_the_page_asked_for(app: Flask) -> None:
    assert _sign_in(app.test_client(), "/brands") == "/brands"


def test_sign_out_ends_the_session_even_for_a_copied_cookie(app: Flask) -> None:
    client = app.test_client()
    home = _sign_in(client)
    cookie = client.get_cookie("session").value
    assert client.get(home).status_code == 200
    assert client.post("/logout", data={"csrf_token": _csrf(client, home)}).status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", cookie)
    assert replay.get(home).status_code == 302  # back to the sign-in page
    assert replay.get("/api/jobs").status_code == 401


def test_a_new_portal_key_ends_every_session(tmp_path: Path) -> None:
    old = make_app(tmp_path / "data")
    client = old.test_client()
    _sign_in(client)
    cookie = client.get_cookie("session").value
    new = make_app(tmp_path / "data", portal_key="a-brand-new-portal-key")
    replay = new.test_client()
    replay.set_cookie("session", cookie)  # same WTF_SECRET_KEY, so the signature still verifies
    assert replay.get("/api/jobs").status_code == 401


def test_sign_out_on_one_web_replica_ends_the_session_on_the_others(tmp_path: Path) -> None:
    shared = {"database_url": f"sqlite:///{tmp_path / 'shared.db'}"}  # one database, two data folders
    first, second = make_app(tmp_path / "web1", **shared), make_app(tmp_path / "web2", **shared)
    client = first.test_client()
    home = _sign_in(client)
    elsewhere = second.test_client()
    elsewhere.set_cookie("session", client.get_cookie("session").value)  # the load balancer's next pick
    assert elsewhere.get(home).status_code == 200
    assert elsewhere.post("/logout", data={"csrf_token": _csrf(elsewhere, home)}).status_code == 302
    assert client.get("/api/jobs").status_code == 401  # signed out on the other replica: out here too


def test_a_wiped_state_accepts_no_older_cookie(tmp_path: Path) -> None:
    """An ephemeral disk (Render's free plan) loses the database at a restart: no cookie signed before it
    (never signed out, same keys) may come back to life."""
    before = make_app(tmp_path / "before")
    client = before.test_client()
    _sign_in(client)
    after = make_app(tmp_path / "after")  # same portal key and secret key, fresh data folder
    replay = after.test_client()
    replay.set_cookie("session", client.get_cookie("session").value)
    assert client.get("/api/jobs").status_code == 200 and replay.get("/api/jobs").status_code == 401


def test_the_right_key_is_let_in_after_many_wrong_ones(app: Flask) -> None:
    client = app.test_client()
    codes = [client.get("/api/jobs", headers={"X-Portal-Key": f"wrong{i}"}).status_code for i in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    limited = client.get("/api/jobs", headers={"X-Portal-Key": "wrong-again"})
    assert limited.json["error"]["code"] == "too_many_attempts"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert client.get("/api/jobs", headers=AUTH).status_code == 200
    token = _csrf(client)
    refused = client.post("/login", data={"csrf_token": token, "key": "wrong"})
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert client.post("/login", data={"csrf_token": token, "key": KEY}).status_code == 302


def test_behind_a_trusted_proxy_each_client_counts_alone(tmp_path: Path) -> None:
    client = make_app(tmp_path / "data", trusted_proxies=1).test_client()
    attacker = {"X-Forwarded-For": "203.0.113.7", "X-Portal-Key": "wrong"}
    assert [client.get("/api/jobs", headers=attacker).status_code for _ in range(11)][-1] == 429
    # someone else behind the same proxy, who mistypes the key once
    typo = client.get("/api/jobs", headers={"X-Forwarded-For": "198.51.100.2", "X-Portal-Key": "typo"})
    assert typo.status_code == 401


def test_without_trusted_proxies_forwarded_headers_are_ignored(app: Flask) -> None:
    client = app.test_client()
    for i in range(10):  # a new forged address each time does not reset the count
        client.get("/api/jobs", headers={"X-Forwarded-For": f"203.0.113.{i}", "X-Portal-Key": "wrong"})
    assert (
        client.get("/api/jobs", headers={"X-Forwarded-For": "198.51.100.9", "X-Portal-Key": "x"}).status_code
        == 429
    )


def test_the_scheme_and_address_come_from_the_trusted_proxy(tmp_path: Path) -> None:
    app = make_app(tmp_path / "data", trusted_proxies=1)
    seen = {}

    @app.get("/probe-request")
    def _probe() -> dict:
        seen.update(scheme=request.scheme, address=request.remote_addr)
        return {}

    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.1, 198.51.100.4"}
    app.test_client().get("/probe-request", headers=forwarded)
    assert seen == {"scheme": "https", "address": "198.51.100.4"}  # the last hop: what the proxy saw


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ('{"url": "http://[::1/", "brands": ["watchthefall"]}', 422),
        ("[" * 100_000 + "]" * 100_000, 400),
        ('{"brands": ["watchthefall"], "url": "' + "a" * 2_000_000 + '"}', 413),
    ],
    ids=["broken-ipv6-link", "nested-100000-deep", "2-MB-json"],
)
def test_bad_json_bodies_are_4xx_json(app: Flask, body: str, status: int) -> None:
    response = app.test_client().post(
        "/api/videos/process", data=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code in (status, 415) and response.status_code < 500
    assert response.json["error"]["code"]


def test_a_rejected_long_brand_name_is_not_echoed_whole(app: Flask) -> None:
    name = "x" * 100_000
    payload = {"url": "https://example.com/v", "brands": [name]}
    response = app.test_client().post("/api/videos/process", json=payload, headers=AUTH)
    assert response.status_code == 422 and len(response.get_data()) < 2_000


def test_readyz_shows_no_server_path_without_the_key(app: Flask, tmp_path: Path) -> None:
    client = app.test_client()
    anonymous = client.get("/readyz")
    assert anonymous.status_code == 200 and str(tmp_path) not in anonymous.get_data(as_text=True)
    assert str(tmp_path) in client.get("/readyz", headers=AUTH).get_data(as_text=True)


def test_debug_env_hides_passwords_in_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://wtf:p@ss@word@db.internal:5432/wtf?password=hunter2&sslmode=require"
    monkeypatch.setenv("WTF_DATABASE_URL", url)
    app = make_app(tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'portal.db'}")
    text = app.test_client().get("/api/debug/env", headers=AUTH).get_data(as_text=True)
    assert "hunter2" not in text and "p@ss" not in text and "ss@word" not in text and "word@" not in text
    assert "postgresql://***@db.internal:5432/wtf?password=***&sslmode=require" in text
