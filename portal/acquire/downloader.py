"""Links to files: the one module that talks to yt-dlp.

Policy first: http/https only, and no connection to a private, loopback, link-local, multicast or reserved
address unless WTF_ALLOW_PRIVATE_URLS. It is checked on the link at submission, again at download time,
and on the address of every connection yt-dlp opens while it works for us (redirects, manifests,
fragments and DNS answers included). Downloads are bounded (size, duration), retried when the failure is
transient, reused when the same video was fetched within the retention time, and their metadata passes
through `sanitize_info` before anything is stored.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import http.cookiejar
import importlib.util
import io
import ipaddress
import json
import logging
import os
import re
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import yt_dlp
from yt_dlp.cookies import YoutubeDLCookieJar
from yt_dlp.networking.exceptions import HTTPError, RequestError, TransportError
from yt_dlp.networking.impersonate import ImpersonateTarget
from yt_dlp.utils import (
    DownloadCancelled,
    GeoRestrictedError,
    UnsupportedError,
    YoutubeDLError,
    unsmuggle_url,
)

from portal.acquire.sites import Route, SiteRules, proxy_label, redact
from portal.config import Settings
from portal.errors import PortalError
from portal.media.binary import locate_ffmpeg
from portal.media.errors import EngineError, NoVideoStreamError, SourceLimitError, SourceTooLongError
from portal.media.options import SOURCE_LIMITS, SourceLimits
from portal.media.probe import probe_media

log = logging.getLogger("portal.acquire.downloader")

ProgressCallback = Callable[[str, float], None]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
STORED_FIELDS = ("title", "uploader", "webpage_url", "original_url", "extractor", "id", "duration")
NETSCAPE_HEADER = "# Netscape HTTP Cookie File\n"
MB = 1_048_576


class DownloadFailedError(EngineError):
    code = "download_failed"
    status = 422  # the link cannot be used as given


class UrlRefusedError(DownloadFailedError):
    code = "url_refused"


class UnsupportedLinkError(DownloadFailedError):
    code = "unsupported_link"


class VideoUnavailableError(DownloadFailedError):
    code = "video_unavailable"


class LoginRequiredError(DownloadFailedError):
    code = "login_required"


class AccessDeniedError(DownloadFailedError):
    code = "access_denied"


class GeoBlockedError(DownloadFailedError):
    code = "geo_blocked"


class TooLargeError(DownloadFailedError):
    code = "too_large"


class TooLongError(DownloadFailedError):
    code = "too_long"


class NetworkError(DownloadFailedError):
    code = "network_error"
    status = 502  # the site did not answer: trying again later may work
    transient = True


class _AudioOnlyAnswer(Exception):
    """The chosen format turned out to hold no video (Instagram sometimes serves a post's audio alone)."""

    def __init__(self, format_id: str) -> None:
        super().__init__(format_id)
        self.format_id = format_id


NO_SUCH_FORMAT = "Requested format is not available"  # yt-dlp's words when no format matches


def video_retry_format(audio_only_format: str) -> str:
    """A format with video, never the one(s) that came back audio only ("137+140" names two)."""
    exclude = "".join(f"[format_id!={part}]" for part in audio_only_format.split("+") if part)
    return f"bv*[vcodec!=none]{exclude}+ba/b[vcodec!=none]{exclude}"


class DownloadCancelledError(DownloadFailedError):
    code = "cancelled"


class CookiesFileError(PortalError, ValueError):
    """An uploaded cookies file that yt-dlp could not use."""

    code = "bad_cookies"
    status = 422


@dataclass(frozen=True)
class DownloadOptions:
    cache_dir: Path
    ffmpeg_path: str | None = None
    max_filesize_mb: int = 500
    source_limits: SourceLimits = SOURCE_LIMITS
    allow_private_urls: bool = False
    # tried in turn while the site asks for a sign-in (portal.acquire.cookies orders a site's pool)
    cookie_files: tuple[Path, ...] = ()
    # told how each file went: (file, True if the site asked for a sign-in with it)
    report_cookies: Callable[[Path, bool], None] | None = None
    rules: SiteRules = field(default_factory=SiteRules)  # proxies, impersonation, YouTube arguments
    playlist_limit: int = 10
    socket_timeout: float = 20.0
    retries: int = 3  # whole-download attempts for transient failures
    max_long_side: int = 1920
    retention_hours: float = 72.0
    subtitles: bool = False  # also read the site's subtitles (download(subtitles=True))

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        cookie_files: tuple[Path, ...] | None = None,
        report_cookies: Callable[[Path, bool], None] | None = None,
    ) -> DownloadOptions:
        """The deployment's options; `cookie_files` (a site's pool) default to the operator's file."""
        if cookie_files is None:
            cookie_files = (settings.cookies_file,) if settings.cookies_file else ()
        return cls(
            cache_dir=settings.downloads_dir,
            ffmpeg_path=settings.ffmpeg_path,
            max_filesize_mb=settings.max_download_mb,
            source_limits=settings.source_limits,
            allow_private_urls=settings.allow_private_urls,
            cookie_files=cookie_files,
            report_cookies=report_cookies,
            rules=SiteRules.from_settings(settings),
            playlist_limit=settings.playlist_limit,
            retention_hours=settings.retention_hours,
        )


