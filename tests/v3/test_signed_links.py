"""Signed download links (DESIGN 4.7): work without the key until they expire; changed or expired is 403."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient

from portal.database import Job
from portal.storage.links import LinkSigner
from tests.v3.conftest import AUTH


def _output(client: FlaskClient, job: Job) -> dict:
    response = client.get(f"/api/jobs/{job.id}", headers=AUTH)
    assert response.status_code == 200
    (output,) = response.json["job"]["outputs"]
    return output


def test_output_url_works_without_the_key_with_range_etag_and_disposition(client, finished_job) -> None:
    output = _output(client, finished_job)
    whole = client.get(output["url"])
    assert whole.status_code == 200 and whole.mimetype == "video/mp4"
    assert len(whole.data) == output["size_bytes"]
    assert whole.headers["Content-Disposition"] == f"inline; filename={output['filename']}"
    part = client.get(output["url"], headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == whole.data[10:20]
    assert part.headers["Accept-Ranges"] == "bytes"
    assert client.get(output["url"], headers={"If-None-Match": whole.headers["ETag"]}).status_code == 304


def test_keyed_download_still_works_and_is_an_attachment(client, finished_job) -> None:
    name = _output(client, finished_job)["filename"]
    keyed = client.get(f"/api/videos/download/{name}", headers=AUTH)
    assert keyed.status_code == 200
    assert keyed.headers["Content-Disposition"] == f"attachment; filename={name}"
    assert client.get(f"/api/videos/download/{name}").status_code == 401


def test_a_changed_signature_or_name_is_403(client, finished_job, app) -> None:
    output = _output(client, finished_job)
    path, query = output["url"].split("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    tampered = {
        **params,
        "signature": params["signature"][:-2] + ("AA" if params["signature"][-2:] != "AA" else "BB"),
    }
    for url, kwargs in (
        (path, {"query_string": tampered}),
        (path, {"query_string": {**params, "expires": str(int(params["expires"]) + 3600)}}),
        (path.replace("watchthefall", "fallclips"), {"query_string": params}),
        (path, {"query_string": {"expires": params["expires"]}}),
    ):
        response = client.get(url, **kwargs)
        assert response.status_code == 403, (url, kwargs)
        assert response.json["error"]["code"] == "bad_signature"
    # a bad signature is refused even from a client that also sends the key
    assert client.get(path, query_string=tampered, headers=AUTH).status_code == 403


def test_an_expired_link_is_403(client, finished_job, app) -> None:
    name = _output(client, finished_job)["filename"]
    settings = app.extensions["runtime"].settings
    signer = LinkSigner(settings.secret_key, settings.link_ttl_hours)
    old = signer.query(name, now=time.time() - settings.link_ttl_hours * 3600 - 120)
    response = client.get(f"/api/videos/download/{name}", query_string=old)
    assert response.status_code == 403 and response.json["error"]["code"] == "link_expired"
    fresh = signer.query(name)
    assert client.get(f"/api/videos/download/{name}", query_string=fresh).status_code == 200


def test_expiry_follows_the_setting(client, finished_job) -> None:
    # the link is made between these two readings of the clock: 24 h later, rounded up to the minute
    before = time.time()
    expires = int(parse_qs(urlsplit(_output(client, finished_job)["url"]).query)["expires"][0])
    after = time.time()
    assert before + 24 * 3600 <= expires <= after + 24 * 3600 + 60


def test_a_signed_link_never_leaves_the_outputs_folder(client, app) -> None:
    settings = app.extensions["runtime"].settings
    signer = LinkSigner(settings.secret_key, settings.link_ttl_hours)
    (settings.data_dir / "portal.secret").write_text("no")
    for name in ("../portal.db", "../portal.secret", "%2e%2e/portal.db"):
        response = client.get(f"/api/videos/download/{name}", query_string=signer.query(name))
        assert response.status_code in (403, 404), name
        assert response.is_json
