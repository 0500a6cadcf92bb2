"""Where media lives (DESIGN 4.9): the data folder, or S3-compatible object storage.

Two areas are shared by every process: `uploads` (what the web receives) and `outputs` (what workers
make). With the data folder (WTF_STORAGE_URL unset) they are folders of WTF_DATA_DIR, which every process
must then share (one machine, or one volume). With object storage (`s3://BUCKET/PREFIX`) they are key
prefixes in a bucket, and each process keeps only scratch space in its own data folder: the web holds an
upload there while it probes it, a worker fetches its source and renders there.

Files are referred to by a *ref*, the string kept in the database: a local file's absolute path, or an
object's `s3://BUCKET/KEY`. The two never look alike, so a row written under one backend is never
mistaken for the other.

Atomicity: an object appears under its key only when its PUT (or its multipart upload) completes, so
files go straight to their final keys; a worker killed mid-upload leaves an invisible, incomplete
multipart upload, which retention aborts (`abort_stale_uploads`). The worker marks a job completed only
after every output is stored, so a retried job never finds half an output under a final name.
"""

from __future__ import annotations

import errno
import itertools
import logging
import mimetypes
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, ClassVar
from urllib.parse import urlparse, urlsplit

from portal.errors import DependencyUnavailableError

if TYPE_CHECKING:
    from portal.config import Settings

log = logging.getLogger(__name__)

UPLOADS, OUTPUTS = "uploads", "outputs"
AREAS = (UPLOADS, OUTPUTS)
# A presigned link only has to outlive the start of a download (S3 checks expiry when a request
# begins); the web hands out a fresh one on every request of the (signed) download link.
PRESIGN_SECONDS = 3600
# boto3 switches to a multipart upload above the threshold: parts are retried one by one and sent
# in parallel, and the file is read from disk a part at a time.
MULTIPART_BYTES = 16 * 1_048_576
TRANSFER_THREADS = 4
DESCRIBE_LIMIT = 10_000  # /api/debug/storage counts at most this many objects per area
# Every request is bounded: a store that accepts connections but never answers fails within
# (connect + read timeout) x attempts, and the worker's own patience (portal.jobs.outages) takes over.
CONNECT_TIMEOUT_S, READ_TIMEOUT_S, REQUEST_ATTEMPTS = 3, 20, 3
# /readyz's look at the bucket: one try, short timeouts, so the probe answers within the platform's.
PROBE_TIMEOUT_S = 2
# A conditional write lost to another writer. 412: the object changed since the ETag given (or exists, for
# If-None-Match: *); 409: S3's answer to two conditional writes at the same moment; 404: If-Match on an
# object deleted since.
WRITE_CONFLICTS = ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409", "404")


class StorageError(DependencyUnavailableError):
    """Object storage is unreachable or refused a request; worth retrying later."""

    code = "storage_unavailable"


class StoredFileMissingError(StorageError):
    """The stored file a job or a download needs is gone (expired, deleted, or never made)."""

    code = "stored_file_missing"
    status = 404
    transient = False
    retry_after_s = None


@dataclass(frozen=True)
class ObjectVersion:
    """One version of a small object read whole: its ETag, and its bytes unless the reader had them."""

    etag: str
    body: bytes | None  # None: unchanged since the ETag the reader gave


@dataclass(frozen=True)
class StoredObject:
    """One file of an area, as retention sees it."""

    ref: str
    name: str
    size: int
    modified: datetime


def check_name(name: str) -> str:
    """A stored file's name is one path segment: never a folder, never another area, never hidden."""
    if not name or name != os.path.basename(name) or "\\" in name or name.startswith("."):
        raise StoredFileMissingError(f"no stored file {name!r}")
    return name