@dataclass(frozen=True)
class DownloadedMedia:
    path: Path
    title: str | None
    uploader: str | None
    original_url: str
    extractor: str
    video_id: str
    duration: float | None
    reused: bool = False
    # the site's subtitles (or automatic captions) as SRT or WebVTT text, when asked for and offered
    subtitles: str | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        """What is kept of it (a job's source_meta): the subtitles go to the transcript, not here."""
        data = asdict(self)
        data["path"] = str(self.path)
        data.pop("subtitles")
        return data


# --- URL policy ---------------------------------------------------------------------------------


NAT64_NETWORKS = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible
    (::a.b.c.d), 6to4 (2002:AABB:CCDD::), Teredo (2001:0::/32: server and client) and NAT64
    (64:ff9b::/96, 64:ff9b:1::/48, last 32 bits). A host whose packets reach such an address is
    reached through it, so the policy judges that address too."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:
        found.extend(ip.teredo)
    packed = ip.packed
    if any(ip in network for network in NAT64_NETWORKS) or (packed[:12] == bytes(12) and int(ip) > 1):
        found.append(ipaddress.IPv4Address(packed[12:]))
    return found


def address_refused(ip: IPAddress) -> bool:
    """Anything but the public internet: loopback, private, link-local (cloud metadata), multicast...,
    also when wrapped in an IPv6 address (6to4, Teredo, NAT64, IPv4-mapped or -compatible)."""
    if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)):
        # judged by where the packets go (a DNS64 network gives every IPv4-only site a 64:ff9b:: name);
        # Teredo always refused: it tunnels through a relay to a client nobody can check from here
        return bool(ip.teredo) or any(address_refused(v4) for v4 in inner)
    return not ip.is_global or ip.is_multicast or ip.is_reserved


def _addresses(host: str, port: int) -> set[IPAddress]:
    try:
        return {ipaddress.ip_address(host.split("%", 1)[0])}
    except ValueError:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return {ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos}


def check_url(url: str, allow_private: bool) -> None:
    """Refuse anything but http(s) to public addresses (unless private addresses are allowed); the one
    check every link and webhook target passes, at submission and again at every connection."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:  # "http://[::1/", "http://host:99999"
        raise UrlRefusedError(f"{url}: not a valid link ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefusedError(f"{url}: only http and https links are accepted")
    if not host:
        raise UrlRefusedError(f"{url}: the link has no host")
    if allow_private:
        return
    try:
        addresses = _addresses(host, port or 443)
    except (OSError, UnicodeError, ValueError):
        raise UrlRefusedError(f"{url}: the host {host!r} does not resolve") from None
    for ip in sorted(addresses, key=str):
        if address_refused(ip):
            raise UrlRefusedError(
                f"{url}: {host} resolves to {ip}, a private, loopback, link-local or reserved "
                "address (set WTF_ALLOW_PRIVATE_URLS=1 to allow)"
            )


class _RefusedConnection(RequestError):
    """Raised from the socket layer. A RequestError, so yt-dlp's request handlers pass it up unchanged."""

    def __init__(self, ip: IPAddress) -> None:
        super().__init__(f"connection to {ip} refused by the URL policy")
        self.ip = ip


# True while this thread (context) works for a download that must not reach private addresses.
_POLICED = contextvars.ContextVar("portal_downloader_policed", default=False)
# The addresses of the operator's proxy this download goes through: connected to, whatever they are.
_TRUSTED: contextvars.ContextVar[frozenset[IPAddress]] = contextvars.ContextVar(
    "portal_downloader_trusted", default=frozenset()
)
_hook_lock = threading.Lock()
_hook_installed = False


def _audit(event: str, args: tuple) -> None:
    # Runs for every audited event of the process: leave at once unless it is a policed connect.
    if event != "socket.connect" or not _POLICED.get():
        return
    sock, address = args
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or not isinstance(address, tuple):
        return
    for ip in _addresses(address[0], address[1]):
        if address_refused(ip) and ip not in _TRUSTED.get():
            raise _RefusedConnection(ip)


