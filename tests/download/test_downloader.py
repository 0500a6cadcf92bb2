"""Real yt-dlp against a loopback server: what people paste, and how each failure reads."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import av
import pytest

from portal.acquire.downloader import (
    AccessDeniedError,
    DownloadCancelledError,
    DownloadFailedError,
    DownloadOptions,
    LoginRequiredError,
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
from portal.config import load_settings
from portal.database import Database
from portal.jobs.maintenance import cleanup
from portal.media.errors import NoVideoStreamError
from portal.video_processor import probe_media
from tests.download.conftest import Site


@pytest.mark.parametrize("path", ["/clip.mp4", "/og.html", "/video.html", "/hls/index.m3u8", "/norange.mp4",
                                  "/r1", "/drop.mp4"])  # fmt: skip
def test_links_people_paste_give_a_playable_file(path: str, site: Site, options: DownloadOptions) -> None:
    progress = []
    media = download(site.url + path, options, on_progress=lambda stage, pct: progress.append((stage, pct)))
    info = probe_media(media.path)
    assert (info.width, info.height) == (320, 568) and abs(info.duration - 1) < 0.1 and info.has_audio
    assert media.path.parent == options.cache_dir and media.extractor and media.video_id
    assert progress[-1] == ("downloading", 100.0)
    assert [pct for _, pct in progress] == sorted(pct for _, pct in progress)
    assert not [p for p in options.cache_dir.iterdir() if p.is_dir()]  # no work folders left


def test_separate_video_and_audio_are_merged_at_the_size_the_output_needs(
    site: Site, options: DownloadOptions
) -> None:
    """A master playlist with portrait variants and an audio rendition, as the big sites serve."""
    percents = []
    small = replace(options, max_long_side=400)
    media = download(site.url + "/master/master.m3u8", small, lambda _stage, pct: percents.append(pct))
    info = probe_media(media.path)
    assert (info.width, info.height) == (180, 320) and info.has_audio  # 288x512 is longer than 400
    assert percents == sorted(percents) and percents[-1] == 100
    with av.open(str(media.path)) as container:
        assert container.format.name.startswith("mov")  # merged into MP4 by the project's FFmpeg
    large = download(site.url + "/master/master.m3u8", replace(options, cache_dir=options.cache_dir / "l"))
    assert (probe_media(large.path).width, probe_media(large.path).height) == (288, 512)


def test_page_metadata_is_kept_sanitized(site: Site, options: DownloadOptions) -> None:
    media = download(site.url + "/og.html", options)
    assert media.title == "Falling cat" and media.original_url == site.url + "/og.html"
    assert media.as_dict()["path"] == str(media.path)
    (sidecar,) = options.cache_dir.glob("*.json")
    stored = json.loads(sidecar.read_text())
    assert stored["file"] == media.path.name and stored["title"] == "Falling cat"


def test_a_page_with_several_videos_gives_the_first_unless_expanded(
    site: Site, options: DownloadOptions
) -> None:
    assert probe_media(download(site.url + "/two.html", options).path).width == 160
    assert expand_playlist(site.url + "/two.html", options) == [
        site.url + "/b/clip.mp4",
        site.url + "/clip.mp4",
    ]


@pytest.mark.parametrize(("path", "error", "words"), [
    ("/missing.mp4", VideoUnavailableError, "HTTP 404"),
    ("/novideo.html", UnsupportedLinkError, "no video found"),
    ("/big.mp4", TooLargeError, "over the limit of 1 MB"),
    ("/long.mp4", TooLongError, "over the limit of 5 s"),
    ("/forbidden.mp4", AccessDeniedError, "HTTP 403"),
    ("/members.mp4", LoginRequiredError, "cookies file"),
])  # fmt: skip
def test_permanent_failures_read_clearly_and_are_not_retried(path, error, words, site, options) -> None:
    earlier = site.hits[path]  # the site is the session's: other modules may have asked for the same path
    with pytest.raises(error, match=words) as raised:
        download(site.url + path, replace(options, retries=3))
    assert not raised.value.transient and site.url + path in str(raised.value)
    assert site.hits[path] - earlier <= 2  # one attempt: the extractor looks, the downloader fetches
    assert [p.name for p in options.cache_dir.iterdir()] == []


def test_slow_server_times_out_as_a_transient_error_after_retries(
    site: Site, options: DownloadOptions
) -> None:
    with pytest.raises(NetworkError, match="timed out") as raised:
        download(site.url + "/slow.mp4", options)
    assert raised.value.transient and site.hits["/slow.mp4"] == options.retries


def test_server_errors_are_retried(site: Site, options: DownloadOptions) -> None:
    media = download(site.url + "/flaky.mp4?once", options)  # 503 first, then the file
    assert probe_media(media.path).width == 320 and site.hits["/flaky.mp4?once"] >= 2
    with pytest.raises(NetworkError, match="HTTP 500") as raised:
        download(site.url + "/error500.mp4", options)
    assert raised.value.transient and site.hits["/error500.mp4"] == options.retries


def test_same_video_is_reused_not_downloaded_again(site: Site, options: DownloadOptions) -> None:
    first = download(site.url + "/clip.mp4?reuse", options)
    first_requests = site.hits["/clip.mp4?reuse"]
    second = download(site.url + "/clip.mp4?reuse", options)
    assert not first.reused and second.reused and second.path == first.path
    # the second time yt-dlp only looks at the link (to learn its id); the file is not fetched again
    assert site.hits["/clip.mp4?reuse"] - first_requests < first_requests


def test_same_file_name_on_another_page_is_another_video(site: Site, options: DownloadOptions) -> None:
    """The generic extractor names a direct link's video after its file: "clip" here and there."""
    first = download(site.url + "/clip.mp4", options)
    other = download(site.url + "/b/clip.mp4", options)
    assert not other.reused and other.path != first.path and first.video_id == other.video_id == "clip"
    assert probe_media(other.path).width == 160


