"""Which way a link goes, and how each site has been treating us (DESIGN 4.15).

- `site_of`: the site a link belongs to (www.instagram.com and instagram.com are one site), the key of
  every rule and record below.
- `SiteRules.route(url)`: the proxies a link goes through (WTF_PROXIES, for the domains of
  WTF_PROXY_SITES), the browser yt-dlp impersonates for it (the IMPERSONATION table, WTF_IMPERSONATE),
  and the YouTube extractor arguments (WTF_YOUTUBE_EXTRACTOR_ARGS). A proxy that failed is rested
  (passed over for WTF_PROXY_REST_S) and the next one tried.
- The health record of each site, in the database: after WTF_SITE_PAUSE_AFTER failures in a row the site
  is paused for WTF_SITE_COOLDOWN_S, and its jobs wait in `queued` instead of failing at full speed.

Proxy URLs may hold a password: nothing here or in the downloader writes one into a log line, an error or
a page; `redact` takes the credentials out of any text that might quote a proxy.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import unquote, urlsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from portal.config import Settings
from portal.database import Database, SiteHealth, utc_now
from portal.errors import WaitInQueue

# Names of one site: a link to any of them (or a subdomain) counts for the site on the right.
SITE_ALIASES = {
    "youtu.be": "youtube.com",
    "youtube-nocookie.com": "youtube.com",
    "twitter.com": "x.com",
    "fb.watch": "facebook.com",
    "instagr.am": "instagram.com",
}
KNOWN_SITES = ("youtube.com", "instagram.com", "tiktok.com", "x.com", "facebook.com", "vimeo.com",
               "reddit.com", "twitch.tv", "dailymotion.com", "snapchat.com", "threads.net")  # fmt: skip

# The sites that refuse a client without a browser's TLS handshake and headers (v3's history: TikTok's
# blocks, Instagram's 403s), and the browser yt-dlp imitates for them (curl_cffi). WTF_IMPERSONATE_SITES
# adds domains with the default browser; WTF_IMPERSONATE=0 turns it all off.
DEFAULT_BROWSER = "chrome"
IMPERSONATION: Mapping[str, str] = {
    "tiktok.com": DEFAULT_BROWSER,
    "instagram.com": DEFAULT_BROWSER,
    "facebook.com": DEFAULT_BROWSER,
}

# The failures that say something about the site (it blocks us, wants a sign-in, does not answer);
# a removed video, an unsupported page or a file over the limit say something about the link only.
SITE_FAILURE_CODES = frozenset({"network_error", "access_denied", "login_required", "download_failed"})
ALL_SITES = "*"
PAUSE_MARGIN_S = 1.0


def site_of(url_or_host: str) -> str:
    """The site of a link or host name: a known site for its subdomains and aliases, else the host
    without "www."."""
    host = url_or_host
    if "://" in url_or_host:
        try:
            host = urlsplit(url_or_host).hostname or ""
        except ValueError:
            host = ""
    host = host.lower().strip().rstrip(".").lstrip(".")
    for alias, site in SITE_ALIASES.items():
        if host == alias or host.endswith("." + alias):
            return site
    for site in KNOWN_SITES:
        if host == site or host.endswith("." + site):
            return site
    return host.removeprefix("www.")


def _matches(host_or_site: str, domains: tuple[str, ...] | Mapping[str, str]) -> str | None:
    """The domain of `domains` that names this host (itself or a parent domain), if any."""
    for domain in domains:
        if host_or_site == domain or host_or_site.endswith("." + domain):
            return domain
    return None


# --- proxies ------------------------------------------------------------------------------------

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#]*@")


def redact(text: str, proxies: tuple[str, ...] = ()) -> str:
    """`text` with the credentials of any URL in it, and the passwords of `proxies` wherever they
    appear (decoded or not), replaced by ***."""
    text = _USERINFO.sub(r"\1***@", text)
    for proxy in proxies:
        secret = urlsplit(proxy).password
        for form in {secret, unquote(secret or "")} - {None, ""}:
            text = text.replace(form, "***")
    return text


def proxy_label(proxy: str) -> str:
    """A proxy as logs and pages may name it: scheme, host and port, never the user or password."""
    parts = urlsplit(proxy)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


class ProxyRests:
    """The proxies of this process that failed lately, each passed over until its rest ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def rest(self, proxy: str, seconds: float) -> None:
        with self._lock:
            self._until[proxy] = time.monotonic() + seconds

    def in_turn(self, proxies: tuple[str, ...]) -> list[str]:
        """The proxies in the configured order, those resting last (the one rested longest first): when
        every proxy failed lately, trying one is better than refusing the link."""
        now = time.monotonic()
        with self._lock:
            until = {proxy: self._until.get(proxy, 0.0) for proxy in proxies}
        fresh = [proxy for proxy in proxies if until[proxy] <= now]
        return fresh + sorted((p for p in proxies if until[p] > now), key=until.__getitem__)


PROXY_RESTS = ProxyRests()


