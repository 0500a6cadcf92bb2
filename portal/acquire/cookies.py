"""The cookies files uploaded through `POST /api/cookies` (or the dashboard), one site each or every site,
where every process that downloads finds them, and how each one last went.

The database indexes them (`CookieFile`: the site, the number of cookies, when the site last asked for a
sign-in with it, when it last worked); the text is never in the database. yt-dlp reads a file from this
machine's disk: `DATA_DIR/secrets/cookies/<id>.txt` (mode 0600). Without object storage every process
shares that folder. With object storage the web and the workers share no disk, so the bucket also keeps
each file, as a private object `PREFIX/secrets/cookies/<id>.txt` (never presigned; retention sweeps
uploads/ and outputs/ only), and a process brings its copies up to date with the index before it
downloads: a file's text never changes under its id, so only new files are fetched.

A site's pool is its own files, then the files for every site, then the operator's WTF_COOKIES_FILE;
within each group the files the site has not refused come first. The downloader tries them in turn while
the site asks for a sign-in, and reports how each went.

The one file of before (`secrets/cookies.txt`, here and in the bucket) is taken into the index as a file
for every site the first time a process looks.
"""

from __future__ import annotations

import logging
import re
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from portal.acquire.downloader import CookiesFileError, store_cookies
from portal.acquire.sites import ALL_SITES, site_of
from portal.database import CookieFile, Database, new_id, utc_now
from portal.storage.objects import ObjectStorage

if TYPE_CHECKING:
    from portal.config import Settings
    from portal.storage.objects import MediaStorage

log = logging.getLogger("portal.acquire.cookies")
SECRETS_AREA, COOKIES_AREA = "secrets", "secrets/cookies"
LEGACY_NAME = "cookies.txt"  # the single uploaded file of before
SITE_NAME = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)*")  # a host name or an IPv4 address
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # "never refused" sorts before any refusal


def cookies_dir(data_dir: Path) -> Path:
    """Where uploaded cookies files live on this machine (readable by the service only)."""
    return data_dir / "secrets" / "cookies"


def legacy_cookies_path(data_dir: Path) -> Path:
    return data_dir / "secrets" / LEGACY_NAME


