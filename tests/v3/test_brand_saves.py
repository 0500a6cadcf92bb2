"""Saves of the brand config at the same moment (v3's route and the dashboard's editor) lose none."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from flask import Flask

from tests.apptools import signed_in_client
from tests.v3.conftest import AUTH

ROUNDS = 6


def test_concurrent_saves_of_different_brands_and_fields_are_all_kept(app: Flask, brand_dir: Path) -> None:
    def v3_save(brand: str, field: str, value: float) -> int:
        body = {field: value}
        return app.test_client().post(f"/api/brands/{brand}/config", json=body, headers=AUTH).status_code

    def dashboard_save(number: int) -> int:
        brand = {"name": f"New {number}", "layers": [{"text": f"@new{number}", "position": "bottom"}]}
        answer = signed_in_client(app).post(
            f"/brands/new{number}", data={"brand": json.dumps(brand)}, content_type="multipart/form-data"
        )
        return answer.status_code

    saves = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for n in range(ROUNDS):
            saves.append(pool.submit(v3_save, "watchthefall", "logo_scale", 0.2 + n / 100))
            saves.append(pool.submit(v3_save, "fallclips", "text_size", 40 + n))
            saves.append(pool.submit(v3_save, "dailyfails", "logo_padding", 10 + n))
            saves.append(pool.submit(dashboard_save, n))
    assert [save.result() for save in saves] == [200] * len(saves)

    client = app.test_client()
    config = {
        name: client.get(f"/api/brands/{name}/config", headers=AUTH).json["config"]
        for name in ("watchthefall", "fallclips", "dailyfails")
    }
    # each brand keeps its field from one of the saves (all of them were answered 200)
    assert 0.2 <= config["watchthefall"]["logo_scale"] < 0.2 + ROUNDS / 100
    assert 40 <= config["fallclips"]["text_size"] < 40 + ROUNDS
    assert 10 <= config["dailyfails"]["logo_padding"] < 10 + ROUNDS
    saved = json.loads((brand_dir / "brand_config.json").read_text())["brands"]
    assert {f"new{n}" for n in range(ROUNDS)} <= set(saved)  # every new brand is there
