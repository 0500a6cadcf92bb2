"""The one place that reads the environment.

Every setting is a field of `Settings`, fed by a WTF_* variable (or FFMPEG_PATH / PORT). Values are
validated once, at start; a bad value raises `ConfigError` naming the variable, never a traceback.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from portal.media.options import (
    ENGINE_DEFAULTS,
    LOUDNESS_LUFS_RANGE,
    SOURCE_LIMITS,
    EngineOptions,
    SourceLimits,
    X264Preset,
)

MIN_KEY_CHARS = 8  # of a portal key


class ConfigError(Exception):
    """A setting from the environment is missing or invalid; the message names the variable."""


class Settings(BaseSettings):
    """Everything the service and the CLI can be told through the environment."""

    model_config = SettingsConfigDict(env_prefix="WTF_", extra="ignore", frozen=True, populate_by_name=True)

    # secrets
    portal_key: str | None = Field(default=None, min_length=MIN_KEY_CHARS)
    secret_key: str | None = Field(default=None, min_length=16)
    dev_mode: bool = False  # a local development run: a missing key is drawn once and kept, not refused

    # storage and state
    data_dir: Path = Path("./data")
    database_url: str | None = None  # default: SQLite in the data dir
    queue_url: str | None = None  # default: SqliteHuey in the data dir
    brand_config: Path = Path("./brand_config.json")
    storage_url: str | None = None  # s3://BUCKET/PREFIX: media in object storage (DESIGN 4.9)
    storage_public_url: str | None = (
        None  # the store's endpoint as browsers reach it, if not AWS_ENDPOINT_URL
    )

    # rendering
    ffmpeg_path: str | None = Field(
        default=None, validation_alias=AliasChoices("FFMPEG_PATH", "WTF_FFMPEG_PATH")
    )
    x264_preset: X264Preset = ENGINE_DEFAULTS.x264_preset
    crf: int = Field(default=ENGINE_DEFAULTS.crf, ge=0, le=51)
    render_memory_mb: int = Field(default=ENGINE_DEFAULTS.memory_mb, ge=256)
    render_timeout_s: int = Field(default=ENGINE_DEFAULTS.timeout_s, ge=10)
    # integrated loudness target of every output (EBU R128); "off" keeps the source's
    loudness_lufs: float | None = Field(
        default=ENGINE_DEFAULTS.loudness_lufs, ge=LOUDNESS_LUFS_RANGE[0], le=LOUDNESS_LUFS_RANGE[1]
    )
    # every output scaled so its short side fits (720: v3's outputs, for a slow CPU); unset: full size
    max_short_side: int | None = Field(default=ENGINE_DEFAULTS.max_short_side, ge=240, le=2160)
    # speech recognition for captions (DESIGN 4.13): PocketSphinx (shipped), or faster-whisper with a model
    # the operator installs (WTF_CAPTIONS_MODEL: its folder, or a name faster-whisper downloads)
    captions_engine: Literal["pocketsphinx", "faster-whisper"] = "pocketsphinx"
    captions_model: str | None = Field(default=None, validate_default=True)

    # limits
    max_upload_mb: int = Field(default=500, ge=1)
    max_download_mb: int = Field(default=500, ge=1)
    max_duration_s: int = Field(default=SOURCE_LIMITS.max_duration_s, ge=1)
    # reading a source (probe) runs in a child process with this much address space and CPU time
    probe_memory_mb: int = Field(default=SOURCE_LIMITS.memory_mb, ge=256)
    probe_timeout_s: int = Field(default=SOURCE_LIMITS.timeout_s, ge=5)
    playlist_limit: int = Field(default=10, ge=1, le=500)
    min_free_disk_mb: int = Field(default=1024, ge=0)

    # acquisition
    allow_private_urls: bool = False
    cookies_file: Path | None = None
    # intake that survives the platforms (DESIGN 4.15; the rules themselves: portal/acquire/sites.py)
    proxies: str | None = None  # proxy URLs separated by commas, tried in turn; unset: every link goes direct
    proxy_sites: str | None = None  # the domains that go through the proxies, separated by commas; unset: all
    proxy_rest_s: int = Field(default=300, ge=1)  # a proxy that failed is passed over this long
    impersonate: bool = True  # a browser's TLS and headers for the sites that need it (curl_cffi)
    impersonate_sites: str | None = None  # more domains to impersonate for, beyond the built-in table
    # yt-dlp's YouTube extractor arguments ("key=value,value;key=value"); default: what yt-dlp recommends
    youtube_extractor_args: str = "player_client=default"
    site_pause_after: int = Field(default=5, ge=1)  # failures in a row that pause a site
    site_cooldown_s: int = Field(default=600, ge=1)  # how long a paused site's jobs wait

    # webhooks (DESIGN 4.7): no secret, no webhooks
    webhook_secret: str | None = Field(default=None, min_length=16)
    # seconds between tries: the first try is at the job's end, one more after each delay
    webhook_retry_delays: str = "30,120,300,600,900"
    webhook_timeout_s: float = Field(default=10, gt=0, le=120)

    # operations
    retention_hours: float = Field(default=72, gt=0)
    # the library (DESIGN 4.14): a clip branded for a brand this recently is named at submission
    repost_window_days: float = Field(default=30, gt=0, le=3650)
    link_ttl_hours: float = Field(default=24, gt=0, le=8760)  # signed download links live this long
    sync_wait_s: int = Field(default=600, ge=1, le=86400)  # v3's process_brands and fetch wait this long
    embedded_worker: bool = True
    # the embedded consumer inside the one gunicorn worker: no interpreter of its own (Render's free plan)
    embedded_in_web_worker: bool = False
    heartbeat_stale_s: int = Field(default=30, ge=2)  # a rendering job silent this long is requeued
    max_attempts: int = Field(default=3, ge=1, le=20)
    # a queued job that no queue message carries for this long is put back on the queue (by any worker)
    sweep_queued_after_s: int = Field(default=60, ge=1)
    # how long a worker keeps trying an unreachable database, queue or bucket before the attempt fails
    outage_wait_s: int = Field(default=600, ge=1)
    worker_concurrency: int = Field(default=1, ge=1, le=64)
    log_format: Literal["json", "text"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # the web server's address: 0.0.0.0 where the platform routes to the container (Render, Docker,
    # Kubernetes); 127.0.0.1 when a proxy on the same host (nginx) is the only way in
    bind_host: str = Field(default="0.0.0.0", min_length=1)
    # proxies in front that append to X-Forwarded-For and set X-Forwarded-Proto (0: clients connect directly)
    trusted_proxies: int = Field(default=0, ge=0, le=5)
    port: int = Field(default=8000, ge=1, le=65535, validation_alias=AliasChoices("PORT", "WTF_PORT"))

    @field_validator(
        "database_url", "queue_url", "ffmpeg_path", "portal_key", "secret_key", "storage_url",
        "storage_public_url", "webhook_secret", "max_short_side", "proxies", "proxy_sites",
        "impersonate_sites", "captions_model", mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("loudness_lufs", mode="before")
    @classmethod
    def _loudness_off(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() == "off":
            return None
        if value is None or value == "":
            raise ValueError(
                f"a number of LUFS ({LOUDNESS_LUFS_RANGE[0]:g}..{LOUDNESS_LUFS_RANGE[1]:g}) or off"
            )
        return value

    @field_validator("captions_model")
    @classmethod
    def _whisper_model(cls, value: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("captions_engine") == "faster-whisper":
            if not value:
                raise ValueError("faster-whisper needs a model: its folder (docs/ENGINE.md)")
            if importlib.util.find_spec("faster_whisper") is None:
                raise ValueError("faster-whisper is not installed (docs/ENGINE.md says how)")
        return value

    @field_validator("queue_url")
    @classmethod
    def _known_queue(cls, value: str | None) -> str | None:
        if value and not value.startswith(
            ("sqlite:", "redis://", "rediss://", "postgresql://", "postgres://")
        ):
            raise ValueError("must start with sqlite:, redis://, rediss:// or postgresql://")
        return value

    @field_validator("storage_url")
    @classmethod
    def _bucket_url(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\s]*)?", value):
            raise ValueError("must be s3://BUCKET or s3://BUCKET/PREFIX (a valid bucket name)")
        return value

    @field_validator("storage_public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not re.fullmatch(r"https?://[^\s/]+/?", value):
            raise ValueError("must be an http(s) endpoint such as https://media.example.com")
        return value

    @field_validator("proxies")
    @classmethod
    def _proxy_urls(cls, value: str | None) -> str | None:
        for url in _split(value):
            if not re.fullmatch(r"(https?|socks4a?|socks5h?)://([^\s/]+@)?[^\s/@]+(:\d+)?/?", url):
                # the URL itself is not repeated: it may hold a password
                raise ValueError(
                    "must be proxy URLs separated by commas: http(s)://, socks4(a):// or socks5(h)://"
                    "[user:password@]host[:port]"
                )
        return value

    @cached_property
    def proxy_urls(self) -> tuple[str, ...]:
        return _split(self.proxies)

    @cached_property
    def proxy_domains(self) -> tuple[str, ...]:
        return tuple(domain.lower().lstrip(".") for domain in _split(self.proxy_sites))

    @cached_property
    def impersonate_domains(self) -> tuple[str, ...]:
        return tuple(domain.lower().lstrip(".") for domain in _split(self.impersonate_sites))

    @field_validator("youtube_extractor_args")
    @classmethod
    def _extractor_args(cls, value: str) -> str:
        _parse_extractor_args(value)
        return value

    @cached_property
    def youtube_args(self) -> dict[str, list[str]]:
        return _parse_extractor_args(self.youtube_extractor_args)

    @field_validator("webhook_retry_delays")
    @classmethod
    def _delays(cls, value: str) -> str:
        _parse_delays(value)
        return value

    @cached_property
    def webhook_retry_delays_s(self) -> tuple[float, ...]:
        """The pause before each retry of a webhook delivery, in order."""
        return _parse_delays(self.webhook_retry_delays)

    @cached_property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @cached_property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    @cached_property
    def downloads_dir(self) -> Path:
        return self.data_dir / "downloads"  # fetched links, kept for reuse until retention removes them

    @cached_property
    def temp_dir(self) -> Path:
        return self.data_dir / "temp"

    @cached_property
    def brand_cache_dir(self) -> Path:
        return self.data_dir / "brand-cache"  # with object storage: the bucket's brands, one folder a version

    @cached_property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @cached_property
    def brands_file(self) -> Path:
        """The brand config the service reads and edits. A local run not told WTF_BRAND_CONFIG keeps its
        own copy in the data dir (seeded from the shipped file), so saving a brand never rewrites the
        checkout's tracked demo config; elsewhere WTF_BRAND_CONFIG (default: the shipped file)."""
        if self.dev_mode and "brand_config" not in self.model_fields_set:
            return self.data_dir / "brands" / "brand_config.json"
        return self.brand_config

    @cached_property
    def kept_key_file(self) -> Path:
        return self.data_dir / "portal-key"  # a local run's key when WTF_PORTAL_KEY is unset (mode 0600)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'portal.db').resolve()}"

    @property
    def effective_queue_url(self) -> str:
        return self.queue_url or f"sqlite:///{(self.data_dir / 'queue.db').resolve()}"

    def engine_options(self, service_mb: float = 0.0) -> EngineOptions:
        """What the engine is told: the one adapter from settings to `EngineOptions`.

        `service_mb`: what the caller measured its own processes to use of the render's memory budget.
        """
        return EngineOptions(
            ffmpeg_path=self.ffmpeg_path,
            x264_preset=self.x264_preset,
            crf=self.crf,
            memory_mb=self.render_memory_mb,
            timeout_s=self.render_timeout_s,
            loudness_lufs=self.loudness_lufs,
            service_mb=service_mb,
            max_short_side=self.max_short_side,
            source_limits=self.source_limits,
        )

    @property
    def source_limits(self) -> SourceLimits:
        """What reading one source may cost and declare (uploads, links and renders alike)."""
        return SourceLimits(
            max_duration_s=self.max_duration_s,
            memory_mb=self.probe_memory_mb,
            timeout_s=self.probe_timeout_s,
        )

    def ensure_dirs(self) -> None:
        """Create the data folders; a folder that cannot be made is a configuration error."""
        for folder in (self.uploads_dir, self.outputs_dir, self.downloads_dir, self.temp_dir, self.logs_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"WTF_DATA_DIR: cannot create {folder}: {exc.strerror}") from None


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _parse_extractor_args(value: str) -> dict[str, list[str]]:
    """yt-dlp's --extractor-args syntax for one extractor: "key=v1,v2;key2=v3"."""
    parsed: dict[str, list[str]] = {}
    for item in filter(None, (part.strip() for part in value.split(";"))):
        key, equals, values = item.partition("=")
        if not equals or not re.fullmatch(r"[a-z_]+", key.strip()):
            raise ValueError('must be "key=value,value;key=value" (yt-dlp\'s --extractor-args for youtube)')
        parsed[key.strip()] = [v.strip() for v in values.split(",") if v.strip()]
    return parsed


