"""Intake that survives the platforms (DESIGN 4.15), on loopback: a real proxy (tinyproxy) that sees what a
rule sends it, a dead proxy passed over, yt-dlp's impersonation (curl_cffi) past a site that wants a
browser, and a cookies pool rotated when the site asks for a sign-in."""

from __future__ import annotations

import logging
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yt_dlp

from portal.acquire import downloader
from portal.acquire.cookies import UploadedCookies
from portal.acquire.downloader import (
    AccessDeniedError,
    CookiesFileError,
    DownloadOptions,
    NetworkError,
    UrlRefusedError,
    download,
)
from portal.acquire.sites import (
    IMPERSONATION,
    SitePausedError,
    SiteRules,
    check_not_paused,
    record_outcome,
    redact,
    site_health,
    site_of,
)
from portal.config import ConfigError, load_settings
from portal.database import Database
from portal.storage.objects import open_storage
from tests.conftest import free_port
from tests.download.conftest import PROXY_PASSWORD, PROXY_USER, SIGNED_IN, Proxy, Site


def test_links_are_counted_for_their_site() -> None:
    assert site_of("https://www.instagram.com/reel/abc/") == "instagram.com"
    assert site_of("https://vm.tiktok.com/ZM123/") == "tiktok.com"
    assert site_of("https://youtu.be/xyz") == "youtube.com"
    assert site_of("https://mobile.twitter.com/a/status/1") == "x.com"
    assert site_of("http://127.0.0.1:8080/clip.mp4") == "127.0.0.1"
    assert site_of("https://www.example.org/v.mp4") == "example.org"


def test_a_rule_sends_its_sites_through_the_proxy_and_the_others_direct(
    site: Site, options: DownloadOptions, proxy: Proxy
) -> None:
    rules = SiteRules(proxies=(proxy.url,), proxy_domains=("localhost",))
    through = f"http://localhost:{urlsplit(site.url).port}/clip.mp4?through-the-proxy"
    assert download(through, replace(options, rules=rules)).path.is_file()
    assert download(f"{site.url}/clip.mp4?direct", replace(options, rules=rules)).path.is_file()
    forwarded = proxy.requests()
    assert any(line.startswith(f"GET {through} ") for line in forwarded), forwarded  # page and media
    assert not any("direct" in line for line in forwarded) and site.hits["/clip.mp4?direct"]


