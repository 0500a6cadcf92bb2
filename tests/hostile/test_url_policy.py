"""One URL check, IPv4 inside IPv6 unwrapped (issue 10, items 7 and 10). No traffic leaves this
machine: refusals are checked at submission, by the app with no worker running, and on addresses."""

from __future__ import annotations

import ipaddress

import pytest
from flask import Flask

from portal.acquire.downloader import UrlRefusedError, address_refused, check_url
from tests.web.server import KEY

WRAPPED_PRIVATE = {
    "2002:7f00:1::": "6to4 of 127.0.0.1",
    "2002:a9fe:a9fe::": "6to4 of 169.254.169.254 (cloud metadata)",
    "2002:a00:1::": "6to4 of 10.0.0.1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2": "Teredo",
    "64:ff9b::7f00:1": "NAT64 of 127.0.0.1",
    "64:ff9b::a9fe:a9fe": "NAT64 of the metadata address",
    "64:ff9b:1::c0a8:101": "local-use NAT64 of 192.168.1.1",
    "::ffff:127.0.0.1": "IPv4-mapped loopback",
    "::169.254.169.254": "IPv4-compatible metadata address",
    "::1": "loopback",
}
PUBLIC = ("2002:808:808::", "64:ff9b::808:808", "::ffff:8.8.8.8", "2606:4700:4700::1111", "8.8.8.8")


@pytest.mark.parametrize("address", WRAPPED_PRIVATE, ids=WRAPPED_PRIVATE.values())
def test_ipv6_that_leads_to_a_private_ipv4_is_refused(address: str) -> None:
    assert address_refused(ipaddress.ip_address(address))
    with pytest.raises(UrlRefusedError):
        check_url(f"http://[{address}]/clip.mp4", allow_private=False)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_and_their_ipv6_forms_pass(address: str) -> None:
    assert not address_refused(ipaddress.ip_address(address))


@pytest.mark.parametrize("url", ["http://[::1/", "http://example.com:99999/", "http://[2002:7f00:1::"])
def test_malformed_links_are_refused_not_crashed_on(url: str) -> None:
    with pytest.raises(UrlRefusedError, match="not a valid link"):
        check_url(url, allow_private=False)


def test_submission_refuses_wrapped_addresses_and_queues_nothing(app: Flask) -> None:
    client = app.test_client()
    auth = {"X-Portal-Key": KEY}
    for address in ("2002:7f00:1::", "2002:a9fe:a9fe::", "64:ff9b::a9fe:a9fe"):
        payload = {"url": f"http://[{address}]/latest/meta-data/", "brands": ["watchthefall"]}
        response = client.post("/api/videos/process", json=payload, headers=auth)
        assert response.status_code == 422 and response.json["error"]["code"] == "url_refused"
    assert client.get("/api/jobs", headers=auth).json["jobs"] == []
