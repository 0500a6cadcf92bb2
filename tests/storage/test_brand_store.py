"""Brands with object storage: apps and runtimes on separate data folders share them through the bucket
(moto's S3 server), seeded once, edited with conditional writes, cached per version on each machine."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image

from portal.brand_loader import TextLayer
from portal.brands.store import BUNDLE_AREA, BUNDLE_NAME, BucketBrandStore
from portal.brands.v3_import import V3_OUTPUT_HEIGHT, v3_settings
from portal.config import load_settings
from portal.runtime import Runtime
from tests import apptools
from tests.conftest import REPO
from tests.storage.s3server import BUCKET, S3Server
from tests.web.server import KEY

AUTH = {"X-Portal-Key": KEY}
PREFIX = "team"
BUNDLE_KEY = f"{PREFIX}/{BUNDLE_AREA}/{BUNDLE_NAME}"


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    """The config shipped in the image: a copy of the repository's brands (it must never be written)."""
    folder = tmp_path / "image"
    folder.mkdir()
    shutil.copy(REPO / "brand_config.json", folder / "brand_config.json")
    shutil.copytree(REPO / "brands", folder / "brands")
    return folder / "brand_config.json"


def make_app(data_dir: Path, seed: Path) -> Flask:
    return apptools.make_app(
        data_dir, storage_url=f"s3://{BUCKET}/{PREFIX}", brand_config=seed, embedded_worker=False
    )


def make_runtime(data_dir: Path, seed: Path) -> Runtime:
    """What a worker on another machine builds."""
    settings = load_settings(
        **{**apptools.TEST_SETTINGS, "data_dir": data_dir, "storage_url": f"s3://{BUCKET}/{PREFIX}",
           "brand_config": seed}
    )  # fmt: skip
    settings.ensure_dirs()
    return Runtime(settings)


def bucket_store(runtime: Runtime) -> BucketBrandStore:
    assert isinstance(runtime.brands, BucketBrandStore)
    return runtime.brands


def png(colour: tuple[int, int, int]) -> bytes:
    Image.new("RGBA", (64, 32), (*colour, 255)).save(buffer := io.BytesIO(), "PNG")
    return buffer.getvalue()


def v3_save(app: Flask, brand: str, **settings: object) -> None:
    answer = app.test_client().post(f"/api/brands/{brand}/config", json=settings, headers=AUTH)
    assert answer.status_code == 200, answer.get_json()


def test_a_dashboard_edit_with_a_new_logo_reaches_a_worker_on_another_machine(
    s3: S3Server, tmp_path: Path, seed: Path
) -> None:
    shipped = seed.read_text()
    app = make_app(tmp_path / "web", seed)
    worker = make_runtime(tmp_path / "worker", seed)
    before = worker.brands.current(max_age=0).find("watchthefall")  # the worker seeds the bucket
    assert s3.keys(f"{PREFIX}/{BUNDLE_AREA}/") == {BUNDLE_KEY: s3.keys()[BUNDLE_KEY]}

    logo = png((255, 0, 255))
    client = apptools.signed_in_client(app)
    uploaded = client.post(  # the image waits in the bucket's uploads until the brand is saved
        "/api/brands/watchthefall/assets", content_type="multipart/form-data",
        data={"file": (io.BytesIO(logo), "new logo.png")},
    )  # fmt: skip
    assert uploaded.status_code == 201, uploaded.get_json()
    name = uploaded.get_json()["asset"]["name"]
    assert s3.keys(f"{PREFIX}/uploads/").get(f"{PREFIX}/uploads/{name}")  # stored, not empty
    brand = {"name": "WatchTheFall 2", "layers": [{"image": f"asset:{name}", "position": "top-left"}]}
    answer = client.post(
        "/brands/watchthefall", content_type="multipart/form-data", data={"brand": json.dumps(brand)}
    )
    assert answer.status_code == 200, answer.get_json()

    assert worker.brands.current(max_age=60).find("watchthefall") == before  # cached until it asks again
    after = worker.brands.current(max_age=0).find("watchthefall")
    assert after.name == "WatchTheFall 2"
    [layer] = after.layers
    drawn = layer.image_for("vertical")
    assert drawn.is_relative_to(tmp_path / "worker" / "brand-cache")  # its own copy, on its own disk
    assert drawn.name.startswith("new_logo-")
    assert Image.open(drawn).tobytes() == Image.open(io.BytesIO(logo)).tobytes()  # a plain badge: kept whole
    # the other brands and their files came along; the shipped config was never written
    fallclips = worker.brands.current(max_age=0).find("fallclips")
    assert fallclips.asset_paths()[0].read_bytes() == (REPO / "brands/fallclips/logo.png").read_bytes()
    assert seed.read_text() == shipped
    assert not (seed.parent / "brands" / "watchthefall" / drawn.name).exists()


