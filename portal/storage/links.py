"""Signed download links (DESIGN 4.7): an output's URL that works without the portal key until it expires.

A link is the download path plus `expires` (Unix seconds) and `signature`: an HMAC-SHA256 (itsdangerous) of
the file name and the expiry. Anyone holding the link can fetch that one file until then (a phone's
`<video src>`, a teammate's chat); changing the name, the expiry or the signature makes it a 403.
Nothing here needs the app: a worker signs the links of a webhook's JOB object with the settings alone.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from itsdangerous import Signer

from portal.config import Settings
from portal.errors import PortalError

SALT = "wtf-portal.download-link"
DOWNLOAD_PATH = "/api/videos/download/"
EXPIRES, SIGNATURE = "expires", "signature"
# Expiry is rounded up to the minute, so links made within the same minute are the same URL (cacheable).
ROUND_SECONDS = 60
MAX_EXPIRES_DIGITS = 12  # Unix seconds until the year 33658


class LinkRefusedError(PortalError):
    """A signed link that does not open its file; the holder needs a fresh one, not the portal key."""

    status = 403


class BadSignatureError(LinkRefusedError):
    code = "bad_signature"


class LinkExpiredError(LinkRefusedError):
    code = "link_expired"


@dataclass(frozen=True)
class LinkSigner:
    """Makes and checks signed links for output files."""

    secret: str
    ttl_hours: float

    def _signer(self) -> Signer:
        return Signer(self.secret, salt=SALT, digest_method=hashlib.sha256)

    @staticmethod
    def _message(filename: str, expires: int) -> str:
        return f"{filename}\n{expires}"

    def query(self, filename: str, now: float | None = None) -> dict[str, str]:
        """The query parameters that make `filename`'s download path a signed link."""
        now = time.time() if now is None else now
        expires = math.ceil((now + self.ttl_hours * 3600) / ROUND_SECONDS) * ROUND_SECONDS
        signature = self._signer().get_signature(self._message(filename, expires)).decode()
        return {EXPIRES: str(expires), SIGNATURE: signature}

    def check(self, filename: str, args: Mapping[str, str], now: float | None = None) -> None:
        """Raise a `LinkRefusedError` unless `args` carry a valid, unexpired signature for `filename`."""
        expires_text, signature = args.get(EXPIRES, ""), args.get(SIGNATURE, "")
        # ASCII digits only (superscripts are digits to str.isdigit, not to int), and a sane number of them
        plain = expires_text.isascii() and expires_text.isdigit() and len(expires_text) <= MAX_EXPIRES_DIGITS
        if not plain or not self._signer().verify_signature(
            self._message(filename, int(expires_text)), signature.encode()
        ):
            raise BadSignatureError("this link was changed or signed with another key; ask for a new one")
        if int(expires_text) < (time.time() if now is None else now):
            raise LinkExpiredError("this link has expired; open the job again for a fresh one")


def is_signed(args: Mapping[str, str]) -> bool:
    """The request presents a link signature (valid or not: the view decides, with a 403 if it is bad)."""
    return SIGNATURE in args or EXPIRES in args


def signer_for(settings: Settings, portal_key: str | None = None) -> LinkSigner:
    """WTF_SECRET_KEY, else the portal key, so every web process, worker and restart agrees."""
    return LinkSigner(settings.secret_key or portal_key or settings.portal_key or "", settings.link_ttl_hours)


def signed_link(signer: LinkSigner, filename: str) -> str:
    """The signed link of an output file, as a path.
    The path is the `api.download` route's (tests/hooks/test_job_object.py holds them together)."""
    return f"{DOWNLOAD_PATH}{quote(filename)}?{urlencode(signer.query(filename))}"
