"""portal/storage/objects.py: both backends through one interface, the bucket served by moto's real server."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from portal.config import ConfigError, load_settings
from portal.database import utc_now
from portal.storage.objects import (
    MULTIPART_BYTES,
    OUTPUTS,
    UPLOADS,
    LocalStorage,
    MediaStorage,
    ObjectStorage,
    StoredFileMissingError,
    open_storage,
)
from tests.storage.s3server import BUCKET, S3Server


def make_storage(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, prefix: str = "team"
) -> MediaStorage:
    url = None
    if kind == "s3":
        request.getfixturevalue("s3")
        url = f"s3://{BUCKET}/{prefix}"
    settings = load_settings(data_dir=tmp_path / "data", storage_url=url)
    settings.ensure_dirs()
    return open_storage(settings)


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> MediaStorage:
    return make_storage(request.param, tmp_path, request)


def scratch_file(folder: Path, name: str, content: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


def test_store_read_list_delete(storage: MediaStorage, tmp_path: Path) -> None:
    source = scratch_file(tmp_path / "scratch", "clip.mp4", b"frames" * 1000)
    ref = storage.store(source, OUTPUTS)
    assert ref == storage.ref(OUTPUTS, "clip.mp4")
    assert not source.exists(), "the scratch copy is handed over, not left behind"
    assert storage.exists(ref) and not storage.exists(storage.ref(UPLOADS, "clip.mp4"))
    with storage.open(ref) as reader:
        assert reader.read() == b"frames" * 1000
    (listed,) = storage.list(OUTPUTS)
    assert (listed.ref, listed.name, listed.size) == (ref, "clip.mp4", 6000)
    assert abs(listed.modified - utc_now()) < timedelta(minutes=5)
    local = storage.local_copy(ref, tmp_path / "work")
    assert local.read_bytes() == b"frames" * 1000
    assert storage.delete(ref) == 6000
    assert not storage.exists(ref) and storage.delete(ref) == 0
    assert list(storage.list(OUTPUTS)) == []
    with pytest.raises(StoredFileMissingError):
        storage.local_copy(ref, tmp_path / "work")


def test_refs_tell_backends_apart(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    local = make_storage("local", tmp_path / "a", request)
    remote = make_storage("s3", tmp_path / "b", request)
    assert isinstance(local, LocalStorage) and isinstance(remote, ObjectStorage)
    assert local.ref(UPLOADS, "x.mp4") == str(tmp_path / "a" / "data" / "uploads" / "x.mp4")
    assert remote.ref(UPLOADS, "x.mp4") == f"s3://{BUCKET}/team/uploads/x.mp4"
    assert not remote.exists(local.ref(UPLOADS, "x.mp4")), "a local path is never taken for a key"


@pytest.mark.parametrize("name", ["../uploads/x.mp4", "a/b.mp4", ".x.mp4.part", "", "a\\b.mp4"])
def test_names_stay_in_their_area(storage: MediaStorage, name: str) -> None:
    with pytest.raises(StoredFileMissingError):
        storage.ref(OUTPUTS, name)


def test_large_file_goes_up_in_parts_and_comes_back_whole(s3: S3Server, tmp_path: Path, request) -> None:
    storage = make_storage("s3", tmp_path, request)
    content = os.urandom(MULTIPART_BYTES + 1_048_576)
    ref = storage.store(scratch_file(tmp_path / "scratch", "big.mp4", content), OUTPUTS)
    head = s3.client().head_object(Bucket=BUCKET, Key="team/outputs/big.mp4")
    assert head["ETag"].strip('"').endswith("-2"), "a multipart upload of two parts"
    assert head["ContentType"] == "video/mp4"
    assert storage.local_copy(ref, tmp_path / "work").read_bytes() == content
    assert s3.client().list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_presigned_link_serves_the_file_as_an_attachment(storage: MediaStorage, tmp_path: Path) -> None:
    ref = storage.store(scratch_file(tmp_path / "scratch", "clip.mp4", b"abc" * 100), OUTPUTS)
    url = storage.presigned_url(ref, "clip.mp4")
    if isinstance(storage, LocalStorage):
        assert url is None, "the web serves local files itself"
        return
    response = requests.get(url, timeout=10)
    assert response.status_code == 200 and response.content == b"abc" * 100
    assert response.headers["Content-Disposition"] == 'attachment; filename="clip.mp4"'
    tampered = url.replace("clip.mp4", "clop.mp4", 1)
    assert requests.get(tampered, timeout=10).status_code in (403, 404)


def test_half_done_upload_is_invisible_then_aborted(s3: S3Server, tmp_path: Path, request) -> None:
    storage = make_storage("s3", tmp_path, request)
    client = s3.client()
    key = "team/outputs/killed.mp4"
    upload = client.create_multipart_upload(Bucket=BUCKET, Key=key)
    client.upload_part(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=b"x" * 1024)
    assert not storage.exists(storage.ref(OUTPUTS, "killed.mp4"))
    assert list(storage.list(OUTPUTS)) == []
    # (moto reports every upload as initiated in 2010, so the age cut-off itself cannot be shown here)
    assert storage.abort_stale_uploads(utc_now() - timedelta(hours=1)) == 1
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_check_reports_the_bucket(s3: S3Server, tmp_path: Path, request) -> None:
    good = make_storage("s3", tmp_path / "a", request)
    assert good.check() == {"ok": True, "bucket": BUCKET, "prefix": "team", "endpoint": s3.endpoint}
    settings = load_settings(data_dir=tmp_path / "b", storage_url="s3://no-such-bucket")
    missing = open_storage(settings).check()
    assert missing["ok"] is False and missing["error"]


def test_check_fails_when_the_store_is_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    report = open_storage(load_settings(data_dir=tmp_path, storage_url=f"s3://{BUCKET}")).check()
    assert report["ok"] is False and "Could not connect" in report["error"]


@pytest.mark.parametrize("value", ["http://bucket", "s3://", "s3://Bad_Bucket/x", "bucket/prefix"])
def test_a_bad_storage_url_stops_start_up_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="WTF_STORAGE_URL"):
        load_settings(storage_url=value)