def test_cancel_stops_the_download_and_leaves_nothing(site: Site, options: DownloadOptions) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DownloadCancelledError):
        download(site.url + "/hls/index.m3u8", options, cancel=cancel)
    assert list(options.cache_dir.iterdir()) == []


@pytest.mark.parametrize("url", ["http://127.0.0.1/a.mp4", "http://localhost:8080/a.mp4",
                                 "http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/x.mp4",
                                 "http://[::1]/x.mp4", "http://[::ffff:127.0.0.1]/x.mp4",
                                 "http://0.0.0.0/x.mp4", "http://224.0.0.1/x.mp4",
                                 "http://2130706433/x.mp4"])  # fmt: skip
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
    strict = replace(options, allow_private_urls=False)
    for call in (
        lambda: download(site.url + "/clip.mp4?s", strict),
        lambda: expand_playlist(site.url, strict),
    ):
        with pytest.raises(UrlRefusedError):
            call()
    assert site.hits["/clip.mp4?s"] == 0


@pytest.mark.parametrize("path", ["/r-meta", "/og-private.html", "/hls-private.m3u8"])
def test_policy_follows_redirects_media_links_and_fragments(
    path: str, site: Site, options: DownloadOptions, site_is_public: None
) -> None:
    """The first hop is allowed; the next one leads to 169.254.169.254 and is refused before connecting
    (connecting there would time out, a network error, not a refusal)."""
    with pytest.raises(UrlRefusedError, match=r"169\.254\.169\.254") as raised:
        download(site.url + path, replace(options, allow_private_urls=False))
    assert raised.value.code == "url_refused" and not raised.value.transient
    assert list(options.cache_dir.iterdir()) == []


def test_streams_only_ffmpeg_can_fetch_are_refused_while_policed(
    site: Site, options: DownloadOptions, site_is_public: None
) -> None:
    """FFmpeg's own connections cannot be checked, so it gets no network protocol while the policy is on."""
    with pytest.raises(UrlRefusedError, match="FFmpeg"):
        download(site.url + "/sample-aes/index.m3u8", replace(options, allow_private_urls=False))
    assert not [hit for hit in site.hits if hit.startswith("/sample-aes/") and hit.endswith(".ts")]


@pytest.mark.parametrize("path", ["/r1", "/aes/index.m3u8"])
def test_policy_allows_the_public_site(
    path: str, site: Site, options: DownloadOptions, site_is_public: None
) -> None:
    """Redirects and encrypted HLS (key and fragments fetched by yt-dlp itself) pass a policy that is on."""
    media = download(site.url + path, replace(options, allow_private_urls=False))
    assert probe_media(media.path).width == 320 and site.hits["/aes/key.bin"] <= 1


