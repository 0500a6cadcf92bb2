"""State: jobs, their outputs, uploads, library sources, webhook deliveries and the job event log, in
SQLAlchemy 2.

The jobs table is the truth; the queue only carries job ids. Nothing here is SQLite-only: the same code
runs on PostgreSQL through WTF_DATABASE_URL. Migrations are Alembic's (portal/migrations).
"""

from __future__ import annotations

import fcntl
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

from portal.config import Settings
from portal.errors import DatabaseUnavailableError
from portal.media.options import DEFAULT_FIT, OutputFormat

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# A server that is down or unreachable: the driver's connection errors, and a pool with no connection to
# give. What the session turns into the taxonomy's `database_unavailable` (transient).
UNREACHABLE = (OperationalError, InterfaceError, PoolTimeoutError)
CONNECT_TIMEOUT_S = 5  # a PostgreSQL that does not answer fails the request instead of hanging it


STAGE_LENGTH = 200  # a job's stage: long enough to say why it waits and until when


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16), default="render")  # render | fetch
    status: Mapped[str] = mapped_column(String(16), index=True)  # a portal.jobs.state.JobStatus
    stage: Mapped[str | None] = mapped_column(String(STAGE_LENGTH))  # why and until when, while a job waits
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(64))
    source_kind: Mapped[str] = mapped_column(String(16))  # upload | url
    source_name: Mapped[str] = mapped_column(Text)  # the upload's file name or the URL
    source_path: Mapped[str | None] = mapped_column(Text)  # the file the engine reads, once known
    brands: Mapped[list] = mapped_column(JSON, default=list)
    preset: Mapped[str] = mapped_column(String(16), default="source")
    fit: Mapped[str] = mapped_column(String(8), default=DEFAULT_FIT, server_default=DEFAULT_FIT)
    # every format the job renders, [{"preset", "fit"}...] (DESIGN 4.10); null: the one `preset` and `fit`
    formats: Mapped[list | None] = mapped_column(JSON)
    # the jobs of one submission of several sources share it (one row, one ZIP in the dashboard)
    batch_id: Mapped[str | None] = mapped_column(String(32), index=True)
    source_meta: Mapped[dict | None] = mapped_column(JSON)  # title, uploader, extractor... for links
    # the library item this job renders (portal.library). No foreign key: adding one to an existing SQLite
    # table rebuilds it, and dropping the old jobs table would cascade into the outputs; retention
    # (portal.jobs.maintenance), which deletes items, clears the references it leaves.
    source_id: Mapped[str | None] = mapped_column(String(32), index=True)
    # what the submitter was told could be a repost: [{"code": "already_branded", "brand", "job_id", "at"}]
    warnings: Mapped[list | None] = mapped_column(JSON)
    webhook_url: Mapped[str | None] = mapped_column(Text)  # told when the job ends (portal.jobs.webhooks)
    # v3's per-render settings (process_brands' watermark_scale, logo_padding...), applied to the brands'
    # layers when the job renders; the brand config itself is not changed
    v3_settings: Mapped[dict | None] = mapped_column(JSON)
    # the source's edits made once for every output (DESIGN 4.11): trim, anchor, zoom, follow's fallback
    edits: Mapped[dict | None] = mapped_column(JSON)
    # the captions asked for (DESIGN 4.13): the id of an uploaded SRT/WebVTT file, "auto" (recognition),
    # "platform" (the site's subtitles), or null (the source's transcript if any, else portal.jobs.transcripts
    # picks one when a brand draws captions)
    captions: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    # running: the run's last heartbeat; queued: when it was last put on the queue (the sweeper's clock)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def output_formats(self) -> list[OutputFormat]:
        """The formats this job renders: its list, or (a job of one format) its preset and fit."""
        if self.formats:
            return [OutputFormat(item["preset"], item.get("fit", DEFAULT_FIT)) for item in self.formats]
        return [OutputFormat(self.preset, self.fit)]  # type: ignore[arg-type]

    def format_of(self, output: Output) -> OutputFormat:
        """The format one of its outputs was made in."""
        preset = output.preset or self.preset
        return next(item for item in self.output_formats() if item.preset == preset)

    outputs: Mapped[list[Output]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="Output.id"
    )
    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="WebhookDelivery.created_at"
    )