def test_v3_config_post_reaches_the_worker_and_a_restart_does_not_overwrite_it(
    s3: S3Server, tmp_path: Path, seed: Path
) -> None:
    assert s3.keys() == {}
    app = make_app(tmp_path / "web", seed)
    client = app.test_client()
    assert client.get("/api/brands", headers=AUTH).status_code == 200
    assert list(s3.keys()) == [BUNDLE_KEY], "the first reader seeds the empty bucket"

    v3_save(app, "fallclips", text_size=120)
    worker = make_runtime(tmp_path / "worker", seed)
    layers = worker.brands.current(max_age=0).find("fallclips").layers
    [text] = [layer for layer in layers if isinstance(layer, TextLayer)]
    assert text.size == pytest.approx(120 / V3_OUTPUT_HEIGHT, abs=1e-4)

    # a replica (or this one after a deploy) starts on an empty disk with the shipped config: it reads
    # the edit, it does not seed over it
    restarted = make_app(tmp_path / "web-after-deploy", seed).test_client()
    assert restarted.get("/api/brands/fallclips/config", headers=AUTH).json["config"]["text_size"] == 120

    etag = s3.client().head_object(Bucket=BUCKET, Key=BUNDLE_KEY)["ETag"]
    for path, report in (("/api/debug/brands", "source"), ("/__debug_brands", "source")):
        answer = restarted.get(path, headers=AUTH).json
        assert answer[report] | {"folder": None} == {
            "kind": "s3", "url": f"s3://{BUCKET}/{BUNDLE_KEY}", "bucket": BUCKET, "key": BUNDLE_KEY,
            "etag": etag, "folder": None,
        }  # fmt: skip
    assert client.get("/api/debug/brands", headers=AUTH).json["ok"] is True


def test_an_edit_based_on_a_stale_read_is_applied_again_not_lost(
    s3: S3Server, tmp_path: Path, seed: Path
) -> None:
    """App A saves (v3's route) after runtime B read the brands and before B writes: B's conditional
    write fails, B reads A's version and applies its change again. Without If-Match, A's edit is lost."""
    app = make_app(tmp_path / "a", seed)
    other = make_runtime(tmp_path / "b", seed)
    calls = []

    def rename_dailyfails(config):
        calls.append(config.find("fallclips"))
        if len(calls) == 1:
            v3_save(app, "fallclips", logo_scale=0.33)  # lands between B's read and B's write
        return config.with_brand(config.find("dailyfails").model_copy(update={"name": "Daily Fails B"}))

    saved = other.brands.update(rename_dailyfails)
    assert len(calls) == 2, "B's first write was refused and its change applied again"
    assert saved.find("dailyfails").name == "Daily Fails B"
    fresh = make_runtime(tmp_path / "c", seed).brands.current(max_age=0)
    assert fresh.find("dailyfails").name == "Daily Fails B"
    assert app.test_client().get("/api/brands/fallclips/config", headers=AUTH).json["config"][
        "logo_scale"
    ] == pytest.approx(0.33)
    assert v3_settings(fresh.find("fallclips"))["logo_scale"] == pytest.approx(0.33)


def test_saves_from_two_apps_at_the_same_moment_are_all_kept(
    s3: S3Server, tmp_path: Path, seed: Path
) -> None:
    apps = [make_app(tmp_path / "a", seed), make_app(tmp_path / "b", seed)]
    rounds = 4

    def dashboard_save(app: Flask, number: int) -> int:
        brand = {"name": f"New {number}", "layers": [{"text": f"@new{number}"}]}
        answer = apptools.signed_in_client(app).post(
            f"/brands/new{number}", data={"brand": json.dumps(brand)}, content_type="multipart/form-data"
        )
        return answer.status_code

    def v3_status(app: Flask, brand: str, value: float) -> int:
        body = {"logo_scale": value}
        return app.test_client().post(f"/api/brands/{brand}/config", json=body, headers=AUTH).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        saves = [pool.submit(dashboard_save, apps[n % 2], n) for n in range(rounds)]
        saves += [pool.submit(v3_status, apps[n % 2], "watchthefall", 0.2 + n / 100) for n in range(rounds)]
    assert [save.result() for save in saves] == [200] * len(saves)
    config = make_runtime(tmp_path / "c", seed).brands.current(max_age=0)
    assert {f"new{n}" for n in range(rounds)} <= set(config.brands)


