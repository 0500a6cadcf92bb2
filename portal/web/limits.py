"""What a request may be: where it really came from (trusted proxies), how big a JSON body, how deep.

- Behind WTF_TRUSTED_PROXIES proxies the client address and scheme come from the last entries of
  X-Forwarded-For / X-Forwarded-Proto (werkzeug's ProxyFix); with 0 those headers are ignored, so a
  client cannot pick its own address to dodge the wrong-key limit.
- Only multipart requests (uploads) may be as large as WTF_MAX_UPLOAD_MB; any other body (JSON, forms)
  is read into memory, so it is capped at MAX_JSON_BODY_BYTES (413 above it).
- JSON nested deeper than the parser's recursion limit is a 400 "not valid JSON", not a 500.
"""

from __future__ import annotations

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

MAX_JSON_BODY_BYTES = 1_048_576  # a job request with 50 links is about 10 KB


class DepthSafeJSONProvider(DefaultJSONProvider):
    """json.loads raises RecursionError on very deep nesting; Flask only turns ValueError into a 400."""

    def loads(self, s: str | bytes, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


def init_request_limits(app: Flask, trusted_proxies: int) -> None:
    """Install the proxy fix, the JSON parser and the per-request body cap on the app."""
    if trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=trusted_proxies, x_proto=trusted_proxies)
    app.json = DepthSafeJSONProvider(app)

    @app.before_request
    def _cap_non_upload_bodies() -> None:
        if request.mimetype != "multipart/form-data":
            request.max_content_length = min(MAX_JSON_BODY_BYTES, app.config["MAX_CONTENT_LENGTH"])