class MediaStorage(ABC):
    """One interface over both backends; callers never ask which one they have, except to describe it."""

    kind: ClassVar[str]
    in_data_dir: ClassVar[bool]  # True: the data folder's own sweep covers the stored files

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def ref(self, area: str, name: str) -> str:
        """The ref of a file named `name` in `area` (it may not exist)."""

    @abstractmethod
    def store(self, path: Path, area: str, name: str | None = None) -> str:
        """Move a complete local file into `area`; it appears there whole or not at all. Return its ref."""

    @abstractmethod
    def exists(self, ref: str) -> bool: ...

    @abstractmethod
    def modified(self, ref: str) -> datetime | None:
        """When the file was last written (UTC); None if it is not there."""

    @abstractmethod
    def delete(self, ref: str) -> int:
        """Remove the file (a missing one is fine); return the bytes freed."""

    @abstractmethod
    def open(self, ref: str) -> BinaryIO:
        """A reader that streams the file (an S3 body is read as it arrives, never whole)."""

    @abstractmethod
    def local_copy(self, ref: str, scratch: Path) -> Path:
        """A local path the engine can read: the file itself, or a copy fetched into `scratch`."""

    @abstractmethod
    def presigned_url(
        self, ref: str, filename: str, *, inline: bool = False, seconds: int = PRESIGN_SECONDS
    ) -> str | None:
        """A URL that serves the file without the portal, or None when the web serves it itself."""

    def presigned_origin(self) -> str | None:
        """Where presigned URLs point (scheme://host[:port]), which browsers must be let load media from;
        None when the web serves the files itself."""
        return None

    @abstractmethod
    def list(self, area: str) -> Iterator[StoredObject]: ...

    @abstractmethod
    def check(self) -> dict:
        """`{"ok": bool, ...}` for /readyz: can this process store and read media now?"""

    def render_dir(self, scratch: Path) -> Path:
        """Where the engine writes a job's outputs before `store` publishes them: the run's own scratch
        folder, so nothing reaches outputs/ but through `store`, which the run calls only while it
        holds its job (a rename in the data folder, an upload to a bucket)."""
        return scratch

    def abort_stale_uploads(self, older_than: datetime) -> int:
        """Abandon uploads a killed process left half-done; return how many."""
        return 0

    def describe(self) -> dict:
        return {"kind": self.kind, **self.check()}


class LocalStorage(MediaStorage):
    """The data folder: uploads/ and outputs/ of WTF_DATA_DIR, shared by every process that renders."""

    kind = "local"
    in_data_dir = True

    def _folder(self, area: str) -> Path:
        return self.settings.uploads_dir if area == UPLOADS else self.settings.outputs_dir

    def ref(self, area: str, name: str) -> str:
        return str(self._folder(area) / check_name(name))

    def store(self, path: Path, area: str, name: str | None = None) -> str:
        target = Path(self.ref(area, name or path.name))
        if path.resolve() != target.resolve():
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(path, target)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                temp = target.with_name(f".{target.name}.part")  # another filesystem: copy, then rename
                shutil.copyfile(path, temp)
                os.replace(temp, target)
                path.unlink()
        return str(target)

    def exists(self, ref: str) -> bool:
        return Path(ref).is_file()

    def modified(self, ref: str) -> datetime | None:
        path = Path(ref)
        return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc) if path.is_file() else None

    def delete(self, ref: str) -> int:
        path = Path(ref)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def open(self, ref: str) -> BinaryIO:
        try:
            return Path(ref).open("rb")
        except FileNotFoundError:
            raise StoredFileMissingError(f"{Path(ref).name} is gone (expired or deleted)") from None

    def local_copy(self, ref: str, scratch: Path) -> Path:
        if not self.exists(ref):
            raise StoredFileMissingError(f"{Path(ref).name} is gone (expired or deleted)")
        return Path(ref)

    def presigned_url(
        self, ref: str, filename: str, *, inline: bool = False, seconds: int = PRESIGN_SECONDS
    ) -> str | None:
        return None

    def list(self, area: str) -> Iterator[StoredObject]:
        folder = self._folder(area)
        if not folder.is_dir():
            return
        for entry in folder.iterdir():
            if entry.is_file():
                stat = entry.stat()
                modified = datetime.fromtimestamp(stat.st_mtime, timezone.utc)
                yield StoredObject(str(entry), entry.name, stat.st_size, modified)

    def check(self) -> dict:
        folders = [self._folder(area) for area in AREAS]
        return {
            "ok": all(os.access(folder, os.W_OK) for folder in folders),
            "path": str(self.settings.data_dir),
        }