@contextlib.contextmanager
def policed_connections(active: bool, proxy: str | None = None) -> Iterator[None]:
    """Check the address of every socket this thread connects, whatever library opens it.

    yt-dlp resolves names and follows redirects inside its request handlers (urllib or requests); the
    interpreter's audit event for socket.connect is the one point every connection passes, with the
    address actually used, before a packet is sent. So a redirect or a DNS answer that changed since
    check_url cannot reach a private address.
    """
    global _hook_installed
    if active:
        with _hook_lock:
            if not _hook_installed:
                sys.addaudithook(_audit)
                _hook_installed = True
    trusted: frozenset[IPAddress] = frozenset()
    if active and proxy:  # the operator's proxy may well be on the private network (a sidecar, a VPC)
        parts = urlsplit(proxy)
        with contextlib.suppress(OSError, UnicodeError, ValueError):
            trusted = frozenset(_addresses(parts.hostname or "", parts.port or 1080))
    token, trusted_token = _POLICED.set(active), _TRUSTED.set(trusted)
    try:
        yield
    finally:
        _POLICED.reset(token)
        _TRUSTED.reset(trusted_token)


class _PolicedYoutubeDL(yt_dlp.YoutubeDL):
    """Every request yt-dlp makes (pages, manifests, fragments, media) is http(s); a refused connection
    surfaces as UrlRefusedError naming the link, not as a network error that would be retried."""

    # Set when the socket hook cannot see where a request goes: through a proxy (the hook sees the proxy)
    # or impersonated (libcurl connects from native code). Each request's host is then checked by name
    # before it is sent, and the address the answer came from (after libcurl's redirects) before its
    # body is read.
    check_each_request = False

    def urlopen(self, req):
        url = req if isinstance(req, str) else req.url
        if urlsplit(url).scheme not in ("http", "https", "data"):  # data: is inline, no network
            raise UrlRefusedError(f"{url}: only http and https links are accepted")
        if self.check_each_request and not url.startswith("data:"):
            check_url(url, allow_private=False)
        try:
            response = super().urlopen(req)
        except _RefusedConnection as exc:
            raise UrlRefusedError(
                f"{url}: leads to {exc.ip} (by a redirect or the host's DNS answer), a private, loopback, "
                "link-local or reserved address; not connected (set WTF_ALLOW_PRIVATE_URLS=1 to allow)"
            ) from None
        if self.check_each_request and response.url != url:
            try:
                check_url(response.url, allow_private=False)
            except UrlRefusedError:
                response.close()
                raise
        return response


# --- downloading --------------------------------------------------------------------------------


class _Log:
    """yt-dlp's messages go to our log (not stdout), without proxy credentials; the last ones are kept to
    explain a silent skip."""

    def __init__(self, rules: SiteRules) -> None:
        self.lines: deque[str] = deque(maxlen=20)
        self.rules = rules

    def debug(self, message: str) -> None:
        message = self.rules.redact(message)
        self.lines.append(message)
        log.debug(message)

    info = debug

    def warning(self, message: str) -> None:
        message = self.rules.redact(message)
        self.lines.append(message)
        log.info(message)

    error = warning


IMPERSONATION_INSTALLED = importlib.util.find_spec("curl_cffi") is not None  # yt-dlp's optional dependency


def _params(
    options: DownloadOptions,
    workdir: Path,
    cookies: Path | None,
    hooks: list,
    logger: _Log,
    route: Route,
    proxy: str | None = None,
) -> dict:
    side = options.max_long_side
    fits = f"[height<=?{side}][width<=?{side}]"
    params = {
        # the best video whose long side fits the output (portrait or landscape), with audio, merged by
        # our FFmpeg into MP4; if nothing fits, the nearest size above (res sorts by the short side),
        # which the engine scales down
        "format": f"bv*{fits}+ba/b{fits}/bv*+ba/b",
        "format_sort": [f"res:{side}", "vcodec:h264", "acodec:aac"],
        "merge_output_format": "mp4",
        "ffmpeg_location": str(locate_ffmpeg(options.ffmpeg_path)),
        "outtmpl": {"default": str(workdir / "%(id).80B.%(ext)s")},
        "max_filesize": options.max_filesize_mb * MB,
        "retries": 2,
        "fragment_retries": 3,
        "extractor_retries": 2,
        "socket_timeout": options.socket_timeout,
        "noplaylist": True,
        # Python's own downloaders, in this thread: every request is policed. FFmpeg, which yt-dlp hands
        # the streams native code cannot read, gets no network protocols while the policy is on.
        "external_downloader": {"default": "native"},
        "concurrent_fragment_downloads": 1,
        "cookiefile": str(cookies) if cookies else None,
        "progress_hooks": hooks,
        "quiet": True,
        "no_warnings": False,
        "noprogress": True,
        "logger": logger,
    }
    if not options.allow_private_urls:
        params["external_downloader_args"] = {"ffmpeg_i": ["-protocol_whitelist", "file,crypto,data"]}
    if proxy:
        params["proxy"] = proxy  # pages, manifests and media alike
    if route.impersonate and IMPERSONATION_INSTALLED:
        params["impersonate"] = ImpersonateTarget.from_str(route.impersonate)
    if route.extractor_args:
        params["extractor_args"] = {ie: dict(args) for ie, args in route.extractor_args.items()}
    return params