class Output(Base):
    __tablename__ = "outputs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    brand: Mapped[str] = mapped_column(String(64))
    preset: Mapped[str | None] = mapped_column(String(16))  # its format (null before 0007: the job's preset)
    filename: Mapped[str] = mapped_column(String(255), unique=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    duration: Mapped[float] = mapped_column(Float)
    loudness: Mapped[dict | None] = mapped_column(JSON)  # the engine's before/after measurement
    placements: Mapped[list | None] = mapped_column(JSON)  # overlays at position "auto": where, why
    post_text: Mapped[str | None] = mapped_column(Text)  # the brand's post text, filled for this output
    edits: Mapped[dict | None] = mapped_column(JSON)  # what the trim kept and cut; the window's path, why
    cover_filename: Mapped[str | None] = mapped_column(String(255))  # its JPEG cover (null before 0010)
    cover_at: Mapped[float | None] = mapped_column(Float)  # the cover's time in seconds
    captions_filename: Mapped[str | None] = mapped_column(String(255))  # its sidecar WebVTT, if any
    # a portal.jobs.status.ReviewState (DESIGN 4.12)
    review: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # every version once it was rendered again (DESIGN 4.12), oldest first, the last the current one:
    # [{"version", "filename", "cover_filename", "captions_filename", "requested_by", "overrides",
    # "created_at"}]; null: one
    versions: Mapped[list | None] = mapped_column(JSON)
    # a re-render asked for and not done: {"status": queued|rendering|failed, "progress", "error",
    # "requested_by", "overrides", "attempts"}; null when none
    rerender: Mapped[dict | None] = mapped_column(JSON)
    # a re-render's run holds it as a job's run holds its job (portal.jobs.state): the run's token, and
    # its last heartbeat (queued: when it was put on the queue); both null when no re-render is owed
    rerender_lease: Mapped[str | None] = mapped_column(String(128))
    rerender_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rerender_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    def version_list(self) -> list[dict]:
        """Its versions, oldest first (one made by the job itself until it is rendered again)."""
        first = {"version": 1, "filename": self.filename, "cover_filename": self.cover_filename,
                 "captions_filename": self.captions_filename, "requested_by": None, "overrides": None,
                 "created_at": None}  # fmt: skip
        return list(self.versions or [first])

    def current_names(self) -> list[str]:
        """The current version's files: the video, then its cover and its sidecar WebVTT where it has them."""
        return [self.filename, *(name for name in (self.cover_filename, self.captions_filename) if name)]

    def stored_names(self) -> list[str]:
        """Every file of this output in the outputs folder, each version's video, cover and sidecar (all
        are kept until the job is deleted)."""
        return [
            name
            for version in self.version_list()
            for name in (version["filename"], version["cover_filename"], version.get("captions_filename"))
            if name
        ]

    job: Mapped[Job] = relationship(back_populates="outputs")


class WebhookDelivery(Base):
    """One webhook POST owed for one job end: stored first, so a restart between tries loses none."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)  # the exact JSON that is signed and sent on every try
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)  # the receiver's HTTP status
    last_error: Mapped[str | None] = mapped_column(Text)  # why the last try failed
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)  # a sender is on it until then
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Upload(Base):
    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    filename: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer)
    media: Mapped[dict] = mapped_column(JSON)
    source_id: Mapped[str | None] = mapped_column(String(32))  # its library item (see Job.source_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class Source(Base):
    """A library item (DESIGN 4.14): one video a user sent, by link or upload, with what is known of it,
    its stored file and cover, and its picture fingerprint; its renders are the jobs naming it."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))  # upload | url
    link: Mapped[str | None] = mapped_column(Text)  # the link as sent (url sources)
    link_key: Mapped[str | None] = mapped_column(String(64), index=True)  # its sha256: a link reuses its row
    filename: Mapped[str | None] = mapped_column(String(255))  # the upload's file name
    title: Mapped[str | None] = mapped_column(Text)
    uploader: Mapped[str | None] = mapped_column(Text)
    original_url: Mapped[str | None] = mapped_column(Text)  # the page yt-dlp named (webpage_url)
    duration: Mapped[float | None] = mapped_column(Float)
    path: Mapped[str | None] = mapped_column(Text)  # the stored file (uploads area): "Brand again" reads it
    cover: Mapped[str | None] = mapped_column(Text)  # the stored JPEG still
    fingerprint: Mapped[int | None] = mapped_column(BigInteger)  # portal.media.fingerprint, as signed 64 bits
    # edits made on the source (issue 25: {"trim": ..., "reframe": ...}) and its transcript, when made
    edits: Mapped[dict | None] = mapped_column(JSON)
    transcript: Mapped[dict | None] = mapped_column(JSON)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, index=True)
    used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)  # last job or upload of it

    jobs: Mapped[list[Job]] = relationship(
        primaryjoin="foreign(Job.source_id) == Source.id", order_by="Job.created_at", viewonly=True
    )