class ObjectStorage(MediaStorage):
    """An S3-compatible bucket (AWS S3, R2, B2, MinIO) under `s3://BUCKET/PREFIX`, through boto3.

    The endpoint and credentials come from boto3's own chain: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION (or a role, or a profile).
    """

    kind = "s3"
    in_data_dir = False

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        import boto3  # only deployments with object storage pay for importing it
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        parsed = urlparse(settings.storage_url or "")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        # Path-style addressing works with every S3-compatible store (MinIO and a compose host name
        # need it); AWS still serves it.
        config = Config(
            signature_version="s3v4", s3={"addressing_style": "path"}, connect_timeout=CONNECT_TIMEOUT_S,
            read_timeout=READ_TIMEOUT_S, retries={"mode": "standard", "total_max_attempts": REQUEST_ATTEMPTS},
        )  # fmt: skip
        self.client = boto3.client("s3", config=config)
        probe = config.merge(
            Config(connect_timeout=PROBE_TIMEOUT_S, read_timeout=PROBE_TIMEOUT_S,
                   retries={"mode": "standard", "total_max_attempts": 1})
        )  # fmt: skip
        self.probe = boto3.client("s3", config=probe)
        # Outputs are written one try per call: a worker checks that it still holds its job before each
        # try (portal.jobs.tasks), so a run frozen mid-upload and resumed past its lease cannot finish
        # the upload by a retry made behind that check.
        self.output_writer = boto3.client(
            "s3", config=config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
        )
        # Browsers may reach the store under another name than the servers do (MinIO inside compose).
        public = settings.storage_public_url
        self.signer = boto3.client("s3", config=config, endpoint_url=public) if public else self.client
        self.transfer = TransferConfig(
            multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES,
            max_concurrency=TRANSFER_THREADS,
        )  # fmt: skip
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        self.client_errors = (BotoCoreError, ClientError, Boto3Error)  # upload_file raises Boto3Error's kind

    # --- keys and refs ---
    def key(self, area: str, name: str) -> str:
        return "/".join(part for part in (self.prefix, area, check_name(name)) if part)

    def ref(self, area: str, name: str) -> str:
        return f"s3://{self.bucket}/{self.key(area, name)}"

    def _key_of(self, ref: str) -> str:
        parsed = urlparse(ref)
        if parsed.scheme != "s3" or parsed.netloc != self.bucket:
            raise StoredFileMissingError(f"{ref} is not in this portal's bucket {self.bucket}")
        return parsed.path.lstrip("/")

    def failure(self, action: str, exc: Exception) -> StorageError:
        """The portal's error for a failed request: the file is missing, or the store is unavailable."""
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return StoredFileMissingError(f"{action}: not found in bucket {self.bucket}")
        return StorageError(f"object storage: {action} failed: {str(exc).splitlines()[0]}")

    # --- files ---
    def store(self, path: Path, area: str, name: str | None = None) -> str:
        name = name or path.name
        key = self.key(area, name)
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        client = self.output_writer if area == OUTPUTS else self.client
        try:
            client.upload_file(
                str(path), self.bucket, key, ExtraArgs={"ContentType": content_type}, Config=self.transfer
            )
        except self.client_errors as exc:
            raise self.failure(f"upload of {name}", exc) from None
        path.unlink()
        return f"s3://{self.bucket}/{key}"

    def exists(self, ref: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key_of(ref))
        except StoredFileMissingError:
            return False
        except self.client_errors as exc:
            error = self.failure("checking a file", exc)
            if isinstance(error, StoredFileMissingError):
                return False
            raise error from None
        return True

    def modified(self, ref: str) -> datetime | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key_of(ref))["LastModified"]
        except StoredFileMissingError:
            return None
        except self.client_errors as exc:
            error = self.failure("checking a file", exc)
            if isinstance(error, StoredFileMissingError):
                return None
            raise error from None

    def delete(self, ref: str) -> int:
        key = self._key_of(ref)
        try:
            size = self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]
            self.client.delete_object(Bucket=self.bucket, Key=key)
        except self.client_errors as exc:
            error = self.failure(f"deleting {key}", exc)
            if isinstance(error, StoredFileMissingError):
                return 0
            raise error from None
        return size

    def open(self, ref: str) -> BinaryIO:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key_of(ref))["Body"]
        except self.client_errors as exc:
            raise self.failure(f"reading {ref}", exc) from None

    def local_copy(self, ref: str, scratch: Path) -> Path:
        key = self._key_of(ref)
        scratch.mkdir(parents=True, exist_ok=True)
        target = scratch / key.rsplit("/", 1)[-1]
        temp = target.with_name(f".{target.name}.part")
        try:
            self.client.download_file(self.bucket, key, str(temp), Config=self.transfer)
        except self.client_errors as exc:
            temp.unlink(missing_ok=True)
            raise self.failure(f"fetching {key}", exc) from None
        os.replace(temp, target)
        return target

    def presigned_url(
        self, ref: str, filename: str, *, inline: bool = False, seconds: int = PRESIGN_SECONDS
    ) -> str | None:
        disposition = "inline" if inline else "attachment"
        params = {
            "Bucket": self.bucket,
            "Key": self._key_of(ref),
            "ResponseContentDisposition": f'{disposition}; filename="{filename}"',
        }
        try:
            return self.signer.generate_presigned_url("get_object", Params=params, ExpiresIn=seconds)
        except self.client_errors as exc:
            raise self.failure(f"signing {filename}", exc) from None

    def presigned_origin(self) -> str | None:
        parts = urlsplit(self.presigned_url(self.ref(OUTPUTS, "origin"), "origin"))  # signed here, not sent
        return f"{parts.scheme}://{parts.netloc}"

    def list(self, area: str) -> Iterator[StoredObject]:
        prefix = "/".join(part for part in (self.prefix, area) if part) + "/"
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                for item in page.get("Contents", []):
                    name = item["Key"][len(prefix) :]
                    ref = f"s3://{self.bucket}/{item['Key']}"
                    yield StoredObject(ref, name, item["Size"], item["LastModified"])
        except self.client_errors as exc:
            raise self.failure(f"listing {prefix}", exc) from None

    # --- small objects the service keeps for itself (the brands), read and replaced whole ---
    def read_if_changed(self, key: str, etag: str | None) -> ObjectVersion | None:
        """The object unless it still has `etag` (then `body` is None: one request, a 304, no bytes);
        None when there is no such object."""
        unless = {"IfNoneMatch": etag} if etag else {}
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key, **unless)
        except self.client_errors as exc:
            code = error_code(exc)
            if code == "304" and etag:
                return ObjectVersion(etag, None)
            if code in ("NoSuchKey", "404"):
                return None
            raise self.failure(f"reading {key}", exc) from None
        return ObjectVersion(answer["ETag"], answer["Body"].read())

    def replace(self, key: str, body: bytes, content_type: str, **condition: str) -> str | None:
        """PUT the object whole; its new ETag, or None when `condition` failed: `IfMatch=ETAG` (someone
        wrote since that version) or `IfNoneMatch="*"` (it exists already). S3's conditional writes."""
        try:
            answer = self.client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, **condition
            )
        except self.client_errors as exc:
            if condition and error_code(exc) in WRITE_CONFLICTS:
                return None
            raise self.failure(f"saving {key}", exc) from None
        return answer["ETag"]

    def abort_stale_uploads(self, older_than: datetime) -> int:
        prefix = f"{self.prefix}/" if self.prefix else ""
        aborted = 0
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < older_than:
                        self.client.abort_multipart_upload(
                            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                        )
                        aborted += 1
        except self.client_errors as exc:
            raise self.failure("listing unfinished uploads", exc) from None
        if aborted:
            log.info("aborted %d unfinished uploads older than %s", aborted, older_than.isoformat())
        return aborted

    def describe(self) -> dict:
        report = super().describe()
        if report["ok"]:
            for area in AREAS:
                sizes = [item.size for item in itertools.islice(self.list(area), DESCRIBE_LIMIT)]
                report[area] = {
                    "objects": len(sizes),
                    "bytes": sum(sizes),
                    "complete": len(sizes) < DESCRIBE_LIMIT,
                }
        return report

    def check(self) -> dict:
        where = {"bucket": self.bucket, "prefix": self.prefix, "endpoint": self.client.meta.endpoint_url}
        try:
            self.probe.head_bucket(Bucket=self.bucket)
        except self.client_errors as exc:
            return {"ok": False, **where, "error": str(exc).splitlines()[0]}
        return {"ok": True, **where}


def error_code(exc: Exception) -> str | None:
    """The S3 error code of a request that got an answer ("NoSuchKey", "PreconditionFailed", "304")."""
    return getattr(exc, "response", {}).get("Error", {}).get("Code")


def open_storage(settings: Settings) -> MediaStorage:
    """The backend WTF_STORAGE_URL names: object storage for `s3://...`, else the data folder."""
    return ObjectStorage(settings) if settings.storage_url else LocalStorage(settings)


def is_stored_object(ref: str) -> bool:
    """The ref names an object in a bucket, not a file on this machine."""
    return ref.startswith("s3://")


def job_scratch(settings: Settings, job_id: str, run: str) -> Path:
    """One run's private working folder on this machine (named by job id, so retention spares it; and by
    run, so a stalled run that comes back late cannot delete the folder of the run that replaced it)."""
    return settings.temp_dir / f"{job_id}-{run}"