def _youtube_dl(params: dict, options: DownloadOptions, proxied: bool) -> _PolicedYoutubeDL:
    ydl = _PolicedYoutubeDL(params)
    ydl.check_each_request = not options.allow_private_urls and (proxied or "impersonate" in params)
    return ydl


def _cookie_copy(cookies_file: Path | None, workdir: Path) -> Path | None:
    """A private, writable copy: yt-dlp writes cookies back, and the shared file must stay intact."""
    if not cookies_file:
        return None
    try:
        # the header line yt-dlp wants is added when an exporter left it out
        text = netscape_cookies(Path(cookies_file).read_text(encoding="utf-8", errors="replace")).text
    except OSError as exc:
        raise DownloadFailedError(f"the cookies file cannot be read: {exc.strerror}") from None
    except ValueError as exc:
        raise DownloadFailedError(f"the cookies file cannot be used: {exc}") from None
    copy = workdir / "cookies.txt"
    copy.write_text(text, encoding="utf-8")
    copy.chmod(0o600)
    return copy


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (yt-dlp nests them in exc_info, cause and __cause__)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        exc_info = getattr(item, "exc_info", None)
        todo += [
            exc_info[1] if exc_info else None,
            getattr(item, "cause", None),
            item.__cause__,
            item.__context__,
        ]


_LOGIN_WORDS = ("sign in", "log in", "login", "cookies", "not a bot", "age-restricted", "age restricted")
_GONE_WORDS = ("private video", "video is private", "removed", "unavailable", "does not exist", "deleted")


def _classify(url: str, exc: BaseException, messages: Iterable[str] = ()) -> DownloadFailedError:
    """yt-dlp's error (and its last messages) -> an error a person can act on, marked transient when
    retrying may help."""
    chain = list(_causes(exc))
    for item in chain:
        if isinstance(item, DownloadFailedError):
            return item
    first = str(exc).replace("ERROR: ", "").splitlines()[0][:200] if str(exc) else type(exc).__name__
    first = redact(first)  # a proxy's URL in a message keeps its host, never its credentials
    text = " ".join(str(item) for item in chain).lower()
    if any(isinstance(item, GeoRestrictedError) for item in chain) or re.search(r"geo.?restrict", text):
        return GeoBlockedError(f"{url}: the video is not available from this server's country")
    status = next((item.status for item in chain if isinstance(item, HTTPError)), None)
    if status in (404, 410):
        return VideoUnavailableError(f"{url}: the video is unavailable (HTTP {status}: removed or not found)")
    if status == 401:
        return LoginRequiredError(f"{url}: the site wants a signed-in user; upload a cookies file")
    if status == 403:
        return AccessDeniedError(
            f"{url}: the site refused access (HTTP 403); it may want a signed-in user (upload a cookies "
            "file) or block this server"
        )
    if status is not None and (status == 429 or status >= 500):
        return NetworkError(f"{url}: the site answered HTTP {status}; retried, still failing")
    if any(isinstance(item, (TransportError, TimeoutError, ConnectionError)) for item in chain):
        reason = "timed out" if "timed out" in text else first
        return NetworkError(f"{url}: network problem ({reason}); retried, still failing")
    if _POLICED.get() and any("delegated to ffmpeg" in line.lower() for line in messages):
        return UrlRefusedError(
            f"{url}: this stream can only be fetched by FFmpeg, whose connections the URL policy cannot "
            "check; it is refused unless WTF_ALLOW_PRIVATE_URLS=1"
        )
    if any(word in text for word in _LOGIN_WORDS):
        return LoginRequiredError(f"{url}: the site wants a signed-in user; upload a cookies file")
    if any(word in text for word in _GONE_WORDS):
        return VideoUnavailableError(f"{url}: the video is unavailable (removed, private or not found)")
    if any(isinstance(item, UnsupportedError) for item in chain) or "unsupported url" in text:
        return UnsupportedLinkError(f"{url}: no video found at this link (unsupported site or page)")
    return DownloadFailedError(f"{url}: download failed ({first})")