def _parse_delays(value: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in value.split(","))
    except ValueError:
        raise ValueError("must be seconds separated by commas, e.g. 30,120,300") from None
    if any(delay < 0 for delay in delays):
        raise ValueError("delays cannot be negative")
    return delays


def _variable_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return f"WTF_{field.upper()}"


def load_settings(**overrides: object) -> Settings:
    """Read and validate the environment (overrides win); raise ConfigError naming the bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            name = _variable_name(field) if field in Settings.model_fields else field
            problems.append(f"{name}: {error['msg']}")
        raise ConfigError("; ".join(problems)) from None


@dataclass(frozen=True)
class PortalKey:
    """The key the server checks, and where it comes from."""

    value: str
    kept_in: Path | None  # the file a local run keeps its drawn key in; None: WTF_PORTAL_KEY


def portal_key(settings: Settings) -> PortalKey:
    """WTF_PORTAL_KEY if set; else, on a local run, the key drawn on the first start and kept in the data
    dir, so a restart accepts the same key (scripts and signed-in browsers keep working)."""
    if settings.portal_key:
        return PortalKey(settings.portal_key, None)
    if not settings.dev_mode:
        raise ConfigError("WTF_PORTAL_KEY: required (set WTF_DEV_MODE=1 for a local development run)")
    path = settings.kept_key_file
    try:
        if not path.exists():
            _keep_new_key(path)
        value = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"WTF_DATA_DIR: cannot keep the portal key in {path}: {exc.strerror}") from None
    if len(value) < MIN_KEY_CHARS:
        raise ConfigError(f"{path}: not a portal key (delete the file and a new one is drawn)")
    return PortalKey(value, path)


def _keep_new_key(path: Path) -> None:
    """Draw a key into `path` (0600) unless another process just did: written aside, then linked into
    place, so nobody reads half a key and the first of processes starting at once wins."""
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    handle = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(handle, "w") as file:
            file.write(secrets.token_urlsafe(18) + "\n")
        os.link(aside, path)
    except FileExistsError:
        pass  # another process kept its key first: that one is read
    finally:
        aside.unlink(missing_ok=True)


def startup_settings(settings: Settings | None = None) -> Settings:
    """Settings the server may start with: valid, and with a portal key (set, or kept by a dev run).

    Here, not in portal.app, so gunicorn's master checks them without importing the web stack (a lean
    master, and nothing imports ssl before the gevent worker patches it)."""
    settings = settings or load_settings()
    portal_key(settings)  # refused without one unless this is a dev run; a dev run's is kept from here on
    return settings