class FingerprintBand(Base):
    """One 16-bit quarter of a source's fingerprint: the index that finds near fingerprints without a
    scan (multi-index hashing, portal.library.fingerprints)."""

    __tablename__ = "fingerprint_bands"
    __table_args__ = (Index("ix_fingerprint_bands_lookup", "band", "value"),)

    source_id: Mapped[str] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True)
    band: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class LogEntry(Base):
    """The seed's log table: job events with time, level, job id and message."""

    __tablename__ = "logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, index=True)
    level: Mapped[str] = mapped_column(String(10))
    job_id: Mapped[str | None] = mapped_column(String(32), index=True)
    message: Mapped[str] = mapped_column(Text)


class WorkerBeat(Base):
    """Last sign of life of each queue consumer, for /api/debug/health."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class SiteHealth(Base):
    """How downloads from one site went (portal.acquire.sites): after repeated failures it is paused."""

    __tablename__ = "site_health"

    site: Mapped[str] = mapped_column(String(255), primary_key=True)  # portal.acquire.sites.site_of
    successes: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    failures_in_a_row: Mapped[int] = mapped_column(Integer, default=0)
    last_code: Mapped[str | None] = mapped_column(String(64))  # of the last failure
    last_reason: Mapped[str | None] = mapped_column(Text)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CookieFile(Base):
    """One uploaded cookies file (its text is on disk and in the bucket, never here): which site it is
    for ("*": every site) and how it last went (portal.acquire.cookies)."""

    __tablename__ = "cookie_files"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    site: Mapped[str] = mapped_column(String(255), index=True)
    lines: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    signin_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the site wanted a sign-in
    worked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last download that used it


class SessionEpoch(Base):
    """The random value every dashboard session is bound to (portal.web.auth): one row, so signing out on
    one web replica ends the sessions every replica serves."""

    __tablename__ = "session_epoch"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always SESSION_EPOCH_ROW
    value: Mapped[str] = mapped_column(String(64))


SESSION_EPOCH_ROW = 1


class Database:
    """One engine and session factory per process, built from Settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # psycopg 3 is the driver we ship; SQLAlchemy 2.0 would otherwise look for psycopg2
        self.url = settings.effective_database_url.replace("postgresql://", "postgresql+psycopg://", 1)
        postgres = self.url.startswith("postgresql")
        self.engine: Engine = create_engine(
            self.url,
            pool_pre_ping=True,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S} if postgres else {},
        )
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error; a database that cannot be reached
        raises `DatabaseUnavailableError`."""
        try:
            with self.sessions() as session, session.begin():
                yield session
        except UNREACHABLE as exc:
            raise DatabaseUnavailableError(f"the database is unreachable: {_first_line(exc)}") from exc

    def upgrade(self) -> None:
        """Apply Alembic migrations up to head; concurrent starters wait for each other."""
        logging.getLogger("alembic").setLevel(logging.WARNING)  # before the import: it logs its plugins
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self._migration_lock(), self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(4242)"))
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(4242)"))
                    connection.commit()
            return
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.settings.data_dir / ".migrate.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def log(self, level: str, message: str, job_id: str | None = None) -> None:
        with self.session() as session:
            session.add(LogEntry(level=level, job_id=job_id, message=message[:4000]))


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text.strip() else type(exc).__name__


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets the web read while the worker writes; busy_timeout waits instead of failing on a lock.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