def _check_limits(url: str, info: dict, options: DownloadOptions) -> None:
    """What the site declares, refused before a byte of media is fetched."""
    if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
        raise UnsupportedLinkError(f"{url}: this is a live stream; only finished videos can be fetched")
    duration = info.get("duration")
    longest = options.source_limits.max_duration_s
    if duration and duration > longest:
        raise TooLongError(f"{url}: the video lasts {duration:.0f} s, over the limit of {longest} s")
    size = info.get("filesize") or info.get("filesize_approx")
    if size and size > options.max_filesize_mb * MB:
        raise TooLargeError(
            f"{url}: the video is {size / MB:.0f} MB, over the limit of {options.max_filesize_mb} MB"
        )


def _audio_only(url: str, path: Path, options: DownloadOptions) -> bool:
    """One bounded probe of the downloaded file: True if it has sound but no picture. A file over a limit
    raises, naming the link (direct links declare no duration before downloading); any other problem with
    the file is left to the render, which reports it naming the file."""
    try:
        probe_media(path, options.source_limits)
    except NoVideoStreamError:
        return True
    except SourceTooLongError as exc:
        raise TooLongError(f"{url}: {exc.reason}") from None
    except SourceLimitError as exc:
        raise SourceLimitError(f"{url}: {exc.reason}") from None
    except EngineError:
        return False
    return False


def _cache_stem(info: dict, url: str) -> str:
    """The reuse key: extractor + id. The generic extractor's id is a file name ("video", "index")
    that many sites share, so there the address of the page is part of the key."""
    extractor = str(info.get("extractor_key") or info.get("extractor") or "generic")
    key = f"{extractor}-{info.get('id')}"
    if extractor.lower() == "generic":
        key += "-" + hashlib.sha256((info.get("webpage_url") or url).encode()).hexdigest()[:16]
    return re.sub(r"[^A-Za-z0-9_-]", "_", key)[:160]


def _cached(options: DownloadOptions, stem: str) -> Path | None:
    """The file fetched for this key within the retention time; its sidecar is the index."""
    sidecar = options.cache_dir / f"{stem}.json"
    try:
        path = options.cache_dir / Path(json.loads(sidecar.read_text())["file"]).name
        fresh = time.time() - path.stat().st_mtime < options.retention_hours * 3600
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not fresh:
        return None
    for item in (path, sidecar):
        os.utime(item)  # reuse keeps both young for the retention sweep
    return path


def _store(options: DownloadOptions, stem: str, source: Path, safe: dict) -> Path:
    """Move a finished download into the cache with its sidecar (sanitized metadata), both atomically."""
    target = options.cache_dir / f"{stem}{source.suffix}"
    os.replace(source, target)
    sidecar = {"file": target.name, **{key: safe.get(key) for key in STORED_FIELDS}}
    fd, temp = tempfile.mkstemp(prefix=f".{stem}", suffix=".part", dir=options.cache_dir)
    with os.fdopen(fd, "w") as handle:
        json.dump(sidecar, handle)
    os.replace(temp, options.cache_dir / f"{stem}.json")
    return target


class _Progress:
    """yt-dlp's hook -> ("downloading", percent), monotonic over the files of one video (video + audio);
    also where a cancel request and the byte limit stop a download whose size was not announced."""

    def __init__(self, url: str, options: DownloadOptions, on_progress, cancel) -> None:
        self.url, self.limit, self.limit_mb = url, options.max_filesize_mb * MB, options.max_filesize_mb
        self.on_progress, self.cancel = on_progress, cancel
        self.parts, self.files, self.done_bytes, self.shown = 1, [], 0, 0.0

    def hook(self, status: dict) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise DownloadCancelled("cancelled")
        name, done = status.get("filename"), status.get("downloaded_bytes") or 0
        if name not in self.files:
            self.files.append(name)
        if status.get("status") == "finished":
            self.done_bytes += done
            return
        if self.done_bytes + done > self.limit:
            raise TooLargeError(f"{self.url}: the download passed the limit of {self.limit_mb} MB")
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        if self.on_progress and total:
            fraction = (len(self.files) - 1 + min(1.0, done / total)) / max(self.parts, len(self.files))
            percent = min(99.0, 100.0 * fraction)
            if percent > self.shown:
                self.shown = percent
                self.on_progress("downloading", percent)


