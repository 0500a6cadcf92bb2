"""A loopback web server with the kinds of links people paste: direct files, pages, HLS, feeds, failures."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from portal.downloader import DownloadOptions
from tests.mediagen import ffmpeg, make_clip


@dataclass
class Site:
    root: Path
    url: str = ""
    bytes_served: Counter = field(default_factory=Counter)
    hits: Counter = field(default_factory=Counter)  # GET requests per path and query
    slow_seconds: float = 5.0


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    pages = {
        "/og.html": '<html><head><meta property="og:video" content="{base}/clip.mp4">'
        '<meta property="og:title" content="Falling cat"></head><body>hi</body></html>',
        "/video.html": "<html><head><title>Tag page</title></head><body>"
        '<video src="{base}/clip.mp4" controls></video></body></html>',
        "/novideo.html": "<html><head><title>Nothing</title></head><body>just text</body></html>",
        "/feed.xml": '<?xml version="1.0"?><rss version="2.0"><channel><title>Fails</title>'
        + "".join(
            f"<item><title>Clip {i}</title><guid>clip-{i}</guid>"
            f'<enclosure url="{{base}}/clip.mp4?n={i}" type="video/mp4" length="1"/></item>'
            for i in range(5)
        )
        + "</channel></rss>",
    }
    redirects = {"/r1": "/r2", "/r2": "/r3", "/r3": "/clip.mp4"}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _file(self, path: Path, honour_range: bool = True) -> None:
            data = path.read_bytes()
            start, status = 0, 200
            header = self.headers.get("Range", "")
            if honour_range and header.startswith("bytes="):
                start = int(header[6:].split("-")[0] or 0)
                status = 206
            body = data[start:]
            self.send_response(status)
            self.send_header(
                "Content-Type", "video/mp4" if path.suffix == ".mp4" else "application/octet-stream"
            )
            self.send_header("Content-Length", str(len(body)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
                site.bytes_served[path.name] += len(body)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            site.hits[self.path] += self.command == "GET"
            path = self.path.split("?", 1)[0]
            if path in pages:
                body = pages[path].replace("{base}", site.url).encode()
                self.send_response(200)
                self.send_header(
                    "Content-Type", "application/rss+xml" if path.endswith(".xml") else "text/html"
                )
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif path in redirects:
                self.send_response(302)
                self.send_header("Location", redirects[path])
                self.end_headers()
            elif path == "/slow.mp4":
                time.sleep(site.slow_seconds)
                self._file(site.root / "clip.mp4")
            elif path == "/norange.mp4":
                self._file(site.root / "clip.mp4", honour_range=False)
            elif path.startswith("/hls/") or path in ("/clip.mp4", "/big.mp4", "/long.mp4"):
                target = site.root / path.lstrip("/")
                if target.is_file():
                    return self._file(target)
                self.send_error(404)
            else:
                self.send_error(404)

    return Handler


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("site")
    make_clip(root / "clip.mp4", width=320, height=568, duration=1)
    make_clip(root / "long.mp4", width=160, height=284, duration=8, fps=10)
    (root / "big.mp4").write_bytes((root / "clip.mp4").read_bytes() * 1 + b"\0" * (2 * 1_048_576))
    (root / "hls").mkdir()
    ffmpeg(
        "-i",
        str(root / "clip.mp4"),
        "-c",
        "copy",
        "-f",
        "hls",
        "-hls_time",
        "0.5",
        "-hls_playlist_type",
        "vod",
        str(root / "hls" / "index.m3u8"),
    )
    site = Site(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.handle_error = lambda *_args: None  # yt-dlp closing a sniffed connection early is not an error
    site.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site
    server.shutdown()


@pytest.fixture
def options(tmp_path: Path) -> DownloadOptions:
    """Loopback is private, so the tests allow private addresses unless a test is about the policy."""
    return DownloadOptions(
        cache_dir=tmp_path / "downloads",
        allow_private_urls=True,
        max_filesize_mb=1,
        max_duration_s=5,
        socket_timeout=1.5,
        retries=2,
    )
