"""The security headers of every answer, in one place: the app sends them, and the nginx site in
deploy/nginx sends the same (tests/deploy compares the two).

The dashboard runs under this policy: its script and styles are files of /static (no inline script, no
inline handlers; its data comes in JSON blocks, which are not run), its calls go to this origin, and no
other site may frame it.
"""

from __future__ import annotations

from flask import Flask, Response


def content_security_policy(media_origin: str | None = None) -> str:
    """The policy; `media_origin`: the bucket's, when outputs play from presigned URLs (object storage)."""
    # blob: the source editor plays the user's chosen file from the browser, before any upload
    media = f"'self' blob: {media_origin}" if media_origin else "'self' blob:"
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data: blob:",  # previews are blobs; the favicon is a data: URL
            f"media-src {media}",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def security_headers(media_origin: str | None = None) -> dict[str, str]:
    """Every answer's security headers (the nginx site sends these, for files served from its disk)."""
    return {
        "Content-Security-Policy": content_security_policy(media_origin),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",  # signed links carry their signature in the query
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    }


def init_security_headers(app: Flask, media_origin: str | None = None) -> None:
    """Every answer (pages, JSON, files, errors) carries the security headers."""
    headers = security_headers(media_origin)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response