def expand_playlist(url: str, options: DownloadOptions) -> list[str]:
    """The links of a playlist, feed, profile or many-video page (at most WTF_PLAYLIST_LIMIT), else [url]."""
    check_url(url, options.allow_private_urls)
    options.cache_dir.mkdir(parents=True, exist_ok=True)
    logger = _Log(options.rules)
    route = options.rules.route(url)
    proxy = route.proxies[0] if route.proxies else None  # a listing is one request: no turn of proxies
    cookies = options.cookie_files[0] if options.cookie_files else None
    with tempfile.TemporaryDirectory(prefix="list-", dir=options.cache_dir) as work:
        params = {
            **_params(options, Path(work), _cookie_copy(cookies, Path(work)), [], logger, route, proxy),
            "noplaylist": False,
            "extract_flat": "in_playlist",
            "playlistend": options.playlist_limit,
        }
        try:
            with (
                policed_connections(not options.allow_private_urls, proxy),
                _youtube_dl(params, options, proxy is not None) as ydl,
            ):
                info = ydl.extract_info(url, download=False)
        except (YoutubeDLError, OSError) as exc:
            raise _scrubbed(_classify(url, exc), options.rules) from None
    links = [entry.get("url") or entry.get("webpage_url") for entry in info.get("entries") or [] if entry]
    # entries may carry yt-dlp's private hints after '#__youtubedl_smuggle': a job keeps the plain link
    links = [unsmuggle_url(link)[0] for link in links if isinstance(link, str)]
    links = [link for link in links if link.startswith(("http://", "https://"))]
    return links[: options.playlist_limit] or [url]


def download(
    url: str,
    options: DownloadOptions,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    subtitles: bool = False,
) -> DownloadedMedia:
    """Fetch one video into the cache folder (or reuse it): with each cookies file of the pool in turn
    while the site asks for a sign-in, through each proxy of the route in turn; transient failures are
    retried. `subtitles`: also read the site's subtitles or automatic captions (`site_subtitles`)."""
    check_url(url, options.allow_private_urls)
    options.cache_dir.mkdir(parents=True, exist_ok=True)
    cancel = cancel or threading.Event()  # never set without a caller's: the waits below are then sleeps
    if subtitles:
        options = replace(options, subtitles=True)
    try:
        return _with_cookies(url, options, on_progress, cancel)
    except DownloadFailedError as exc:
        raise _scrubbed(exc, options.rules) from None


def _with_cookies(
    url: str, options: DownloadOptions, on_progress: ProgressCallback | None, cancel: threading.Event
) -> DownloadedMedia:
    """With each cookies file of the pool in turn while the site asks for a sign-in (none: without)."""
    pool = options.cookie_files
    for turn, cookies in enumerate(pool, 1):
        try:
            media = _download_retrying(url, options, cookies, on_progress, cancel)
        except LoginRequiredError:
            if options.report_cookies:
                options.report_cookies(cookies, True)
            if turn == len(pool):
                raise
            log.info(
                "%s: the site asked for a sign-in with cookies file %d of %d; next one", url, turn, len(pool)
            )
            continue
        if options.report_cookies:
            options.report_cookies(cookies, False)
        return media
    return _download_retrying(url, options, None, on_progress, cancel)


def _scrubbed(exc: DownloadFailedError, rules: SiteRules) -> DownloadFailedError:
    """The error without any proxy password that a message from below may have quoted."""
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (rules.redact(exc.args[0]), *exc.args[1:])
    return exc


def _download_retrying(
    url: str,
    options: DownloadOptions,
    cookies: Path | None,
    on_progress: ProgressCallback | None,
    cancel: threading.Event,
) -> DownloadedMedia:
    video_format = None  # set once an answer came back audio only: retried once with a format with video
    attempt = 1
    while True:
        if cancel.is_set():
            raise DownloadCancelledError(f"{url}: download cancelled")
        try:
            return _via_proxies(url, options, cookies, on_progress, cancel, video_format)
        except _AudioOnlyAnswer as answer:
            if video_format is not None:
                raise NoVideoStreamError(
                    f"{url}: the site served audio only, also when asked for a format with video"
                ) from None
            log.info("%s: format %s has no video; retrying with one that has", url, answer.format_id)
            video_format = video_retry_format(answer.format_id)
        except DownloadFailedError as exc:
            if not exc.transient or attempt == options.retries:
                raise
            log.info("%s: %s; attempt %d of %d", url, exc.code, attempt, options.retries)
            cancel.wait(min(8, 2 ** (attempt - 1)))  # a cancel ends the wait, and the next turn the download
            attempt += 1


