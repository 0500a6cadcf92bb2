"""A loopback web server with the kinds of links people paste: direct files, pages, HLS, feeds, failures."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from portal.acquire import downloader
from portal.acquire.downloader import DownloadOptions
from portal.media.options import SourceLimits
from tests.conftest import free_port, require_program
from tests.mediagen import ffmpeg, make_clip

METADATA = "http://169.254.169.254"


@dataclass
class Site:
    root: Path
    url: str = ""
    hits: Counter = field(default_factory=Counter)  # GET requests per path and query
    cookies: list = field(default_factory=list)  # Cookie headers received
    slow_seconds: float = 5.0
    trickle_seconds: float = 4.0  # /trickle.mp4 sends the clip in pieces over this long


PAGES = {
    "/og.html": '<html><head><meta property="og:video" content="{base}/clip.mp4">'
    '<meta property="og:title" content="Falling cat"></head><body>hi</body></html>',
    "/video.html": "<html><head><title>Tag page</title></head><body>"
    '<video src="{base}/clip.mp4" controls></video></body></html>',
    "/two.html": "<html><head><title>Two clips</title></head><body>"
    '<video src="{base}/b/clip.mp4"></video><video src="{base}/clip.mp4"></video></body></html>',
    # schema.org's VideoObject: yt-dlp reads the title and the author (its `uploader`) from it
    "/credited.html": '<html><head><script type="application/ld+json">{"@context": "https://schema.org", '
    '"@type": "VideoObject", "name": "Cat falls off the sofa", "author": {"@type": "Person", '
    '"name": "catlover99"}, "contentUrl": "{base}/clip.mp4"}</script></head><body>hi</body></html>',
    "/novideo.html": "<html><head><title>Nothing</title></head><body>just text</body></html>",
    # a clip with its subtitles as an HTML5 <track> (yt-dlp's generic extractor reads it): captions "platform"
    "/subtitled.html": "<html><head><title>Said on the site</title></head><body>"
    '<video src="{base}/subs/black.mp4" controls><track kind="subtitles" srclang="en" label="English" '
    'src="{base}/subs/words.vtt"></video></body></html>',
    "/og-private.html": f'<html><head><meta property="og:video" content="{METADATA}/clip.mp4"></head></html>',
    "/feed.xml": '<?xml version="1.0"?><rss version="2.0"><channel><title>Fails</title>'
    + "".join(
        f"<item><title>Clip {i}</title><guid>clip-{i}</guid>"
        f'<enclosure url="{{base}}/clip.mp4?n={i}" type="video/mp4" length="1"/></item>'
        for i in range(5)
    )
    + "</channel></rss>",
    # a stream whose segments live on the cloud metadata address
    "/hls-private.m3u8": "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    f"#EXTINF:1.0,\n{METADATA}/seg0.ts\n#EXT-X-ENDLIST\n",
}
REDIRECTS = {"/r1": "/r2", "/r2": "/r3", "/r3": "/clip.mp4", "/r-meta": f"{METADATA}/latest/meta-data/"}
STATUS = {"/error500.mp4": 500, "/forbidden.mp4": 403, "/members.mp4": 401}


SIGNED_IN = "session=signed-in"  # the one cookie /members-only.mp4 takes


def _looks_like_chrome(headers) -> bool:
    """What a browser sends and a plain HTTP client does not: Chrome's client hints and fetch metadata
    (curl_cffi's impersonation sends them; yt-dlp's own client sends a Chrome User-Agent, but neither)."""
    return "Chromium" in headers.get("sec-ch-ua", "") and headers.get("sec-fetch-dest") == "document"


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _file(
            self, path: Path, honour_range: bool = True, drop_half: bool = False, pieces: int = 1
        ) -> None:
            data = path.read_bytes()
            start, status = 0, 200
            header = self.headers.get("Range", "")
            if honour_range and header.startswith("bytes="):
                start = int(header[6:].split("-")[0] or 0)
                status = 206
            body = data[start:]
            self.send_response(status)
            kind = {".mp4": "video/mp4", ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}
            self.send_header("Content-Type", kind.get(path.suffix, "application/octet-stream"))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes" if honour_range else "none")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if self.command == "HEAD":
                return
            if drop_half:  # the connection dies halfway: the client sees a short body
                self.wfile.write(body[: len(body) // 2])
                self.close_connection = True
                return
            step = max(1, -(-len(body) // pieces))
            for offset in range(0, len(body), step):
                if offset:  # a download that moves on by the clock, however fast the machine reads it
                    time.sleep(site.trickle_seconds / pieces)
                self.wfile.write(body[offset : offset + step])
                self.wfile.flush()

        def do_HEAD(self) -> None:
            self.do_GET()

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            site.hits[self.path] += self.command == "GET"
            if self.headers.get("Cookie"):
                site.cookies.append(self.headers["Cookie"])
            path = self.path.split("?", 1)[0]
            target = (site.root / path.lstrip("/")).resolve()
            if path in PAGES:
                kind = {".xml": "application/rss+xml", ".m3u8": "application/vnd.apple.mpegurl"}
                body = PAGES[path].replace("{base}", site.url).encode()
                self._send(200, body, kind.get(Path(path).suffix, "text/html"))
            elif path in REDIRECTS:
                self.send_response(302)
                self.send_header("Location", REDIRECTS[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path in STATUS:
                self.send_error(STATUS[path])
            elif path == "/browser-only.mp4" and not _looks_like_chrome(self.headers):
                self.send_error(403)  # as TikTok and Instagram answer a client that is not a browser
            elif path == "/browser-only.mp4":
                self._file(site.root / "clip.mp4")
            elif path == "/members-only.mp4" and SIGNED_IN not in self.headers.get("Cookie", ""):
                self.send_error(401)  # the site asks for a sign-in
            elif path == "/members-only.mp4":
                self._file(site.root / "clip.mp4")
            elif path == "/flaky.mp4" and site.hits[self.path] == 1:
                self.send_error(503)  # the first answer only
            elif path == "/flaky.mp4":
                self._file(site.root / "clip.mp4")
            elif path == "/slow.mp4":
                time.sleep(site.slow_seconds)
                self._file(site.root / "clip.mp4")
            elif path == "/trickle.mp4":
                self._file(site.root / "clip.mp4", pieces=20)
            elif path == "/norange.mp4":
                self._file(site.root / "clip.mp4", honour_range=False)
            elif path == "/drop.mp4":
                first = site.hits[self.path] == 1 and not self.headers.get("Range")
                self._file(site.root / "clip.mp4", drop_half=first)
            elif site.root in target.parents and target.is_file():
                self._file(target)
            else:
                self.send_error(404)

    return Handler


# Instagram at its worst: the variant the selector likes best (biggest, no CODECS declared) holds only
# the post's audio; the smaller one declares its codecs and has the video.
AUDIO_FIRST_MASTER = """#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=1080x1920
audio.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=320x568,CODECS="avc1.42c01e,mp4a.40.2"
av.m3u8
"""


def _make_audio_first(root: Path, hls: list[str]) -> None:
    folder = root / "audiofirst"
    folder.mkdir()
    clip = str(root / "clip.mp4")
    ffmpeg("-i", clip, "-map", "0:a", "-c", "copy", *hls, "-hls_segment_filename", str(folder / "a%d.ts"),
           str(folder / "audio.m3u8"))  # fmt: skip
    ffmpeg("-i", clip, "-c", "copy", *hls, "-hls_segment_filename", str(folder / "v%d.ts"),
           str(folder / "av.m3u8"))  # fmt: skip
    (folder / "master.m3u8").write_text(AUDIO_FIRST_MASTER)
    only = root / "audioonly"  # every variant is audio: the retry cannot help
    only.mkdir()
    ffmpeg("-i", clip, "-map", "0:a", "-c", "copy", *hls, str(only / "audio.m3u8"))
    (only / "master.m3u8").write_text(AUDIO_FIRST_MASTER.split("#EXT-X-STREAM-INF:BANDWIDTH=500000")[0])


SITE_SUBTITLES = (
    "WEBVTT\n\n00:00.300 --> 00:01.400\nSAID ON THE SITE\n\n00:01.600 --> 00:02.800\nSECOND LINE\n"
)


def _make_media(root: Path) -> None:
    make_clip(root / "clip.mp4", width=320, height=568, duration=1)
    (root / "subs").mkdir()
    (root / "subs" / "words.vtt").write_text(SITE_SUBTITLES)
    ffmpeg(
        "-f", "lavfi", "-i", "color=c=black:size=360x640:rate=25:duration=3",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
        str(root / "subs" / "black.mp4"),
    )  # fmt: skip
    (root / "b").mkdir()
    make_clip(root / "b" / "clip.mp4", width=160, height=284, duration=1)  # same name, other video
    make_clip(root / "long.mp4", width=160, height=284, duration=8, fps=10)
    (root / "big.mp4").write_bytes((root / "clip.mp4").read_bytes() + b"\0" * (2 * 1_048_576))
    (root / "hls").mkdir()
    hls = ["-f", "hls", "-hls_time", "0.5", "-hls_playlist_type", "vod"]
    ffmpeg("-i", str(root / "clip.mp4"), "-c", "copy", *hls, str(root / "hls" / "index.m3u8"))
    _make_audio_first(root, hls)
    # AES-128 encrypted HLS, common on news and sports sites: decrypted by yt-dlp itself (pycryptodomex)
    (root / "aes").mkdir()
    (root / "aes" / "key.bin").write_bytes(bytes(range(16)))
    (root / "aes" / "keyinfo").write_text(f"key.bin\n{root / 'aes' / 'key.bin'}\n")
    encrypt = ["-hls_key_info_file", str(root / "aes" / "keyinfo")]
    ffmpeg("-i", str(root / "clip.mp4"), "-c", "copy", *hls, *encrypt, str(root / "aes" / "index.m3u8"))
    # a stream with a feature yt-dlp's own HLS code leaves to FFmpeg (SAMPLE-AES)
    (root / "sample-aes").mkdir()
    for part in (root / "hls").iterdir():
        (root / "sample-aes" / part.name).write_bytes(part.read_bytes())
    playlist = root / "sample-aes" / "index.m3u8"
    key = '#EXT-X-KEY:METHOD=SAMPLE-AES,URI="key.bin"\n'
    playlist.write_text(playlist.read_text().replace("#EXT-X-TARGETDURATION", key + "#EXT-X-TARGETDURATION"))
    # a master playlist: two portrait variants (video only) and one audio rendition, as big sites serve
    (root / "master").mkdir()
    ffmpeg(
        "-i", str(root / "clip.mp4"),
        "-filter_complex", "[0:v]split=2[a][b];[a]scale=180:320[small];[b]scale=288:512[large]",
        "-map", "[small]", "-map", "[large]", "-map", "0:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "12", "-c:a", "aac",
        *hls, "-master_pl_name", "master.m3u8",
        "-var_stream_map", "v:0,agroup:aud v:1,agroup:aud a:0,agroup:aud,name:audio",
        str(root / "master" / "stream_%v.m3u8"),
    )  # fmt: skip


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("site").resolve()
    _make_media(root)
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
        source_limits=SourceLimits(max_duration_s=5),
        socket_timeout=1.5,
        retries=2,
    )


@pytest.fixture
def site_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy with one exception: the test site's own address counts as public.

    Every other private address (the metadata address, other loopback addresses) is refused as in
    production, so a test can follow the policy past the first hop: redirects, media links, fragments.
    """
    refused = downloader.address_refused
    site_address = ipaddress.ip_address("127.0.0.1")
    monkeypatch.setattr(downloader, "address_refused", lambda ip: ip != site_address and refused(ip))


PROXY_USER, PROXY_PASSWORD = "wtf-user", "Pr0xy-pa55word-x"  # a test greps every output for the password


@dataclass
class Proxy:
    """tinyproxy on loopback, with a user and password, logging every request it forwards."""

    url: str  # with the credentials, as WTF_PROXIES holds it
    log: Path

    def requests(self) -> list[str]:
        """The request lines it forwarded ("GET http://host:port/path HTTP/1.1")."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [line.split("): ", 1)[1] for line in lines if "Request (file descriptor" in line]


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    require_program("tinyproxy", shutil.which("tinyproxy") is not None)
    port = free_port()
    config = tmp_path / "tinyproxy.conf"
    config.write_text(
        f"Port {port}\nListen 127.0.0.1\nTimeout 30\nLogLevel Connect\nMaxClients 20\n"
        f"BasicAuth {PROXY_USER} {PROXY_PASSWORD}\n"
    )
    log = tmp_path / "tinyproxy.log"
    with log.open("wb") as out:  # -d: in the foreground, its log on stdout
        command = ["tinyproxy", "-d", "-c", str(config)]
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30  # a bound for a busy machine
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    yield Proxy(f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{port}", log)
    process.terminate()
    process.wait(timeout=10)
