"""The cookies file uploaded through `POST /api/cookies`, where every process that downloads finds it.

yt-dlp reads it from this machine's disk: `DATA_DIR/secrets/cookies.txt` (`portal.acquire.downloader`).
Without object storage every process shares that folder. With object storage the web and the workers share no
disk, so the bucket also keeps it, as a private object `PREFIX/secrets/cookies.txt` (never presigned;
retention sweeps uploads/ and outputs/ only), and a process brings its own copy up to date before it
downloads or reports it: one conditional GET, a 304 while nothing changed.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from portal.acquire.downloader import cookies_path, forget_cookies, store_cookies
from portal.storage.objects import ObjectStorage

if TYPE_CHECKING:
    from portal.config import Settings
    from portal.storage.objects import MediaStorage

SECRETS_AREA, COOKIES_NAME = "secrets", "cookies.txt"


class UploadedCookies:
    """Save, forget and fetch the uploaded cookies file (the operator's WTF_COOKIES_FILE is not ours)."""

    def __init__(self, settings: Settings, storage: MediaStorage) -> None:
        self.data_dir = settings.data_dir
        self.bucket = storage if isinstance(storage, ObjectStorage) else None
        self.key = self.bucket.key(SECRETS_AREA, COOKIES_NAME) if self.bucket is not None else ""
        self._lock = threading.Lock()
        self._etag: str | None = None  # of the bucket's copy this machine holds

    def save(self, content: bytes) -> int:
        """Validate and keep an uploaded file (here, and in the bucket); its number of cookies."""
        count = store_cookies(self.data_dir, content)
        if self.bucket is not None:
            with self._lock:
                text = cookies_path(self.data_dir).read_bytes()
                self._etag = self.bucket.replace(self.key, text, "text/plain")
        return count

    def forget(self) -> None:
        """Remove the uploaded file, here and in the bucket."""
        if self.bucket is not None:
            with self._lock:
                self.bucket.delete(self.bucket.ref(SECRETS_AREA, COOKIES_NAME))
                self._etag = None
        forget_cookies(self.data_dir)

    def refresh(self) -> None:
        """Make this machine's copy the bucket's (nothing to do without object storage)."""
        if self.bucket is None:
            return
        with self._lock:
            held = self._etag if cookies_path(self.data_dir).is_file() else None
            latest = self.bucket.read_if_changed(self.key, held)
            if latest is None:
                forget_cookies(self.data_dir)  # forgotten on another machine
                self._etag = None
            elif latest.body is not None:
                store_cookies(self.data_dir, latest.body)  # checked again: what yt-dlp reads stays valid
                self._etag = latest.etag