def _via_proxies(
    url: str,
    options: DownloadOptions,
    cookies: Path | None,
    on_progress: ProgressCallback | None,
    cancel: threading.Event,
    video_format: str | None,
) -> DownloadedMedia:
    """One try through each proxy of the route in turn (direct without one): a proxy that fails with a
    network error is rested, and the next one takes the download at once."""
    route = options.rules.route(url)
    for turn, proxy in enumerate(route.proxies, 1):
        try:
            return _download_once(url, options, route, proxy, cookies, on_progress, cancel, video_format)
        except NetworkError:
            options.rules.rest(proxy)
            log.warning(
                "%s: proxy %s failed (%d of %d); rested", url, proxy_label(proxy), turn, len(route.proxies)
            )
            if turn == len(route.proxies):
                raise
    return _download_once(url, options, route, None, cookies, on_progress, cancel, video_format)


def _download_once(
    url: str,
    options: DownloadOptions,
    route: Route,
    proxy: str | None,
    cookies: Path | None,
    on_progress: ProgressCallback | None,
    cancel: threading.Event | None,
    video_format: str | None = None,
) -> DownloadedMedia:
    progress = _Progress(url, options, on_progress, cancel)
    logger = _Log(options.rules)
    with (
        tempfile.TemporaryDirectory(prefix="dl-", dir=options.cache_dir) as work,
        policed_connections(not options.allow_private_urls, proxy),
    ):
        workdir = Path(work)
        copy = _cookie_copy(cookies, workdir)
        params = _params(options, workdir, copy, [progress.hook], logger, route, proxy)
        params["playlist_items"] = "1"  # a single video by default: the first one the link leads to
        if video_format:
            params["format"] = video_format
        try:
            with _youtube_dl(params, options, proxy is not None) as ydl:
                info = ydl.extract_info(url, download=False)
                if info.get("_type") in ("playlist", "multi_video"):
                    entries = [entry for entry in info.get("entries") or [] if entry]
                    if not entries:
                        raise UnsupportedLinkError(f"{url}: the playlist or page has no videos")
                    info = entries[0]
                _check_limits(url, info, options)
                stem = _cache_stem(info, url)
                reused = _cached(options, stem)
                if reused is None:
                    progress.parts = len(info.get("requested_formats") or [info])
                    info = ydl.process_ie_result(info, download=True)
                safe = ydl.sanitize_info(info)
                subtitles = site_subtitles(ydl, url, info) if options.subtitles else None
        except DownloadCancelled:
            raise DownloadCancelledError(f"{url}: download cancelled") from None
        except (YoutubeDLError, OSError) as exc:
            if any(isinstance(item, DownloadCancelled) for item in _causes(exc)):
                raise DownloadCancelledError(f"{url}: download cancelled") from None
            if video_format and NO_SUCH_FORMAT in str(exc):  # the link has no format with video at all
                raise _AudioOnlyAnswer("") from None
            raise _classify(url, exc, logger.lines) from None
        if reused is None:
            done = [
                Path(item["filepath"])
                for item in safe.get("requested_downloads") or []
                if item.get("filepath")
            ]
            if not done or not done[0].is_file():
                if any("max-filesize" in line for line in logger.lines):  # skipped on Content-Length
                    raise TooLargeError(f"{url}: the file is over the limit of {options.max_filesize_mb} MB")
                raise DownloadFailedError(
                    f"{url}: no file was downloaded ({'; '.join(list(logger.lines)[-2:])})"
                )
            if _audio_only(url, done[0], options):
                raise _AudioOnlyAnswer(str(safe.get("format_id") or ""))
            reused_flag, target = False, _store(options, stem, done[0], safe)
        else:
            reused_flag, target = True, reused
    if on_progress:
        on_progress("downloading", 100.0)
    return DownloadedMedia(
        path=target,
        title=safe.get("title"),
        uploader=_creator(safe),
        original_url=safe.get("original_url") or url,
        extractor=str(safe.get("extractor_key") or safe.get("extractor") or "generic"),
        video_id=str(safe.get("id")),
        duration=safe.get("duration"),
        reused=reused_flag,
        subtitles=subtitles,
    )


SUBTITLE_EXTS = ("vtt", "srt")  # what portal.media.transcript reads
SUBTITLES_MAX_BYTES = 2 * MB


def _subtitle_choices(info: dict) -> Iterator[dict]:
    """The site's readable subtitle tracks, best first: made by people (`subtitles`) before automatic
    captions, and within each the video's own language (YouTube's "<lang>-orig" for automatic ones), then
    English; automatic captions in other languages are machine translations and are left out."""
    language = str(info.get("language") or "")
    for key in ("subtitles", "automatic_captions"):
        tracks = {lang: items for lang, items in (info.get(key) or {}).items() if lang != "live_chat"}
        own = [lang for lang in tracks if lang.endswith("-orig") or (language and lang == language)]
        english = [lang for lang in tracks if lang == "en" or lang.startswith("en-")]
        rest = [lang for lang in tracks if key == "subtitles" and lang not in own + english]
        for lang in dict.fromkeys(own + english + rest):
            readable = [item for item in tracks[lang] or [] if _track_ext(item) in SUBTITLE_EXTS]
            yield from sorted(readable, key=lambda item: SUBTITLE_EXTS.index(_track_ext(item)))


