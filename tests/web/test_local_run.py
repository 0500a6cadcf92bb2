"""A local run (`make run`, run_portal.py) keeps its key and its brands in the data dir, across restarts."""

from __future__ import annotations

import hashlib
import re
import stat
import sys
from pathlib import Path

import requests

from tests.conftest import REPO
from tests.web.server import KEY, Server

SHIPPED = REPO / "brand_config.json"
KEY_LINE = re.compile(
    r"Portal key: (\S+)  \(kept in (\S+) and used again on every start; to use your own, set WTF_PORTAL_KEY\)"
)


def local_run(data: Path, **env: str | None) -> Server:
    """`python run_portal.py` as `make run` starts it: no key and no brand config unless given."""
    unset = {"WTF_PORTAL_KEY": None, "WTF_DEV_MODE": None, "WTF_BRAND_CONFIG": None}
    return Server(data, env={**unset, **env}, command=[sys.executable, "run_portal.py"]).start()


def key_lines(data: Path) -> list[tuple[str, str]]:
    return KEY_LINE.findall((data / "server.log").read_text())


def jobs_status(server: Server, key: str) -> int:
    return server.call("GET", "/api/jobs", headers={"X-Portal-Key": key}).status_code


def shipped_digest() -> str:
    return hashlib.sha256(SHIPPED.read_bytes()).hexdigest()


def test_restarted_local_run_accepts_the_same_key_and_keeps_its_brands(tmp_path: Path) -> None:
    shipped_before = shipped_digest()
    server = local_run(tmp_path)
    try:
        [(key, kept_in)] = key_lines(tmp_path)
        key_file = tmp_path / "portal-key"
        assert Path(kept_in).resolve() == key_file.resolve()
        assert key_file.read_text().strip() == key
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert jobs_status(server, key) == 200
        sign_in_page = requests.get(f"{server.url}/login", timeout=30).text
        assert f"keeps it in <code>{kept_in}</code>" in sign_in_page and "WTF_PORTAL_KEY" in sign_in_page

        # the brands are the data dir's own copy, seeded from the shipped file with its logos
        copy = tmp_path / "brands" / "brand_config.json"
        env = server.call("GET", "/api/debug/env", headers={"X-Portal-Key": key}).json()
        assert Path(env["settings"]["brand_config"]).resolve() == copy.resolve()
        brands = server.call("GET", "/api/brands", headers={"X-Portal-Key": key}).json()["brands"]
        ids = [brand["id"] for brand in brands]
        assert "fallclips" in ids and (tmp_path / "brands" / "brands" / "fallclips" / "logo.png").is_file()
        saved = server.call(
            "POST", "/api/brands/fallclips/config", json={"logo_scale": 0.3},
            headers={"X-Portal-Key": key},
        )  # fmt: skip
        assert saved.status_code == 200, saved.text
        assert shipped_digest() == shipped_before  # the checkout's tracked demo config is untouched
    finally:
        server.stop()

    server = local_run(tmp_path)
    try:
        assert key_lines(tmp_path) == [(key, kept_in)] * 2  # the same key, said again
        assert jobs_status(server, key) == 200
        look = server.call("GET", "/api/brands/fallclips/config", headers={"X-Portal-Key": key}).json()
        assert look["config"]["logo_scale"] == 0.3  # the saved brand, not a fresh seed
    finally:
        server.stop()

    # WTF_PORTAL_KEY still wins: the kept key opens nothing then, and no key line is printed
    server = local_run(tmp_path, WTF_PORTAL_KEY=KEY)
    try:
        assert jobs_status(server, KEY) == 200
        assert jobs_status(server, key) == 401
        assert len(key_lines(tmp_path)) == 2
    finally:
        server.stop()
    assert shipped_digest() == shipped_before
