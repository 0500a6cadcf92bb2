"""A brand's post text filled from what yt-dlp read on a page (DESIGN 4.14), against a loopback site."""

from __future__ import annotations

from pathlib import Path

from portal.acquire.downloader import DownloadOptions, download
from portal.brand_loader import parse_brand_config
from portal.library.post_text import post_text_for
from tests.download.conftest import Site

TEMPLATE = "{title} | via @{uploader}\n{url}\n\n{brand} {hashtags}"


def brand(tmp_path: Path):
    data = {"version": 2, "brands": {"scotland": {"name": "ScotlandWTF", "post_text": TEMPLATE,
                                                   "hashtags": ["fail", "#scotland"]}}}  # fmt: skip
    return parse_brand_config(data, tmp_path).find("scotland")


def test_post_text_credits_the_uploader_the_page_names(
    site: Site, options: DownloadOptions, tmp_path
) -> None:
    media = download(site.url + "/credited.html", options)
    meta = {key: value for key, value in media.as_dict().items() if key != "path"}
    assert post_text_for(brand(tmp_path), meta) == (
        f"Cat falls off the sofa | via @catlover99\n{site.url}/credited.html\n\nScotlandWTF #fail #scotland"
    )


def test_a_page_without_an_author_leaves_no_empty_credit(
    site: Site, options: DownloadOptions, tmp_path
) -> None:
    media = download(site.url + "/og.html", options)
    meta = {key: value for key, value in media.as_dict().items() if key != "path"}
    text = post_text_for(brand(tmp_path), meta)
    assert text == f"Falling cat\n{site.url}/og.html\n\nScotlandWTF #fail #scotland"
    assert "@" not in text and "|" not in text
