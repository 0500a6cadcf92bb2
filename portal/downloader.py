"""Links to files: the one module that talks to yt-dlp.

Policy first (http/https only; hosts resolving to private, loopback, link-local, multicast or reserved
addresses refused unless WTF_ALLOW_PRIVATE_URLS), checked at submission and again on every request
yt-dlp makes. Downloads are bounded (size, duration), retried when the failure is transient, reused
when the same video (extractor + id) was fetched within the retention time, and their metadata passes
through `sanitize_info` before anything is stored.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yt_dlp
from yt_dlp.utils import (
    DownloadCancelled,
    DownloadError,
    ExtractorError,
    GeoRestrictedError,
    UnsupportedError,
)

from portal.config import Settings
from portal.media.binary import locate_ffmpeg
from portal.media.errors import EngineError
from portal.media.probe import probe_media

ProgressCallback = Callable[[str, float], None]


class DownloadFailedError(EngineError):
    code = "download_failed"


class UrlRefusedError(DownloadFailedError):
    code = "url_refused"


class UnsupportedLinkError(DownloadFailedError):
    code = "unsupported_link"


class VideoUnavailableError(DownloadFailedError):
    code = "video_unavailable"


class LoginRequiredError(DownloadFailedError):
    code = "login_required"


class GeoBlockedError(DownloadFailedError):
    code = "geo_blocked"


class TooLargeError(DownloadFailedError):
    code = "too_large"


class TooLongError(DownloadFailedError):
    code = "too_long"


class NetworkError(DownloadFailedError):
    code = "network_error"
    transient = True


class DownloadCancelledError(DownloadFailedError):
    code = "cancelled"


@dataclass(frozen=True)
class DownloadOptions:
    cache_dir: Path
    ffmpeg_path: str | None = None
    max_filesize_mb: int = 500
    max_duration_s: int = 600
    allow_private_urls: bool = False
    cookies_file: Path | None = None
    playlist_limit: int = 10
    socket_timeout: float = 20.0
    retries: int = 3  # whole-download attempts for transient failures
    max_long_side: int = 1920
    retention_hours: float = 72.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DownloadOptions:
        stored_cookies = settings.data_dir / "secrets" / "cookies.txt"
        return cls(
            cache_dir=settings.downloads_dir,
            ffmpeg_path=settings.ffmpeg_path,
            max_filesize_mb=settings.max_download_mb,
            max_duration_s=settings.max_duration_s,
            allow_private_urls=settings.allow_private_urls,
            cookies_file=settings.cookies_file or (stored_cookies if stored_cookies.is_file() else None),
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

    def as_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


# --- URL policy ---------------------------------------------------------------------------------


def check_url(url: str, allow_private: bool) -> None:
    """Refuse anything but http(s) to public addresses (unless private addresses are allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlRefusedError(f"{url}: only http and https links are accepted")
    host = parts.hostname
    if not host:
        raise UrlRefusedError(f"{url}: the link has no host")
    if allow_private:
        return
    try:
        addresses = {
            info[4][0] for info in socket.getaddrinfo(host, parts.port or 443, type=socket.SOCK_STREAM)
        }
    except (socket.gaierror, UnicodeError):
        raise UrlRefusedError(f"{url}: the host {host!r} does not resolve") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast or ip.is_reserved:
            raise UrlRefusedError(
                f"{url}: {host} resolves to {ip}, a private, loopback, link-local or reserved address "
                "(set WTF_ALLOW_PRIVATE_URLS=1 to allow)"
            )


class _PolicedYoutubeDL(yt_dlp.YoutubeDL):
    """Every request yt-dlp makes (pages, manifests, fragments, media) passes the URL policy.

    A redirect is followed inside yt-dlp's request handler; its final address is checked before any of
    its data is used (see docs/ACQUISITION.md for what that leaves open).
    """

    def __init__(self, params: dict, allow_private: bool) -> None:
        super().__init__(params)
        self._allow_private = allow_private

    def urlopen(self, req):
        url = req if isinstance(req, str) else req.url
        check_url(url, self._allow_private)
        response = super().urlopen(req)
        final = getattr(response, "url", None)
        if final and final != url:
            try:
                check_url(final, self._allow_private)
            except UrlRefusedError:
                response.close()
                raise
        return response


# --- downloading --------------------------------------------------------------------------------


def _params(options: DownloadOptions, workdir: Path, cookies: Path | None, hooks: list) -> dict:
    side = options.max_long_side
    return {
        # best video no larger than the output needs, with audio; merged by our FFmpeg into MP4
        "format": f"bv*[height<={side}][width<={side}]+ba/b[height<={side}][width<={side}]/bv*+ba/b",
        "format_sort": [f"res:{side}", "vcodec:h264", "acodec:aac"],
        "merge_output_format": "mp4",
        "ffmpeg_location": str(locate_ffmpeg(options.ffmpeg_path)),
        "outtmpl": {"default": str(workdir / "%(extractor)s-%(id)s.%(ext)s")},
        "max_filesize": options.max_filesize_mb * 1_048_576,
        "retries": 2,
        "fragment_retries": 3,
        "extractor_retries": 2,
        "socket_timeout": options.socket_timeout,
        "noplaylist": True,
        "hls_prefer_native": True,  # fragments then go through the policed urlopen, not FFmpeg's network
        "cookiefile": str(cookies) if cookies else None,
        "progress_hooks": hooks,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _QuietLogger(),
    }


class _QuietLogger:
    """yt-dlp's messages go to our log, not to stdout."""

    def __init__(self) -> None:
        import logging

        self.log = logging.getLogger("portal.downloader")

    def debug(self, message: str) -> None:
        self.log.debug(message)

    def info(self, message: str) -> None:
        self.log.debug(message)

    def warning(self, message: str) -> None:
        self.log.info(message)

    def error(self, message: str) -> None:
        self.log.info(message)


def _cookie_copy(options: DownloadOptions, workdir: Path) -> Path | None:
    """A private, writable copy: yt-dlp writes cookies back, and the shared file must stay intact."""
    if not options.cookies_file or not Path(options.cookies_file).is_file():
        return None
    copy = workdir / "cookies.txt"
    shutil.copyfile(options.cookies_file, copy)
    copy.chmod(0o600)
    return copy


def _classify(url: str, exc: Exception) -> DownloadFailedError:
    """yt-dlp's error text -> an error a person can act on, marked transient when retrying may help."""
    if isinstance(exc, DownloadFailedError):
        return exc
    message = str(exc).replace("ERROR: ", "")
    lower = message.lower()
    original = getattr(exc, "exc_info", None)
    cause = original[1] if original else exc
    if isinstance(cause, UrlRefusedError):
        return cause
    if isinstance(cause, GeoRestrictedError) or ("geo" in lower and "restrict" in lower):
        return GeoBlockedError(f"{url}: the video is not available from this server's country")
    if isinstance(cause, UnsupportedError) or "unsupported url" in lower:
        return UnsupportedLinkError(f"{url}: no video found at this link (unsupported site or page)")
    if any(
        word in lower for word in ("sign in", "login", "log in", "cookies", "not a bot", "age-restricted")
    ):
        return LoginRequiredError(
            f"{url}: the site wants a signed-in user; upload a cookies file (WTF_COOKIES_FILE)"
        )
    if any(word in lower for word in ("private video", "removed", "unavailable", "does not exist", "404")):
        return VideoUnavailableError(f"{url}: the video is unavailable (removed, private or not found)")
    if any(
        word in lower
        for word in (
            "timed out",
            "timeout",
            "temporarily",
            "connection",
            "503",
            "502",
            "500",
            "504",
            "incomplete",
            "reset by peer",
        )
    ):
        reason = "timed out" if "timed out" in lower or "timeout" in lower else message.splitlines()[0][:160]
        return NetworkError(f"{url}: network problem ({reason}); retried, still failing")
    if isinstance(cause, ExtractorError) and "no video" in lower:
        return UnsupportedLinkError(f"{url}: no video found at this link")
    return DownloadFailedError(f"{url}: download failed ({message.splitlines()[0][:200]})")


def _check_limits(url: str, info: dict, options: DownloadOptions) -> None:
    duration = info.get("duration")
    if duration and duration > options.max_duration_s:
        raise TooLongError(
            f"{url}: the video lasts {duration:.0f} s, over the limit of {options.max_duration_s} s"
        )
    size = info.get("filesize") or info.get("filesize_approx")
    if size and size > options.max_filesize_mb * 1_048_576:
        raise TooLargeError(
            f"{url}: the video is {size / 1_048_576:.0f} MB, over the limit of {options.max_filesize_mb} MB"
        )


def _check_duration(url: str, path: Path, options: DownloadOptions) -> None:
    """Direct links declare no duration before downloading, so the limit is also checked on the file."""
    try:
        duration = probe_media(path).duration
    except EngineError:
        return  # not a video: the render reports that, with the file's name
    if duration > options.max_duration_s:
        raise TooLongError(
            f"{url}: the video lasts {duration:.0f} s, over the limit of {options.max_duration_s} s"
        )


def _cached(options: DownloadOptions, extractor: str, video_id: str) -> Path | None:
    stem = _cache_stem(extractor, video_id)
    for candidate in options.cache_dir.glob(f"{stem}.*"):
        if time.time() - candidate.stat().st_mtime < options.retention_hours * 3600:
            os.utime(candidate)  # reuse keeps it young
            return candidate
    return None


def _cache_stem(extractor: str, video_id: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in f"{extractor}-{video_id}")
    return safe[:120]


def expand_playlist(url: str, options: DownloadOptions) -> list[str]:
    """The entries of a playlist, feed or profile link (capped by WTF_PLAYLIST_LIMIT), else [url]."""
    check_url(url, options.allow_private_urls)
    params = {
        **_params(options, options.cache_dir, None, []),
        "noplaylist": False,
        "extract_flat": "in_playlist",
        "playlistend": options.playlist_limit,
    }
    try:
        with _PolicedYoutubeDL(params, options.allow_private_urls) as ydl:
            info = ydl.extract_info(url, download=False)
    except (DownloadError, ExtractorError) as exc:
        raise _classify(url, exc) from None
    entries = [entry for entry in (info.get("entries") or []) if entry]
    if not entries:
        return [url]
    return [entry.get("url") or entry.get("webpage_url") for entry in entries][: options.playlist_limit]


def download(
    url: str,
    options: DownloadOptions,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> DownloadedMedia:
    """Fetch one video into the cache folder (or reuse it); transient failures are retried."""
    check_url(url, options.allow_private_urls)
    options.cache_dir.mkdir(parents=True, exist_ok=True)
    last_error: DownloadFailedError | None = None
    for attempt in range(options.retries):
        try:
            return _download_once(url, options, on_progress, cancel)
        except DownloadFailedError as exc:
            if not exc.transient or attempt == options.retries - 1:
                raise
            last_error = exc
            time.sleep(min(8, 2**attempt))
    raise last_error or DownloadFailedError(f"{url}: download failed")


def _download_once(url, options, on_progress, cancel) -> DownloadedMedia:
    limit = options.max_filesize_mb * 1_048_576

    def hook(status: dict) -> None:
        if cancel is not None and cancel.is_set():
            raise DownloadCancelled("cancelled")
        if (status.get("downloaded_bytes") or 0) > limit:
            raise TooLargeError(f"{url}: the download passed the limit of {options.max_filesize_mb} MB")
        total = status.get("total_bytes") or status.get("total_bytes_estimate")
        if on_progress and total and status.get("status") == "downloading":
            on_progress("downloading", min(99.0, 100.0 * status["downloaded_bytes"] / total))

    with tempfile.TemporaryDirectory(prefix="dl-", dir=options.cache_dir) as work:
        workdir = Path(work)
        params = _params(options, workdir, _cookie_copy(options, workdir), [hook])
        try:
            with _PolicedYoutubeDL(params, options.allow_private_urls) as ydl:
                info = ydl.extract_info(url, download=False)
                if info.get("_type") == "playlist":
                    raise UnsupportedLinkError(f"{url}: this is a playlist; ask for playlist expansion")
                extractor, video_id = (
                    info.get("extractor_key") or info.get("extractor", "generic"),
                    str(info["id"]),
                )
                reused = _cached(options, extractor, video_id)
                if reused is None:
                    _check_limits(url, info, options)
                    info = ydl.process_ie_result(info, download=True)
                safe = ydl.sanitize_info(info)
        except DownloadCancelled:
            raise DownloadCancelledError(f"{url}: download cancelled") from None
        except (DownloadError, ExtractorError) as exc:
            cause = getattr(exc, "exc_info", None)
            if cause and isinstance(cause[1], DownloadFailedError):
                raise cause[1] from None
            if cause and isinstance(cause[1], DownloadCancelled):
                raise DownloadCancelledError(f"{url}: download cancelled") from None
            raise _classify(url, exc) from None
        if reused is None:
            reused_flag = False
            files = [p for p in workdir.iterdir() if p.name != "cookies.txt" and not p.name.endswith(".part")]
            if not files:
                # yt-dlp gives up silently, before any byte, when Content-Length is over max_filesize
                raise TooLargeError(f"{url}: the file is over the limit of {options.max_filesize_mb} MB")
            source = max(files, key=lambda p: p.stat().st_size)
            _check_duration(url, source, options)
            target = options.cache_dir / f"{_cache_stem(extractor, video_id)}{source.suffix}"
            os.replace(source, target)
        else:
            reused_flag, target = True, reused
    if on_progress:
        on_progress("downloading", 100.0)
    return DownloadedMedia(
        path=target,
        title=safe.get("title"),
        uploader=safe.get("uploader"),
        original_url=safe.get("original_url") or url,
        extractor=str(extractor),
        video_id=video_id,
        duration=safe.get("duration"),
        reused=reused_flag,
    )


def store_cookies(data_dir: Path, content: bytes) -> int:
    """Validate and store an uploaded Netscape cookies file (mode 0600); return its number of cookies."""
    text = content.decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    valid = [line for line in lines if len(line.split("\t")) == 7]
    if not valid or len(valid) != len(lines):
        raise ValueError("not a Netscape cookies file (7 tab-separated fields per line)")
    folder = data_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / "cookies.txt"
    fd, temp = tempfile.mkstemp(dir=folder)
    with os.fdopen(fd, "w") as handle:
        handle.write(text if text.startswith("# Netscape") else "# Netscape HTTP Cookie File\n" + text)
    os.chmod(temp, 0o600)
    os.replace(temp, target)
    return len(valid)