class UploadedCookies:
    """Save, forget, list and fetch the uploaded cookies files (the operator's WTF_COOKIES_FILE is not
    ours: it is only put at the end of every pool)."""

    def __init__(self, settings: Settings, storage: MediaStorage, db: Database) -> None:
        self.data_dir, self.operator_file, self.db = settings.data_dir, settings.cookies_file, db
        self.bucket = storage if isinstance(storage, ObjectStorage) else None
        self.folder = cookies_dir(settings.data_dir)
        self._lock = threading.Lock()
        self._legacy_checked = False  # the file of before is looked for once per process

    def _path(self, file_id: str) -> Path:
        return self.folder / f"{file_id}.txt"

    def save(self, content: bytes, site: str | None = None) -> dict:
        """Validate and keep an uploaded file (here, and in the bucket) for `site`, or for the one site
        all its cookies belong to, or else for every site; what was stored (never the cookies)."""
        file_id = new_id()
        parsed = store_cookies(self._path(file_id), content)
        if site:
            site = ALL_SITES if site.strip() == ALL_SITES else site_of(site)
            if site != ALL_SITES and not SITE_NAME.fullmatch(site):
                self._path(file_id).unlink()
                raise CookiesFileError("site: a domain such as instagram.com, or * for every site")
        else:
            found = {site_of(domain) for domain in parsed.domains}
            site = found.pop() if len(found) == 1 else ALL_SITES
        if self.bucket is not None:
            key = self.bucket.key(COOKIES_AREA, f"{file_id}.txt")
            self.bucket.replace(key, parsed.text.encode(), "text/plain")
        with self.db.session() as session:
            session.add(CookieFile(id=file_id, site=site, lines=parsed.count, uploaded_at=utc_now()))
        log.info("cookies file %s stored for %s (%d cookies)", file_id, site, parsed.count)
        return {"id": file_id, "site": site, "lines": parsed.count}

    def forget(self, file_id: str | None = None) -> int:
        """Remove one uploaded file (or all of them), here and in the bucket; how many were removed."""
        with self.db.session() as session:
            query = select(CookieFile)
            if file_id is not None:
                query = query.where(CookieFile.id == file_id)
            rows = session.scalars(query).all()
            for row in rows:
                session.delete(row)
        for row in rows:
            if self.bucket is not None:
                self.bucket.delete(self.bucket.ref(COOKIES_AREA, f"{row.id}.txt"))
            self._path(row.id).unlink(missing_ok=True)
        return len(rows)

    def refresh(self) -> None:
        """Make this machine's copies the index's: fetch new files from the bucket, drop forgotten ones,
        and take the single file of before into the index."""
        with self._lock:
            if not self._legacy_checked:
                self._adopt_legacy()
                self._legacy_checked = True
            with self.db.session() as session:
                indexed = set(session.scalars(select(CookieFile.id)))
            held = {path.stem for path in self.folder.glob("*.txt")} if self.folder.is_dir() else set()
            for stale in held - indexed:
                self._path(stale).unlink(missing_ok=True)
            if self.bucket is None:
                return
            for missing in sorted(indexed - held):
                latest = self.bucket.read_if_changed(self.bucket.key(COOKIES_AREA, f"{missing}.txt"), None)
                if latest is not None and latest.body is not None:
                    store_cookies(self._path(missing), latest.body)  # checked again: what yt-dlp reads

    def _adopt_legacy(self) -> None:
        local = legacy_cookies_path(self.data_dir)
        body: bytes | None = local.read_bytes() if local.is_file() else None
        key = self.bucket.key(SECRETS_AREA, LEGACY_NAME) if self.bucket is not None else ""
        if body is None and self.bucket is not None:
            latest = self.bucket.read_if_changed(key, None)
            body = latest.body if latest is not None else None
        if body is None:
            return
        try:
            stored = self.save(body, ALL_SITES)
            log.info("the uploaded cookies file of before is now %s, for every site", stored["id"])
        except CookiesFileError:
            log.warning("the uploaded cookies file of before cannot be used any more; it is removed")
        if self.bucket is not None:
            self.bucket.delete(self.bucket.ref(SECRETS_AREA, LEGACY_NAME))
        local.unlink(missing_ok=True)

    def pool(self, site: str) -> tuple[Path, ...]:
        """The files to try for `site`, in order (see the module's docstring); those on this machine."""
        with self.db.session() as session:
            rows = session.scalars(select(CookieFile).where(CookieFile.site.in_((site, ALL_SITES)))).all()
        # the site's own first; within a group, files never refused first, then the one refused longest ago
        rows = sorted(rows, key=lambda r: (r.site == ALL_SITES, r.signin_asked_at or EPOCH, r.uploaded_at))
        files = [self._path(row.id) for row in rows if self._path(row.id).is_file()]
        if self.operator_file:
            files.append(Path(self.operator_file))
        return tuple(files)

    def report(self, path: Path, signin_asked: bool) -> None:
        """How a download went with this file: the site asked for a sign-in, or it worked."""
        if path.parent != self.folder:
            return  # the operator's file: not ours to track
        with self.db.session() as session:
            row = session.get(CookieFile, path.stem)
            if row is None:
                return  # forgotten meanwhile
            if signin_asked:
                row.signin_asked_at = utc_now()
            else:
                row.worked_at = utc_now()

    def describe(self) -> list[dict]:
        """Every uploaded file's site and state, for the API and the dashboard (never its cookies)."""
        with self.db.session() as session:
            rows = session.scalars(select(CookieFile).order_by(CookieFile.site, CookieFile.uploaded_at)).all()
        return [
            {
                "id": row.id,
                "site": row.site,
                "lines": row.lines,
                "uploaded_at": row.uploaded_at,
                # asked for a sign-in since it last worked: the site wants a fresh export
                "state": "signin_asked"
                if row.signin_asked_at and (not row.worked_at or row.worked_at < row.signin_asked_at)
                else "working"
                if row.worked_at
                else "unused",
                "signin_asked_at": row.signin_asked_at,
                "worked_at": row.worked_at,
            }
            for row in rows
        ]
