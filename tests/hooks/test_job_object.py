"""The JOB object a worker builds for a webhook is the API's: same links, same model."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask import Flask, url_for

from portal.storage.links import EXPIRES, signed_link, signer_for
from portal.web.links import link_signer, signed_download_url


def test_the_app_free_link_is_the_download_route(app: Flask) -> None:
    name = "clip one-1a2b3c4d_watchthefall.mp4"
    with app.test_request_context():
        route = url_for("api.download", filename=name)
        assert urlsplit(signed_link(link_signer(), name)).path == route
        # the worker's signer (settings alone) signs exactly as the app's does. The expiry is rounded up to
        # the minute: two links made either side of a minute's end differ in it, so such a pair is made again.
        settings = app.extensions["runtime"].settings
        for _attempt in range(2):
            worker_link, app_link = signed_link(signer_for(settings), name), signed_download_url(name)
            if _expires(worker_link) == _expires(app_link):
                break
        assert worker_link == app_link


def _expires(link: str) -> str:
    return parse_qs(urlsplit(link).query)[EXPIRES][0]


def test_a_worker_signed_link_opens_without_the_key(app: Flask) -> None:
    settings = app.extensions["runtime"].settings
    settings.outputs_dir.mkdir(parents=True, exist_ok=True)
    (settings.outputs_dir / "out.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    answer = app.test_client().get(signed_link(signer_for(settings), "out.mp4"))
    assert answer.status_code == 200 and answer.data[4:8] == b"ftyp"
