"""Where the brands live: the one home of brand_config.json and its logo and watermark files.

Every reader and writer goes through a `BrandStore` (`Runtime.brands`): the API, the dashboard, v3's
routes, the debug routes and the worker. Two homes:

- No object storage (`FileBrandStore`): WTF_BRAND_CONFIG on this machine's disk, re-read when the file
  changes (mtime and size); an edit rewrites the file under a lock beside it (`update_brand_config`).
- Object storage (`BucketBrandStore`, WTF_STORAGE_URL=s3://BUCKET/PREFIX): web and workers share no disk,
  so the bucket is the brands' home. One object, `PREFIX/brands/brands.tar`, holds brand_config.json and
  every file it references (paths relative to the config). It is replaced whole, so no reader ever sees the
  config of one version with the files of another. A reader asks for it with `If-None-Match: <the ETag it
  has>` at most every `max_age` seconds (an unchanged bundle is a 304, as cheap as a HEAD; a changed one
  arrives in the same round trip) and extracts a new version into its own folder,
  `DATA_DIR/brand-cache/<etag>/`. A writer reads, changes and PUTs it back with `If-Match: <the ETag it
  read>`, and starts again on 412: two edits at once (two replicas, two tabs) are both kept. The first
  process to find no bundle seeds it from its local WTF_BRAND_CONFIG with `If-None-Match: *`: replicas
  starting together cannot overwrite each other, and a restart never overwrites edits.

A version folder is removed only when no process on this machine holds it (a shared flock on the folder):
each process holds the version it serves and the one before (a request may still be drawing a preview with
it), and a render holds the version it draws with until it ends (`pinned`). The store cleans its cache
folder itself; retention looks neither there nor at the bundle (it sweeps uploads/ and outputs/ only).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import json
import logging
import os
import random
import secrets
import shutil
import tarfile
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from portal.brand_loader import (
    BrandConfig,
    BrandConfigError,
    config_to_json,
    load_brand_config,
    map_asset_paths,
    parse_brand_config,
    update_brand_config,
)
from portal.media.images import MAX_IMAGE_BYTES
from portal.storage.objects import MediaStorage, ObjectStorage, StorageError

if TYPE_CHECKING:
    from portal.config import Settings

log = logging.getLogger(__name__)

BrandChange = Callable[[BrandConfig], BrandConfig]
CONFIG_NAME = "brand_config.json"
BUNDLE_AREA, BUNDLE_NAME = "brands", "brands.tar"
UPDATE_ATTEMPTS = 10
RETRY_PAUSE_SECONDS = 0.05
# The brand bundle's caps: every file is an image or the config (MAX_IMAGE_BYTES each); 50 brands of a few
# images fit well inside these.
MB = 1024 * 1024
MAX_BUNDLE_BYTES = 200 * MB
MAX_BUNDLE_MEMBERS = 2000
WORK_PREFIX = "."  # folders being extracted, edited or removed; never a version
ABANDONED_WORK_SECONDS = 3600  # a work folder this old was left by a killed process


def new_asset_path(brand_id: str, filename: str) -> str:
    """Where a new image of a brand goes, relative to the config's folder (as the shipped brands are laid
    out: brands/<id>/<name>)."""
    return f"brands/{brand_id}/{filename}"


class BrandStore(ABC):
    """Reading and saving the brands, wherever they live."""

    @abstractmethod
    def current(self, max_age: float = 1.0) -> BrandConfig:
        """The config as saved (checked at most `max_age` seconds ago); BrandConfigError if it is missing
        or invalid."""

    @contextlib.contextmanager
    def pinned(self, max_age: float = 0.0) -> Iterator[BrandConfig]:
        """`current(max_age)`, whose files stay on this machine until the block ends (a render's run)."""
        yield self.current(max_age)

    @abstractmethod
    def update(self, change: BrandChange, assets: Mapping[str, Path] | None = None) -> BrandConfig:
        """Read the config as saved now, `change` it and save it, losing no save made meanwhile by any
        process. `assets` (a path relative to the config's folder, see `new_asset_path` -> a local file)
        are saved with it; `change` sees them in place. Returns the saved config."""

    @abstractmethod
    def describe(self) -> dict:
        """Where the brands come from (for the debug routes)."""


class FileBrandStore(BrandStore):
    """brand_config.json on this machine's disk, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._config: BrandConfig | None = None
        self._checked = 0.0

    def current(self, max_age: float = 1.0) -> BrandConfig:
        with self._lock:
            now = time.monotonic()
            if self._config is not None and now - self._checked < max_age:
                return self._config
            self._checked = now
            try:
                stat = os.stat(self.path)
            except FileNotFoundError:
                raise BrandConfigError(f"{self.path}: brand config not found") from None
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp != self._stamp or self._config is None:
                self._config = load_brand_config(self.path)
                self._stamp = stamp
            return self._config

    def update(self, change: BrandChange, assets: Mapping[str, Path] | None = None) -> BrandConfig:
        folder = self.path.resolve().parent
        targets = {folder / _inside(relative): source for relative, source in (assets or {}).items()}
        new_files = [target for target in targets if not target.exists()]
        for target, source in targets.items():
            _place(source, target)
        try:
            config = update_brand_config(self.path, change)
        except BaseException:
            for target in new_files:  # an edit that was refused leaves no files behind
                target.unlink(missing_ok=True)
            raise
        with self._lock:
            self._config = None  # this process just wrote the file and must not serve the old one
        return config

    def describe(self) -> dict:
        return {"kind": "file", "path": str(self.path)}


class BucketBrandStore(BrandStore):
    """The brands as one bundle in the bucket (see the module's docstring), cached per version on disk."""

    def __init__(self, storage: ObjectStorage, seed: Path, cache_dir: Path) -> None:
        self.storage = storage
        self.seed = seed
        self.cache_dir = cache_dir
        self.key = storage.key(BUNDLE_AREA, BUNDLE_NAME)
        self._lock = threading.Lock()
        self._etag: str | None = None
        self._folder: Path | None = None
        self._config: BrandConfig | None = None
        self._checked = 0.0
        self._held: deque[int] = deque()  # shared flocks on the versions this process may still read

    @property
    def url(self) -> str:
        return f"s3://{self.storage.bucket}/{self.key}"

    def current(self, max_age: float = 1.0) -> BrandConfig:
        with self._lock:
            return self._current(max_age)

    @contextlib.contextmanager
    def pinned(self, max_age: float = 0.0) -> Iterator[BrandConfig]:
        with self._lock:
            config = self._current(max_age)
            held = _hold(self._version_folder())  # this process holds it already: it cannot be gone
        if held is None:
            raise StorageError(f"{self.url}: the cached brands vanished from {self.cache_dir}")
        try:
            yield config
        finally:
            os.close(held)

    def update(self, change: BrandChange, assets: Mapping[str, Path] | None = None) -> BrandConfig:
        for attempt in range(UPDATE_ATTEMPTS):
            if attempt:  # several writers that keep colliding take turns instead of all retrying at once
                time.sleep(random.uniform(0, RETRY_PAUSE_SECONDS * attempt))
            with self._lock:
                self._current(0.0)
                read_etag, folder = self._etag, self._version_folder()
                held = _hold(folder)
            work = self.cache_dir / f"{WORK_PREFIX}edit-{secrets.token_hex(6)}"
            try:
                if held is None:
                    continue  # swept between the two lines above: read again
                # the version as read, plus the new files: `change` resolves the config's paths here
                shutil.copytree(folder, work, copy_function=_link_or_copy)
                for relative, source in (assets or {}).items():
                    _place(source, work / _inside(relative))
                changed = change(load_brand_config(work / CONFIG_NAME, confined=True))
                body = make_bundle(changed, work)
                etag = self._put(body, IfMatch=read_etag)
            finally:
                if held is not None:
                    os.close(held)
                shutil.rmtree(work, ignore_errors=True)
            if etag is None:
                log.info("brands: another process saved %s first; applying this change again", self.url)
                continue
            with self._lock:
                self._switch(etag, body)
                return self._config
        raise StorageError(f"{self.url}: the brands kept changing while saving; try again")

    def publish(self, config: BrandConfig) -> str:
        """Replace the bucket's brands with `config` and its files, whatever was there; the new ETag.

        Edits made meanwhile from an older version are applied again on top (their If-Match fails)."""
        etag = self._put(make_bundle(config, config_file(config).parent))
        if etag is None:  # an unconditional PUT has no condition to fail
            raise StorageError(f"{self.url}: the store refused the bundle")
        return etag

    def describe(self) -> dict:
        with self._lock:
            etag, folder = self._etag, self._folder
        return {
            "kind": "s3", "url": self.url, "bucket": self.storage.bucket, "key": self.key, "etag": etag,
            "folder": str(folder) if folder else None,
        }  # fmt: skip

    # --- reading (the caller holds self._lock) ---
    def _current(self, max_age: float) -> BrandConfig:
        if self._config is not None and time.monotonic() - self._checked < max_age:
            return self._config
        while True:
            latest = self.storage.read_if_changed(self.key, self._etag)
            if latest is None:
                if self._seed_bucket():
                    break
                continue  # another process seeded it first: read what it wrote
            if latest.body is not None:
                self._switch(latest.etag, latest.body)
            break
        self._checked = time.monotonic()
        assert self._config is not None
        return self._config

    def _seed_bucket(self) -> bool:
        """Put the local config and its files in the bucket unless it has brands; False if it had."""
        config = load_brand_config(self.seed)
        body = make_bundle(config, config_file(config).parent)
        etag = self._put(body, IfNoneMatch="*")
        if etag is None:
            return False
        log.info("brands: %s had none; seeded it from %s", self.url, self.seed)
        self._switch(etag, body)
        return True

    def _switch(self, etag: str, body: bytes) -> None:
        """Serve the version `body` (ETag `etag`): extracted once on this machine, held while served."""
        folder, held = self._install(etag, body)
        try:
            config = load_brand_config(folder / CONFIG_NAME, confined=True)  # its paths stay in its folder
        except BaseException:
            os.close(held)
            raise
        self._etag, self._folder, self._config = etag, folder, config
        self._held.append(held)
        while len(self._held) > 2:  # the served version and the one before
            os.close(self._held.popleft())
        self._sweep()

    def _version_folder(self) -> Path:
        assert self._folder is not None
        return self._folder

    def _install(self, etag: str, body: bytes) -> tuple[Path, int]:
        """The version's folder, held (extracted first unless another process of this machine did)."""
        folder = self.cache_dir / "".join(c for c in etag if c.isalnum() or c == "-")
        for _ in range(3):
            held = _hold(folder)
            if held is not None:
                return folder, held
            work = self.cache_dir / f"{WORK_PREFIX}new-{secrets.token_hex(6)}"
            try:
                extract_bundle(body, work, self.url)
                os.rename(work, folder)  # appears complete, or not at all
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
            finally:
                shutil.rmtree(work, ignore_errors=True)
        raise StorageError(f"{self.url}: could not keep version {etag} in {self.cache_dir}")

    def _sweep(self) -> None:
        """Remove the versions nobody on this machine holds, and work folders a killed process left."""
        for entry in self.cache_dir.iterdir():
            if entry == self._folder or not entry.is_dir():
                continue
            if entry.name.startswith(WORK_PREFIX):
                with contextlib.suppress(FileNotFoundError):
                    if time.time() - entry.stat().st_mtime > ABANDONED_WORK_SECONDS:
                        shutil.rmtree(entry, ignore_errors=True)
                continue
            try:
                handle = os.open(entry, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                continue  # another process removed it
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                continue  # a process (or a render) still reads it
            trash = self.cache_dir / f"{WORK_PREFIX}old-{secrets.token_hex(6)}"
            try:
                os.rename(entry, trash)  # a reader that opened it before now sees it is gone (`_hold`)
            except FileNotFoundError:
                continue
            finally:
                os.close(handle)
            shutil.rmtree(trash, ignore_errors=True)

    def _put(self, body: bytes, **condition: str) -> str | None:
        return self.storage.replace(self.key, body, "application/x-tar", **condition)


def make_bundle(config: BrandConfig, base: Path) -> bytes:
    """brand_config.json and every file it references, as one tar; paths inside are relative to the config.

    A file outside `base` (an absolute path, or ../ in a shipped config) goes under assets/<hash>/.
    """
    data = config_to_json(config, base)
    files: dict[str, Path] = {}

    def member(value: str) -> str:
        path = Path(value)
        if path.is_absolute():
            name = f"assets/{hashlib.sha256(value.encode()).hexdigest()[:12]}/{path.name}"
        else:
            name, path = value, base / value
        files[name] = path
        return name

    data["brands"] = {brand_id: map_asset_paths(brand, member) for brand_id, brand in data["brands"].items()}
    parse_brand_config(data, base, CONFIG_NAME)  # what we write must load back
    text = json.dumps(data, indent=2).encode() + b"\n"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(CONFIG_NAME)
        info.size, info.mtime = len(text), int(time.time())
        tar.addfile(info, io.BytesIO(text))
        for name, path in sorted(files.items()):
            try:
                handle = path.open("rb")  # the file a symlink names (a ConfigMap's files are symlinks)
            except FileNotFoundError:
                log.warning("brands: %s is missing; the bundle goes without it", path)
                continue
            with handle:
                tar.addfile(tar.gettarinfo(arcname=name, fileobj=handle), handle)
    return buffer.getvalue()


def extract_bundle(body: bytes, folder: Path, source: str) -> None:
    """Unpack a bundle into a new folder: regular files under relative paths only, within the size caps.

    The bundle is an uncompressed tar (`make_bundle` writes one), read as such: a compressed one is refused
    rather than inflated, and no member may claim more than it can hold (sparse members are refused too),
    so what lands on disk is never more than the bundle's own bytes.
    """
    if len(body) > MAX_BUNDLE_BYTES:
        raise BrandConfigError(f"{source}: the bundle is over the limit of {MAX_BUNDLE_BYTES // MB} MB")
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tar:
            members = tar.getmembers()
            _check_members(members, source)
            folder.mkdir(parents=True)
            tar.extractall(folder, members=members, filter="data")
    except tarfile.ReadError:
        raise BrandConfigError(
            f"{source}: not an uncompressed tar (a compressed bundle is refused)"
        ) from None


def _check_members(members: list[tarfile.TarInfo], source: str) -> None:
    if len(members) > MAX_BUNDLE_MEMBERS:
        raise BrandConfigError(f"{source}: over the limit of {MAX_BUNDLE_MEMBERS} files")
    for item in members:
        name = PurePosixPath(item.name)
        plain = (item.isfile() and not item.issparse()) or item.isdir()
        if not plain or name.is_absolute() or ".." in name.parts:
            raise BrandConfigError(f"{source}: refused {item.name!r} (not a plain file under the config)")
        if item.size > MAX_IMAGE_BYTES:
            raise BrandConfigError(f"{source}: {item.name!r} is over the limit of {MAX_IMAGE_BYTES // MB} MB")


def seed_local_copy(shipped: Path, copy: Path) -> None:
    """Put the shipped config and every file it references in `copy`'s folder, unless that folder exists
    (a local run's brands: seeded on its first start, then its own)."""
    folder = copy.parent
    if folder.exists():
        return
    try:
        config = load_brand_config(shipped)
    except BrandConfigError as exc:  # the store then says the copy is missing; this says why
        log.warning("brands: cannot seed %s: %s", folder, exc)
        return
    work = folder.with_name(f"{WORK_PREFIX}{folder.name}-{secrets.token_hex(6)}")
    extract_bundle(make_bundle(config, config_file(config).parent), work, str(shipped))
    try:
        work.rename(folder)
    except OSError:  # another process seeded it first: theirs holds
        shutil.rmtree(work, ignore_errors=True)
    else:
        log.info("brands: a local copy in %s, seeded from %s", folder, shipped)


def open_brand_store(settings: Settings, storage: MediaStorage) -> BrandStore:
    """The bucket's brands with object storage (seeded from WTF_BRAND_CONFIG), else the local file (a
    local run's own copy, seeded from the shipped one on its first start: `Settings.brands_file`)."""
    if isinstance(storage, ObjectStorage):
        return BucketBrandStore(storage, settings.brand_config, settings.brand_cache_dir)
    if settings.brands_file != settings.brand_config:
        seed_local_copy(settings.brand_config, settings.brands_file)
    return FileBrandStore(settings.brands_file)


def config_file(config: BrandConfig) -> Path:
    """The file a config was read from, resolved: its folder is where its relative paths start."""
    if config.source is None:
        raise ValueError("a config made in code has no folder for its relative paths")
    return config.source.resolve()


def _inside(relative: str) -> PurePosixPath:
    path = PurePosixPath(relative)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{relative!r}: an asset goes under the config's folder")
    return path


def _place(source: Path, target: Path) -> None:
    """Copy a staged file to `target`, where it appears whole (its owner removes the staged file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    shutil.copyfile(source, temp)
    os.replace(temp, target)  # replaces a link, never writes into a file another version shares


def _link_or_copy(source: str, target: str) -> None:
    # versions are never changed in place, so an edit's copy can share their files
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _hold(folder: Path) -> int | None:
    """A shared flock on a version folder, or None if it is not there (never extracted, or swept)."""
    try:
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return None
    fcntl.flock(handle, fcntl.LOCK_SH)
    try:
        there = os.stat(folder).st_ino == os.fstat(handle).st_ino  # not renamed away while we waited
    except FileNotFoundError:
        there = False
    if not there:
        os.close(handle)
        return None
    return handle