def _track_ext(track: dict) -> str:
    """A subtitle track's format: as the site says, else its URL's extension (HTML5 <track> gives none)."""
    return str(track.get("ext") or urlsplit(track.get("url") or "").path.rpartition(".")[2]).lower()


def site_subtitles(ydl: yt_dlp.YoutubeDL, url: str, info: dict) -> str | None:
    """The text of the best subtitle track the site offers (`_subtitle_choices`), fetched through the same
    policed client as the video; None when it offers none we can read. A track that cannot be fetched is
    skipped (the next one is tried): captions are not worth failing the download for."""
    for track in _subtitle_choices(info):
        try:
            with ydl.urlopen(track["url"]) as answer:
                body = answer.read(SUBTITLES_MAX_BYTES + 1)
        except (YoutubeDLError, OSError, KeyError) as exc:
            log.info("%s: subtitles at %s not fetched (%s)", url, redact(str(track.get("url"))), exc)
            continue
        if len(body) <= SUBTITLES_MAX_BYTES:
            return body.decode("utf-8-sig", errors="replace")
    return None


def _creator(info: dict) -> str | None:
    """Who made the video, as the site says. yt-dlp's generic extractor names the page's host instead when
    a page says nothing: a host is not a creator to credit in a post."""
    uploader = info.get("uploader")
    page = info.get("webpage_url") or info.get("original_url") or ""
    if uploader and str(info.get("extractor_key")).lower() == "generic" and uploader == urlsplit(page).netloc:
        return None
    return uploader


# --- cookies ------------------------------------------------------------------------------------

# One cookie line of a Netscape file: domain, subdomains, path, secure, expiry, name, value. No control
# characters but the tabs: a cookie value cannot hold them (RFC 6265), and a line that yt-dlp cannot read
# is printed by yt-dlp, whole (value included), into the server's log at every download.
_FIELD = r"[^\t\x00-\x1f\x7f-\x9f\u2028\u2029]"  # printable: no tab, no C0/C1 control, no line separator
_COOKIE_LINE = re.compile(
    rf"{_FIELD}+\t(TRUE|FALSE)\t{_FIELD}*\t(TRUE|FALSE)\t\d*(\.\d+)?\t{_FIELD}*\t{_FIELD}*"
)


class CookieText(NamedTuple):
    text: str  # with the header line yt-dlp wants
    count: int  # cookies
    domains: frozenset[str]  # the hosts they are for, without a leading dot


def netscape_cookies(text: str) -> CookieText:
    """A cookies file checked line by line exactly as yt-dlp splits it (a text-mode file: lines end at
    \\n, \\r or \\r\\n only, unlike str.splitlines). CookiesFileError names the line by number, never
    by content."""
    cookies, domains = 0, set()
    for number, line in enumerate(io.StringIO(text, newline=None), 1):
        line = line.removesuffix("\n").removeprefix("#HttpOnly_")  # exporters mark HttpOnly cookies so
        if not line.strip() or line.startswith("#"):
            continue
        if not _COOKIE_LINE.fullmatch(line):
            raise CookiesFileError(
                f"not a Netscape cookies file: line {number} is not 7 tab-separated fields (domain, "
                "subdomains, path, secure, expiry, name, value) of printable characters"
            )
        cookies += 1
        domains.add(line.split("\t", 1)[0].lower().lstrip("."))
    if not cookies:
        raise CookiesFileError("the cookies file holds no cookies")
    if not text.startswith(("# Netscape", "# HTTP Cookie")):
        text = NETSCAPE_HEADER + text
    return CookieText(text, cookies, frozenset(domains))


def store_cookies(target: Path, content: bytes) -> CookieText:
    """Validate and store a Netscape cookies file as `target` (mode 0600, in a folder of the service's
    only); what it holds."""
    parsed = netscape_cookies(content.decode("utf-8", "replace"))
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=target.parent)  # mkstemp makes it 0600 from the start
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(parsed.text)
    try:
        YoutubeDLCookieJar(temp).load()  # what yt-dlp itself will read
    except (http.cookiejar.LoadError, OSError):
        os.unlink(temp)
        raise CookiesFileError("not a Netscape cookies file: yt-dlp cannot read it") from None
    os.replace(temp, target)
    return parsed