def test_playlist_expansion_and_its_cap(site: Site, options: DownloadOptions) -> None:
    entries = expand_playlist(site.url + "/feed.xml", replace(options, playlist_limit=3))
    assert entries == [f"{site.url}/clip.mp4?n={i}" for i in range(3)]
    assert expand_playlist(site.url + "/clip.mp4", options) == [site.url + "/clip.mp4"]
    assert probe_media(download(entries[1], options).path).width == 320


def test_cookies_file_is_validated_stored_private_and_sent(tmp_path, site: Site, options) -> None:
    lines = (
        "# a comment\r\n"
        "127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc123\r\n"
        "#HttpOnly_127.0.0.1\tFALSE\t/\tFALSE\t0\ttoken\txyz\r\n"
    )
    stored = tmp_path / "secrets" / "cookies" / "one.txt"
    parsed = store_cookies(stored, lines.encode())
    assert parsed.count == 2 and parsed.domains == {"127.0.0.1"}
    assert stored.stat().st_mode & 0o777 == 0o600 and stored.read_text().startswith("# Netscape")
    assert stored.parent.stat().st_mode & 0o777 == 0o700
    for bad in (b"session=abc123", b'[{"name": "sid"}]', b"# only comments\n"):
        with pytest.raises(ValueError, match=r"Netscape|no cookies"):
            store_cookies(tmp_path / "bad.txt", bad)
    before = stored.read_bytes()
    media = download(site.url + "/clip.mp4?cookies", replace(options, cookie_files=(stored,)))
    assert media.path.is_file() and stored.read_bytes() == before  # the shared file is untouched
    assert any("session=abc123" in header and "token=xyz" in header for header in site.cookies)


def test_operator_cookies_file_without_header_works(tmp_path: Path, site: Site, options) -> None:
    plain = tmp_path / "cookies.txt"
    plain.write_text("127.0.0.1\tFALSE\t/\tFALSE\t0\toperator\tyes\n")
    download(site.url + "/clip.mp4?operator", replace(options, cookie_files=(plain,)))
    assert any("operator=yes" in header for header in site.cookies)


def test_unreachable_host_is_a_network_error_naming_the_link(options: DownloadOptions) -> None:
    with pytest.raises(DownloadFailedError) as raised:
        download("http://127.0.0.1:9/nothing.mp4", options)  # discard port: connection refused
    assert raised.value.code == "network_error" and "127.0.0.1:9" in str(raised.value)


def test_retention_removes_old_downloads_and_keeps_young_ones(tmp_path: Path, site: Site) -> None:
    settings = load_settings(data_dir=tmp_path, retention_hours=1, allow_private_urls=True)
    settings.ensure_dirs()
    options = DownloadOptions.from_settings(settings)
    young = download(site.url + "/clip.mp4?young", options).path
    old = download(site.url + "/b/clip.mp4?old", options).path
    two_hours_ago = time.time() - 7200
    for path in (old, old.with_suffix(".json")):
        os.utime(path, (two_hours_ago, two_hours_ago))
    database = Database(settings)
    database.upgrade()
    with database.session() as session:
        cleanup(settings, session)
    assert not old.exists() and not old.with_suffix(".json").exists() and young.exists()
    assert not download(site.url + "/b/clip.mp4?old", options).reused  # fetched again, not reused
    assert download(site.url + "/clip.mp4?young", options).reused


def test_an_audio_only_first_answer_is_retried_with_a_format_that_has_video(site: Site, options) -> None:
    """Instagram sometimes serves a post's audio alone: the link still has video, so it renders."""
    media = download(site.url + "/audiofirst/master.m3u8", options)
    info = probe_media(media.path)
    assert (info.width, info.height) == (320, 568) and info.has_audio
    assert site.hits["/audiofirst/audio.m3u8"] >= 1 and site.hits["/audiofirst/av.m3u8"] >= 1


def test_a_link_with_only_audio_fails_no_video_stream_naming_it(site: Site, options) -> None:
    url = site.url + "/audioonly/master.m3u8"
    with pytest.raises(NoVideoStreamError) as failure:
        download(url, options)
    assert failure.value.code == "no_video_stream" and url in str(failure.value)
    assert not list(options.cache_dir.glob("*.mp4"))  # nothing audio-only is kept for reuse
