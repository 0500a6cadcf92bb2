"""Real yt-dlp against a loopback server: what people paste, and how each failure reads."""

from __future__ import annotations

from dataclasses import replace

import pytest

from portal.downloader import (
    DownloadFailedError,
    DownloadOptions,
    NetworkError,
    TooLargeError,
    TooLongError,
    UnsupportedLinkError,
    UrlRefusedError,
    VideoUnavailableError,
    check_url,
    download,
    expand_playlist,
    store_cookies,
)
from portal.video_processor import probe_media
from tests.download.conftest import Site


@pytest.mark.parametrize("path", ["/clip.mp4", "/og.html", "/video.html", "/hls/index.m3u8", "/norange.mp4",
                                  "/r1"])  # fmt: skip
def test_links_people_paste_give_a_playable_file(path: str, site: Site, options: DownloadOptions) -> None:
    progress = []
    media = download(site.url + path, options, on_progress=lambda stage, pct: progress.append((stage, pct)))
    info = probe_media(media.path)
    assert (info.width, info.height) == (320, 568) and abs(info.duration - 1) < 0.1
    assert media.path.parent == options.cache_dir and media.extractor and media.video_id
    assert progress[-1] == ("downloading", 100.0)
    assert not [p for p in options.cache_dir.iterdir() if p.is_dir()]  # no work folders left


def test_page_metadata_is_kept(site: Site, options: DownloadOptions) -> None:
    media = download(site.url + "/og.html", options)
    assert media.title == "Falling cat" and media.original_url == site.url + "/og.html"
    assert media.as_dict()["path"] == str(media.path)


@pytest.mark.parametrize(("path", "error", "words"), [
    ("/missing.mp4", VideoUnavailableError, "unavailable"),
    ("/novideo.html", UnsupportedLinkError, "no video found"),
    ("/big.mp4", TooLargeError, "over the limit of 1 MB"),
    ("/long.mp4", TooLongError, "over the limit of 5 s"),
])  # fmt: skip
def test_permanent_failures_read_clearly_and_are_not_retried(path, error, words, site, options) -> None:
    with pytest.raises(error, match=words) as raised:
        download(site.url + path, options)
    assert not raised.value.transient and site.url + path in str(raised.value)
    assert [p.name for p in options.cache_dir.iterdir()] == []


def test_slow_server_times_out_as_a_transient_error_after_retries(
    site: Site, options: DownloadOptions
) -> None:
    with pytest.raises(NetworkError, match="timed out") as raised:
        download(site.url + "/slow.mp4", options)
    assert raised.value.transient


def test_same_video_is_reused_not_downloaded_again(site: Site, options: DownloadOptions) -> None:
    first = download(site.url + "/clip.mp4?reuse", options)
    first_requests = site.hits["/clip.mp4?reuse"]
    second = download(site.url + "/clip.mp4?reuse", options)
    assert not first.reused and second.reused and second.path == first.path
    # the second time yt-dlp only looks at the link (to learn its id); the file is not fetched again
    assert site.hits["/clip.mp4?reuse"] - first_requests < first_requests


@pytest.mark.parametrize("url", ["http://127.0.0.1/a.mp4", "http://localhost:8080/a.mp4",
                                 "http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/x.mp4",
                                 "http://[::1]/x.mp4"])  # fmt: skip
def test_private_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(UrlRefusedError, match="WTF_ALLOW_PRIVATE_URLS"):
        check_url(url, allow_private=False)
    check_url(url, allow_private=True)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://example.com/a.mp4", "javascript:alert(1)", "clip.mp4"]
)
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(UrlRefusedError, match="only http and https"):
        check_url(url, allow_private=True)


def test_policy_is_enforced_at_download_time_too(site: Site, options: DownloadOptions) -> None:
    with pytest.raises(UrlRefusedError):
        download(site.url + "/clip.mp4", replace(options, allow_private_urls=False))


def test_playlist_expansion_and_its_cap(site: Site, options: DownloadOptions) -> None:
    entries = expand_playlist(site.url + "/feed.xml", replace(options, playlist_limit=3))
    assert len(entries) == 3 and all("/clip.mp4?n=" in entry for entry in entries)
    assert expand_playlist(site.url + "/clip.mp4", options) == [site.url + "/clip.mp4"]
    media = download(entries[1], options)
    assert probe_media(media.path).width == 320


def test_cookies_file_is_validated_stored_private(tmp_path, site: Site, options: DownloadOptions) -> None:
    line = "127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc123\n"
    assert store_cookies(tmp_path, line.encode()) == 1
    stored = tmp_path / "secrets" / "cookies.txt"
    assert stored.stat().st_mode & 0o777 == 0o600 and "abc123" in stored.read_text()
    with pytest.raises(ValueError, match="Netscape"):
        store_cookies(tmp_path, b"session=abc123")
    media = download(site.url + "/clip.mp4?cookies", replace(options, cookies_file=stored))
    assert media.path.is_file() and "abc123" in stored.read_text()  # the shared file is untouched


def test_unclassified_failures_keep_the_link_in_the_message(options: DownloadOptions) -> None:
    with pytest.raises(DownloadFailedError) as raised:
        download("http://127.0.0.1:9/nothing.mp4", options)  # discard port: connection refused
    assert "127.0.0.1:9" in str(raised.value)


def test_retention_removes_old_downloads_and_keeps_young_ones(tmp_path) -> None:
    import os
    import time

    from portal.config import load_settings
    from portal.database import Database
    from portal.maintenance import cleanup

    settings = load_settings(data_dir=tmp_path, retention_hours=1)
    settings.ensure_dirs()
    old, young = settings.downloads_dir / "Generic-old.mp4", settings.downloads_dir / "Generic-young.mp4"
    old.write_bytes(b"x")
    young.write_bytes(b"y")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    database = Database(settings)
    database.upgrade()
    with database.session() as session:
        cleanup(settings, session)
    assert not old.exists() and young.exists()
