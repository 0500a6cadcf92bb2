"""The security headers of every answer, in one place: the app sends them, and the nginx site in
deploy/nginx sends the same (tests/deploy compares the two).

The dashboard runs under this policy: its script and styles are files of /static (no inline script, no
inline handlers; its data comes in JSON blocks, which are not run), its calls go to this origin, and no
other site may frame it.
"""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",  # previews are blobs; the favicon is a data: URL
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # signed links carry their signature in the query
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
}


def init_security_headers(app: Flask) -> None:
    """Every answer (pages, JSON, files, errors) carries SECURITY_HEADERS."""

    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
