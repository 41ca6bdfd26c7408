"""Typed settings, read once at start-up from the environment and ``.env``.

Names and defaults are the reference description's table, plus ``GRPC_PORT`` and a
few the gateway needs to run its edge. A bad value stops start-up with a message that
names the variable (see ``load_settings``).
"""

from __future__ import annotations

import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from comfyui_gateway.admission.depth_limits import DepthLimits, parse_depth_limits
from comfyui_gateway.admission.quota_policy import QuotaLimits, QuotaPolicy, parse_overrides

DEFAULT_COMFYUI_URL = "http://127.0.0.1:8188"
SECRET_VARIABLES = frozenset(
    {"API_KEYS", "JWT_SECRET", "S3_SECRET_KEY", "WEBHOOK_SECRET", "PRIVACY_KEY"}
)


class StorageProvider(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"


class SettingsError(Exception):
    """Raised when a configuration variable has a bad value; the message names it."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Everything the gateway reads from its environment. Frozen: build once, pass down."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        case_sensitive=True,
    )

    PORT: int = Field(3000, ge=1, le=65535)
    """REST port (Envoy's listener)."""
    HOST: str = ""
    """Address the REST listener binds; empty: 127.0.0.1 while auth is off (no API_KEYS,
    no JWT_SECRET: every caller would be admin), else 0.0.0.0. See ``_default_host``."""
    GRPC_PORT: int = Field(50051, ge=0, le=65535)
    """Port of the gRPC server (0 picks a free one, for tests)."""
    GRPC_HOST: str = "127.0.0.1"
    """Address the gRPC server binds; Envoy reaches it there."""
    COMFYUI_URL: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [DEFAULT_COMFYUI_URL]
    )
    """One or more ComfyUI base URLs, comma-separated."""
    COMFYUI_TIMEOUT_MS: int = Field(300_000, ge=1000)
    """Longest a prompt may run on ComfyUI, in milliseconds."""
    API_KEYS: Annotated[dict[str, Role], NoDecode] = Field(default_factory=dict)
    """``key:role`` pairs, comma-separated; empty with no JWT_SECRET turns auth off."""
    JWT_SECRET: str = ""
    """HS256 secret for ``Authorization: Bearer`` tokens; empty disables JWT."""
    REDIS_URL: str = ""
    """Redis for the RQ queue, events and shared rate limits; empty = in-process."""
    REDIS_NAMESPACE: str = Field("cgw", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    """Prefix of every Redis key, queue and channel, so gateways can share a Redis."""
    DATABASE_URL: str = "./data/gateway.db"
    """SQLite file path, or a ``postgres://``/``postgresql://`` URL."""
    STORAGE_PROVIDER: StorageProvider = StorageProvider.LOCAL
    STORAGE_LOCAL_PATH: Path = Path("./data/outputs")
    S3_ENDPOINT: str = ""
    S3_BUCKET: str = ""
    S3_ACCESS_KEY: str = ""
    S3_SECRET_KEY: str = ""
    S3_REGION: str = "us-east-1"
    JOB_RETENTION_DAYS: int = Field(0, ge=0)
    """Finished jobs older than this many days are removed with their files; 0 keeps all."""
    WEBHOOK_SECRET: str = ""
    """HMAC-SHA256 key for the ``X-Signature`` header of webhooks."""
    WEBHOOK_ALLOWED_DOMAINS: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    """``*``, exact host names, or ``*.suffix`` patterns, comma-separated."""
    MAX_CONCURRENCY: int = Field(1, ge=1, le=64)
    """Prompts each backend may hold in its own queue at once."""
    SCHEDULER_AFFINITY: bool = True
    """Prefer the backend that already holds a job's models (see README, Scheduling)."""
    AFFINITY_MAX_WAIT_S: float = Field(10.0, ge=0, le=3600)
    """Longest a job is left waiting for the backend holding its models before any
    backend takes it; set it near a checkpoint's load time."""
    AFFINITY_RESIDENT_JOBS: int = Field(1, ge=1, le=64)
    """How many recent jobs' models a backend is taken to hold: 1 as ComfyUI's default
    cache (last prompt only); N for a ComfyUI started with ``--cache-lru N``."""
    MAX_IMAGE_SIZE: int = Field(2048, ge=64)
    """Largest width or height a job may ask for, in pixels."""
    MAX_BATCH_SIZE: int = Field(4, ge=1)
    MAX_INPUT_BYTES: int = Field(20 * 1024 * 1024, ge=1024)
    """Largest media input (URL, S3 object, upload, decoded base64), in bytes; also the
    body limit of ``POST /uploads`` at the edge."""
    MAX_INPUT_PIXELS: int = Field(40_000_000, ge=4096)
    """Largest width x height an input image may declare (decompression-bomb guard)."""
    INPUT_ALLOWED_DOMAINS: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    """Hosts media inputs may be fetched from: ``*`` (public hosts), exact names or
    ``*.suffix``; only an exact entry allows a loopback/private/link-local host."""
    INPUT_FETCH_TIMEOUT_MS: int = Field(15_000, ge=100, le=300_000)
    """Longest a media input's URL or S3 fetch may take, redirects included, in ms."""
    CACHE_ENABLED: bool = True
    """Answer a request identical to an earlier succeeded one with that job's outputs."""
    CACHE_TTL_SECONDS: int = Field(86_400, ge=0)
    """How long a succeeded job answers identical requests, in seconds."""
    WEBHOOK_RETRY_BASE_MS: int = Field(1000, ge=1, le=600_000)
    """First webhook retry delay in milliseconds; doubles per retry, with jitter."""
    MAX_INPUT_STRING_CHARS: int = Field(20_000, ge=1, le=200_000)
    """Longest free-text value (a prompt, a name, a description), in characters; a
    schema field's ``maxLength`` may only tighten it. Media fields have their own limits."""
    MAX_METADATA_BYTES: int = Field(16 * 1024, ge=256, le=256 * 1024)
    """Largest job ``metadata`` object, as compact UTF-8 JSON, in bytes."""
    RECONCILE_INTERVAL_MS: int = Field(5000, ge=50, le=600_000)
    """How often the reconciler looks for lost queued jobs and abandoned running ones."""
    HEARTBEAT_STALE_MS: int = Field(10_000, ge=500)
    """A running job whose heartbeat (every second) is older than this, in milliseconds,
    is taken as abandoned by a dead worker and recovered."""
    RUNNING_GRACE_MS: int = Field(60_000, ge=0)
    """A job still running COMFYUI_TIMEOUT_MS plus this many milliseconds after it
    started fails with COMFYUI_TIMEOUT, whatever its worker does."""
    RATE_LIMIT_MAX: int = Field(100, ge=1)
    """Requests allowed per caller per window."""
    RATE_LIMIT_WINDOW_MS: int = Field(60_000, ge=100)
    QUOTA_MAX_ACTIVE_JOBS: int = Field(0, ge=0)
    """Jobs a ``user`` caller may have queued or running at once; 0 = unlimited."""
    QUOTA_MAX_DAILY_JOBS: int = Field(0, ge=0)
    """Jobs a ``user`` caller may start in any rolling 24 h; 0 = unlimited."""
    QUOTA_OVERRIDES: str = ""
    """Per-role and per-caller quotas, e.g. ``role:admin=active:20;key:1a2b3c4d=daily:0``
    (``comfyui_gateway/admission/quota_policy.py``); admins are unlimited unless named."""
    MAX_QUEUE_DEPTH: str = "0"
    """Queued jobs beyond which ``POST /jobs`` answers 503 QUEUE_FULL: a total (``500``)
    or per priority (``high:50,normal:400,low:1000``, ``total:`` too); 0 = unlimited."""
    LOG_LEVEL: Literal["trace", "debug", "info", "warn", "warning", "error", "fatal", "silent"] = (
        "info"
    )
    PRIVACY_MODE: bool = False
    """Keep prompts out of logs, job logs and the database."""
    PRIVACY_KEY: str = ""
    """Secret the rendered graph is encrypted with in privacy mode (any string; a key is
    derived from it). Empty: derived from JWT_SECRET, else WEBHOOK_SECRET, else (embedded
    mode only) a random key per process; with REDIS_URL set one of the three is required."""
    OUTPUT_METADATA: Literal["keep", "strip"] = "keep"
    """``strip`` removes ComfyUI's prompt/workflow metadata (PNG text chunks, EXIF, XMP)
    from stored outputs; privacy mode always strips."""
    CORS_ORIGINS: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    NODE_ENV: str = "development"
    """Kept for compatibility with the description; ``production`` tightens warnings."""
    MAX_REQUEST_BYTES: int = Field(10 * 1024 * 1024, ge=1024)
    """Largest request body the edge accepts; larger ones get 413."""
    ENVOY_ADMIN_PORT: int = Field(9901, ge=0, le=65535)
    """Envoy's admin interface, bound to loopback only."""
    ENVOY_WORKERS: int = Field(2, ge=1, le=64)
    """Envoy worker threads (``--concurrency``): the CPU cores the edge may use. Each
    transcodes its connections' JSON; one thread was the bottleneck of a thousand SSE
    watchers on two cores. Envoy's own default, every core of the host, ignores a
    container's CPU limit."""
    DEV_COMFYUI_URL: str = DEFAULT_COMFYUI_URL
    """Where ``dev`` looks for a running ComfyUI when COMFYUI_URL is not set: a
    ComfyUI-compatible server there is used; a free address gets the emulator; anything
    else there makes the emulator take a free port."""
    EDGE_GRPC_PASSTHROUGH: bool = False
    """Forward native gRPC (``/comfyui_gateway.*``, reflection, health) arriving on the
    REST port to the server; off: those paths answer 404 there (gRPC clients use
    GRPC_PORT)."""

    _process_privacy_secret: str = PrivateAttr(default="")

    @property
    def strip_output_metadata(self) -> bool:
        """Whether stored outputs lose their embedded prompt (privacy mode forces it)."""
        return self.PRIVACY_MODE or self.OUTPUT_METADATA == "strip"

    def model_post_init(self, context: Any) -> None:
        # Embedded mode without a configured secret: one random secret for this process,
        # shared by the server and the in-process workers through this settings object.
        if self.PRIVACY_MODE and not self.privacy_secret:
            self._process_privacy_secret = secrets.token_urlsafe(32)

    @model_validator(mode="before")
    @classmethod
    def _default_host(cls, data: Any) -> Any:
        # Auth off means every caller is admin: only this machine may call unless the
        # operator chose an address. Decided here so every reader sees the real address.
        if isinstance(data, dict) and not str(data.get("HOST") or "").strip():
            auth = bool(_split_csv(data.get("API_KEYS") or "")) or bool(data.get("JWT_SECRET"))
            data = {**data, "HOST": "0.0.0.0" if auth else "127.0.0.1"}
        return data

    @field_validator("COMFYUI_URL", mode="before")
    @classmethod
    def _parse_urls(cls, value: Any) -> Any:
        urls = _split_csv(value)
        if isinstance(urls, list):
            for url in urls:
                parsed = urlparse(url)
                if parsed.scheme not in ("http", "https") or not parsed.netloc:
                    raise ValueError(f"{url!r} is not an http(s) URL")
            return [url.rstrip("/") for url in urls] or [DEFAULT_COMFYUI_URL]
        return urls

    @field_validator(
        "WEBHOOK_ALLOWED_DOMAINS", "CORS_ORIGINS", "INPUT_ALLOWED_DOMAINS", mode="before"
    )
    @classmethod
    def _parse_csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("QUOTA_OVERRIDES")
    @classmethod
    def _check_overrides(cls, value: str) -> str:
        parse_overrides(value)
        return value

    @field_validator("MAX_QUEUE_DEPTH")
    @classmethod
    def _check_depth(cls, value: str) -> str:
        parse_depth_limits(value)
        return value

    @property
    def quota_policy(self) -> QuotaPolicy:
        defaults = QuotaLimits(self.QUOTA_MAX_ACTIVE_JOBS, self.QUOTA_MAX_DAILY_JOBS)
        return QuotaPolicy(defaults, parse_overrides(self.QUOTA_OVERRIDES))

    @property
    def queue_depth_limits(self) -> DepthLimits:
        return parse_depth_limits(self.MAX_QUEUE_DEPTH)

    @field_validator("API_KEYS", mode="before")
    @classmethod
    def _parse_keys(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        keys: dict[str, str] = {}
        for entry in _split_csv(value):
            key, sep, role = entry.rpartition(":")
            if not sep or not key:
                raise ValueError("each entry must be key:role (role admin or user)")
            keys[key] = role
        return keys

    @model_validator(mode="after")
    def _check_storage(self) -> Settings:
        if self.STORAGE_PROVIDER is StorageProvider.S3 and not self.S3_BUCKET:
            raise ValueError("S3_BUCKET: required when STORAGE_PROVIDER=s3")
        return self

    @model_validator(mode="after")
    def _check_privacy(self) -> Settings:
        # Workers in other processes must decrypt the graph: a per-process key cannot work.
        if self.PRIVACY_MODE and self.REDIS_URL and not self.privacy_secret:
            raise ValueError(
                "PRIVACY_KEY: required when PRIVACY_MODE=true and REDIS_URL is set "
                "(or set JWT_SECRET or WEBHOOK_SECRET to derive it from)"
            )
        return self

    @property
    def privacy_secret(self) -> str:
        """The configured secret privacy mode derives its key from; empty if none."""
        return self.PRIVACY_KEY or self.JWT_SECRET or self.WEBHOOK_SECRET

    @property
    def privacy_key_material(self) -> str:
        """What privacy mode derives its encryption key from (see PRIVACY_KEY)."""
        return self.privacy_secret or self._process_privacy_secret

    @property
    def auth_enabled(self) -> bool:
        return bool(self.API_KEYS or self.JWT_SECRET)

    @property
    def uses_postgres(self) -> bool:
        return self.DATABASE_URL.startswith(("postgres://", "postgresql://"))

    @property
    def comfyui_urls(self) -> list[str]:
        return list(self.COMFYUI_URL)


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Build the settings once; a bad value raises SettingsError naming the variable."""
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            if not error["loc"]:  # a rule across fields: the message names the variable
                problems.append(message)
                continue
            name = str(error["loc"][0])
            shown = "<redacted>" if name in SECRET_VARIABLES else repr(error.get("input"))
            problems.append(f"{name}: {message} (got {shown})")
        raise SettingsError("Invalid configuration: " + "; ".join(problems)) from exc


def comfyui_url_configured(env_file: str | Path | None = ".env") -> bool:
    """True when COMFYUI_URL is set explicitly (environment or .env), for ``dev``'s choice."""
    import os

    if os.environ.get("COMFYUI_URL", "").strip():
        return True
    if env_file is None or not Path(env_file).is_file():
        return False
    from dotenv import dotenv_values

    return bool((dotenv_values(env_file).get("COMFYUI_URL") or "").strip())