def test_old_versions_are_removed_but_not_one_a_render_still_reads(
    s3: S3Server, tmp_path: Path, seed: Path
) -> None:
    app = make_app(tmp_path / "web", seed)
    worker = make_runtime(tmp_path / "worker", seed)
    cache = tmp_path / "worker" / "brand-cache"

    def versions() -> set[str]:
        return {entry.name for entry in cache.iterdir() if not entry.name.startswith(".")}

    with worker.brands.pinned(max_age=0) as rendering:
        first = rendering.source.parent.name
        # three new versions: the worker holds its last two, and the render holds the one it draws with
        for size in (50, 60, 70):
            v3_save(app, "fallclips", text_size=size)
            worker.brands.current(max_age=0)
        assert first in versions() and len(versions()) == 3
        assert all(path.is_file() for path in rendering.find("fallclips").asset_paths())
    v3_save(app, "fallclips", text_size=80)
    latest = worker.brands.current(max_age=0)
    assert first not in versions() and len(versions()) == 2
    assert latest.source.parent.name in versions()


def test_a_bundle_with_a_path_outside_its_folder_is_refused(s3: S3Server, tmp_path: Path, seed: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in (("brand_config.json", b'{"brands": {}}'), ("../escaped.png", png((0, 0, 0)))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    s3.client().put_object(Bucket=BUCKET, Key=BUNDLE_KEY, Body=buffer.getvalue())
    answer = make_app(tmp_path / "web", seed).test_client().get("/api/brands", headers=AUTH)
    assert answer.status_code == 503 and answer.json["error"]["code"] == "brand_config_invalid"
    assert "refused '../escaped.png'" in answer.json["error"]["message"]
    assert not list(tmp_path.rglob("escaped.png"))


def test_replicas_starting_together_do_not_seed_over_each_other(
    s3: S3Server, tmp_path: Path, seed: Path
) -> None:
    """Replica B finds the bucket empty, then replica A seeds it and saves an edit, then B seeds: B's
    create-only write fails and B serves A's brands, edit included. Without If-None-Match B's seed would
    replace them. B's config file is a named pipe, so B waits between its read and its write."""
    slow_seed = tmp_path / "image" / "slow_brand_config.json"
    os.mkfifo(slow_seed)
    replica_b = make_runtime(tmp_path / "b", slow_seed)
    with ThreadPoolExecutor(max_workers=1) as pool:
        starting = pool.submit(replica_b.brands.current, 0)
        writer, deadline = None, time.monotonic() + 60
        while writer is None:  # B opens the pipe once it has found no brands in the bucket
            assert not starting.done(), starting.result()
            assert time.monotonic() < deadline, "replica B never read its config"
            try:
                writer = os.open(slow_seed, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                assert exc.errno == errno.ENXIO  # no reader yet
                time.sleep(0.01)
        replica_a = make_app(tmp_path / "a", seed)
        v3_save(replica_a, "dailyfails", logo_scale=0.41)
        os.write(writer, seed.read_bytes())
        os.close(writer)
        served_by_b = starting.result(timeout=30)
    assert v3_settings(served_by_b.find("dailyfails"))["logo_scale"] == pytest.approx(0.41)
    fresh = make_runtime(tmp_path / "c", seed).brands.current(max_age=0)
    assert v3_settings(fresh.find("dailyfails"))["logo_scale"] == pytest.approx(0.41)


def test_without_object_storage_the_debug_routes_name_the_file(tmp_path: Path, seed: Path) -> None:
    client = apptools.make_app(tmp_path / "data", brand_config=seed, embedded_worker=False).test_client()
    for path in ("/api/debug/brands", "/__debug_brands"):
        assert client.get(path, headers=AUTH).json["source"] == {"kind": "file", "path": str(seed)}


def test_a_brand_deleted_in_the_dashboard_is_gone_for_the_worker_with_its_files(
    s3: S3Server, tmp_path: Path, seed: Path
) -> None:
    app = make_app(tmp_path / "web", seed)
    worker = make_runtime(tmp_path / "worker", seed)
    assert "dailyfails" in worker.brands.current(max_age=0).brands
    answer = apptools.signed_in_client(app).post("/brands/DailyFails/delete")
    assert answer.status_code == 200 and answer.get_json() == {"deleted": "dailyfails"}
    assert set(worker.brands.current(max_age=0).brands) == {"watchthefall", "fallclips"}
    bundle = s3.client().get_object(Bucket=BUCKET, Key=BUNDLE_KEY)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(bundle)) as tar:
        names = tar.getnames()
    assert sorted(names) == ["brand_config.json", "brands/fallclips/logo.png", "brands/watchthefall/logo.png"]
    assert (seed.parent / "brands" / "dailyfails" / "logo.png").is_file()  # the shipped files are the image's