def test_a_dead_proxy_is_passed_over_and_rested(
    site: Site, options: DownloadOptions, proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    dead = f"http://{PROXY_USER}:dead-{PROXY_PASSWORD}@127.0.0.1:{free_port()}"  # nothing listens there
    rules = SiteRules(proxies=(dead, proxy.url))
    caplog.set_level(logging.DEBUG)
    media = download(f"{site.url}/clip.mp4?past-the-dead-one", replace(options, rules=rules))
    assert media.path.is_file() and any("past-the-dead-one" in line for line in proxy.requests())
    assert rules.route(site.url).proxies == (proxy.url, dead)  # resting: tried last until its rest ends
    with pytest.raises(NetworkError) as failed:  # every proxy dead: the link fails, naming no password
        download(f"{site.url}/clip.mp4?all-dead", replace(options, rules=SiteRules(proxies=(dead,))))
    said = caplog.text + str(failed.value)
    assert "proxy http://127.0.0.1:" in caplog.text  # named by host and port
    assert PROXY_PASSWORD not in said and PROXY_USER not in said


def test_credentials_are_taken_out_of_any_text_that_quotes_a_proxy() -> None:
    proxy = "http://user:p%40ss@proxy.example:3128"
    text = "Unable to connect to proxy http://user:p%40ss@proxy.example:3128 (p@ss)"
    assert redact(text, (proxy,)) == "Unable to connect to proxy http://***@proxy.example:3128 (***)"


def test_proxy_settings_are_checked_without_repeating_the_password() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(proxies="ftp://user:Secret-1@host:21")
    assert "WTF_PROXIES" in str(refused.value) and "Secret-1" not in str(refused.value)
    settings = load_settings(proxies="http://a:b@one:1, socks5h://two:2", proxy_sites="Instagram.com")
    assert settings.proxy_urls == ("http://a:b@one:1", "socks5h://two:2")
    rules = SiteRules.from_settings(settings)
    assert rules.route("https://www.instagram.com/reel/x").proxies == settings.proxy_urls
    assert rules.route("https://www.tiktok.com/@a/video/1").proxies == ()


def test_the_install_ships_impersonation() -> None:
    command = [sys.executable, "-m", "yt_dlp", "--list-impersonate-targets"]
    listed = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    chrome = [line for line in listed.splitlines() if line.startswith("Chrome")]
    assert chrome and all("curl_cffi" in line and "unavailable" not in line for line in chrome), listed


def test_impersonation_passes_a_site_that_wants_a_browser_and_is_refused_without(
    site: Site, options: DownloadOptions
) -> None:
    on = SiteRules.from_settings(load_settings(impersonate_sites="127.0.0.1"))
    assert on.route(site.url).impersonate == "chrome"
    assert on.route("https://www.tiktok.com/@a/video/1").impersonate == IMPERSONATION["tiktok.com"]
    media = download(f"{site.url}/browser-only.mp4", replace(options, rules=on))
    assert media.path.is_file()
    off = SiteRules.from_settings(load_settings(impersonate_sites="127.0.0.1", impersonate=False))
    assert off.route(site.url).impersonate is None
    with pytest.raises(AccessDeniedError):
        download(f"{site.url}/browser-only.mp4?plain", replace(options, rules=off))


def test_a_site_that_asks_for_a_sign_in_rotates_to_the_next_cookies_file(
    tmp_path: Path, site: Site, options: DownloadOptions
) -> None:
    settings = load_settings(data_dir=tmp_path / "data", allow_private_urls=True)
    settings.ensure_dirs()
    db = Database(settings)
    db.upgrade()
    cookies = UploadedCookies(settings, open_storage(settings), db)
    session = SIGNED_IN.split("=")[1]
    expired = cookies.save(b"127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\texpired-session\n")  # site found
    fresh = cookies.save(f"127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\t{session}\n".encode(), "127.0.0.1")
    other = cookies.save(b"example.com\tFALSE\t/\tFALSE\t0\tsid\tother-site-secret\n")
    every = cookies.save(b"127.0.0.1\tFALSE\t/\tFALSE\t0\tshared\tfor-every-site\n", "*")
    assert (expired["site"], fresh["site"], other["site"], every["site"]) == ("127.0.0.1", "127.0.0.1",
                                                                             "example.com", "*")  # fmt: skip
    pool = cookies.pool("127.0.0.1")
    assert [path.stem for path in pool] == [expired["id"], fresh["id"], every["id"]]  # its own, then all's

    site.cookies.clear()
    rotated = replace(options, cookie_files=pool, report_cookies=cookies.report)
    assert download(f"{site.url}/members-only.mp4", rotated).path.is_file()
    assert any("expired-session" in header for header in site.cookies)  # tried first, refused
    assert not any("other-site-secret" in header for header in site.cookies)  # another site's: never sent
    states = {file["id"]: file["state"] for file in cookies.describe()}
    assert states == {expired["id"]: "signin_asked", fresh["id"]: "working", other["id"]: "unused",
                      every["id"]: "unused"}  # fmt: skip
    assert [path.stem for path in cookies.pool("127.0.0.1")][:2] == [fresh["id"], expired["id"]]


def test_youtube_extractor_arguments_are_one_setting_that_yt_dlp_reads(tmp_path: Path) -> None:
    default = SiteRules.from_settings(load_settings())
    assert default.route("https://youtu.be/x").extractor_args == {"youtube": {"player_client": ["default"]}}
    pinned = SiteRules.from_settings(
        load_settings(youtube_extractor_args="player_client=tv_samsung,web; player_skip=webpage")
    )
    route = pinned.route("https://www.youtube.com/watch?v=x")
    options = DownloadOptions(cache_dir=tmp_path, rules=pinned)
    params = downloader._params(options, tmp_path, None, [], downloader._Log(pinned), route)
    with yt_dlp.YoutubeDL(params) as ydl:
        youtube = ydl.get_info_extractor("Youtube")
        assert youtube._configuration_arg("player_client") == ["tv_samsung", "web"]
        assert youtube._configuration_arg("player_skip") == ["webpage"]
    with pytest.raises(ConfigError, match="WTF_YOUTUBE_EXTRACTOR_ARGS"):
        load_settings(youtube_extractor_args="player_client")


def test_a_cookies_file_for_a_site_that_is_not_a_domain_is_refused(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    db = Database(settings)
    db.upgrade()
    cookies = UploadedCookies(settings, open_storage(settings), db)
    with pytest.raises(CookiesFileError, match="site: a domain"):
        cookies.save(b"example.com\tFALSE\t/\tFALSE\t0\tsid\tx\n", "not a site!")
    assert cookies.describe() == [] and not list(cookies.folder.iterdir())


def test_only_failures_that_blame_the_site_count_toward_its_pause(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, site_pause_after=2, site_cooldown_s=60)
    db = Database(settings)
    db.upgrade()
    record_outcome(db, settings, "x.com", "video_unavailable", "removed")  # the link's fault, not the site's
    record_outcome(db, settings, "x.com", "access_denied", "HTTP 403")
    check_not_paused(db, "x.com")  # one in a row
    record_outcome(db, settings, "x.com", "network_error", "timed out")
    with pytest.raises(SitePausedError) as paused:
        check_not_paused(db, "x.com")
    assert paused.value.stage.startswith("waiting: x.com paused after 2 failures in a row (network_error); ")
    assert 0 < paused.value.retry_after_s <= 61
    (record,) = site_health(db)
    assert (record["failures"], record["failures_in_a_row"], record["last_reason"]) == (3, 2, "timed out")
    record_outcome(db, settings, "x.com")  # a success ends the pause and the run
    check_not_paused(db, "x.com")
    (record,) = site_health(db)
    assert (record["successes"], record["failures_in_a_row"], record["paused_until"]) == (1, 0, None)


@pytest.mark.parametrize("path", ["/og-private.html", "/hls-private.m3u8"])
def test_the_url_policy_holds_for_impersonated_and_proxied_requests(
    path: str, site: Site, options: DownloadOptions, proxy: Proxy, site_is_public: None
) -> None:
    """libcurl connects from native code and a proxy connects for us: the socket hook sees neither, so each
    request's link is checked before it is sent. The page is fetched; its media on 169.254.169.254 is not."""
    policed = replace(options, allow_private_urls=False)
    impersonated = SiteRules(impersonation={"127.0.0.1": "chrome"})
    proxied = SiteRules(proxies=(proxy.url,))
    for rules in (impersonated, proxied):
        with pytest.raises(UrlRefusedError, match=r"169\.254\.169\.254"):
            download(site.url + path, replace(policed, rules=rules))
    assert site.hits[path] and not any("169.254" in line for line in proxy.requests())