# --- the route of one link ----------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """How one link is fetched."""

    proxies: tuple[str, ...] = ()  # tried in turn; empty: direct
    impersonate: str | None = None  # a yt-dlp impersonation target ("chrome"), or none
    extractor_args: Mapping[str, Mapping[str, list[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class SiteRules:
    """The rules of this deployment, from its settings; `route(url)` applies them to a link."""

    proxies: tuple[str, ...] = ()
    proxy_domains: tuple[str, ...] = ()  # empty: every site goes through the proxies
    proxy_rest_s: float = 300.0
    impersonation: Mapping[str, str] = field(default_factory=lambda: dict(IMPERSONATION))
    youtube_args: Mapping[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> SiteRules:
        impersonation = {**IMPERSONATION, **dict.fromkeys(settings.impersonate_domains, DEFAULT_BROWSER)}
        return cls(
            proxies=settings.proxy_urls,
            proxy_domains=settings.proxy_domains,
            proxy_rest_s=settings.proxy_rest_s,
            impersonation=impersonation if settings.impersonate else {},
            youtube_args=settings.youtube_args,
        )

    def route(self, url: str) -> Route:
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            host = ""
        names = (host, site_of(host))  # a rule names a host, a parent domain of it, or its site
        proxied = not self.proxy_domains or any(_matches(name, self.proxy_domains) for name in names)
        browsers = [self.impersonation[d] for name in names if (d := _matches(name, self.impersonation))]
        return Route(
            proxies=tuple(PROXY_RESTS.in_turn(self.proxies)) if proxied else (),
            impersonate=browsers[0] if browsers else None,
            extractor_args={"youtube": dict(self.youtube_args)} if self.youtube_args else {},
        )

    def rest(self, proxy: str) -> None:
        PROXY_RESTS.rest(proxy, self.proxy_rest_s)

    def redact(self, text: str) -> str:
        return redact(text, self.proxies)


# --- health -------------------------------------------------------------------------------------


class SitePausedError(WaitInQueue):
    """The site failed too often in a row: its jobs wait for the cool-down instead of failing."""

    code = "site_paused"


def check_not_paused(db: Database, site: str) -> None:
    """Raise SitePausedError (the job waits, its stage saying why and until when) while the site is
    paused."""
    with db.session() as session:
        record = session.get(SiteHealth, site)
        until = record.paused_until if record is not None else None
        if until is None or until <= utc_now():
            return
        why = f"{site} paused after {record.failures_in_a_row} failures in a row ({record.last_code})"
    # taken up a moment after the pause ends, not a hair before (then it would only wait again)
    retry_after_s = (until - utc_now()).total_seconds() + PAUSE_MARGIN_S
    raise SitePausedError(f"waiting: {why}; waiting until {until:%H:%M:%S} UTC", retry_after_s)


def record_outcome(
    db: Database, settings: Settings, site: str, code: str | None = None, reason: str = ""
) -> None:
    """Count one download: a success (`code` None), or a failure with its error code and reason. A
    failure that says something about the site adds to the failures in a row, and the
    WTF_SITE_PAUSE_AFTER-th pauses it for WTF_SITE_COOLDOWN_S. Each change is one UPDATE (counters
    moved by the database itself), so workers recording the same site at once lose no count."""
    _make_record(db, site)
    now = utc_now()
    this_site = update(SiteHealth).where(SiteHealth.site == site)
    with db.session() as session:
        if code is None:
            session.execute(this_site.values(
                successes=SiteHealth.successes + 1, failures_in_a_row=0, last_success_at=now,
                paused_until=None,
            ))  # fmt: skip
            return
        in_a_row = SiteHealth.failures_in_a_row + (1 if code in SITE_FAILURE_CODES else 0)
        session.execute(this_site.values(
            failures=SiteHealth.failures + 1, failures_in_a_row=in_a_row, last_code=code,
            last_reason=reason[:1000], last_failure_at=now,
        ))  # fmt: skip
        if code in SITE_FAILURE_CODES:
            session.execute(
                this_site.where(SiteHealth.failures_in_a_row >= settings.site_pause_after).values(
                    paused_until=now + timedelta(seconds=settings.site_cooldown_s)
                )
            )


def _make_record(db: Database, site: str) -> None:
    """The site's record, made empty the first time (by whichever worker comes first)."""
    with db.session() as session:
        if session.get(SiteHealth, site) is not None:
            return
    with contextlib.suppress(IntegrityError), db.session() as session:
        session.add(SiteHealth(site=site, successes=0, failures=0, failures_in_a_row=0))


def site_health(db: Database) -> list[dict]:
    """Every site's record, failing sites first (paused, then by failures in a row)."""
    now = utc_now()
    with db.session() as session:
        records = session.scalars(select(SiteHealth)).all()
    rows = [
        {
            "site": r.site,
            "successes": r.successes,
            "failures": r.failures,
            "failures_in_a_row": r.failures_in_a_row,
            "last_code": r.last_code,
            "last_reason": r.last_reason,
            "last_failure_at": r.last_failure_at,
            "last_success_at": r.last_success_at,
            "paused_until": r.paused_until if r.paused_until and r.paused_until > now else None,
        }
        for r in records
    ]
    return sorted(rows, key=lambda r: (r["paused_until"] is None, -r["failures_in_a_row"], r["site"]))
