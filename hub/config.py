"""Configuration: ``hub.toml`` with environment overrides, validated at start.

Environment variables override the file: ``HUB_BROKER_URL``, ``HUB_LOG_LEVEL``,
``HUB_RETRY__MAX_ATTEMPTS`` (``__`` separates a section from its key). Relative paths in the file
are relative to the file's folder, so a deployment folder can move as a whole.
"""

from __future__ import annotations

import os
import re
import tomllib
import urllib.parse
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from envelopes.ids import PARTICIPANT_PATTERN
from hub.errors import ConfigError as ConfigError  # where callers of load_config look
from hub.execution.settings import ExecutionConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PkiConfig(_Section):
    key: Path = Path("pki/hub.main.key.pem")
    cert: Path = Path("pki/hub.main.pem")
    trust: list[Path] = Field(default_factory=lambda: [Path("pki/ca.pem")])
    # an encrypted key's passphrase: the first line of this file, or this environment variable
    # (never the command line); the file wins when both are set
    key_passphrase_file: Path | None = None
    key_passphrase_env: str = Field(
        default="HUB_KEY_PASSPHRASE", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"
    )


class RevocationConfig(_Section):
    """Revocation of participant certificates (docs/security.md): CRLs and OCSP."""

    enabled: bool = True
    # CRLs checked for every certificate besides those it names itself (distribution points);
    # each counts for the certificates of the CA that signed it
    crl_urls: list[str] = Field(default_factory=list)
    # an OCSP responder asked for every certificate ("": those the certificates name)
    ocsp_url: str = ""
    refresh: float = Field(default=3600.0, gt=0)  # seconds a CRL is used before it is renewed
    timeout: float = Field(default=5.0, gt=0, le=60)  # seconds per HTTP request
    # no CRL or OCSP answer to be had: "reject" (fail closed) or "accept" (logged)
    on_unavailable: Literal["reject", "accept"] = "reject"
    # a certificate naming no CRL or responder (and none configured) is refused too
    require: bool = False
    cache_dir: Path | None = None  # default: data_dir/crl

    @field_validator("crl_urls", "ocsp_url")
    @classmethod
    def _http(cls, value: Any) -> Any:
        for url in value if isinstance(value, list) else [value] if value else []:
            if not str(url).startswith(("http://", "https://")):
                raise ValueError(f"{url!r}: not an http:// or https:// URL")
        return value


class SecurityConfig(_Section):
    """Who may submit as whom over the broker (docs/security.md)."""

    # check each submission's AMQP user_id against the envelope's Sender (a department's broker
    # user is its participant id); `hub init --broker` turns it on with the definitions file
    check_publisher: bool = False
    # broker users that submit on others' behalf besides the hub's own (its broker_url's user)
    trusted_publishers: list[str] = Field(default_factory=list)


class PathsConfig(_Section):
    schemas: Path = Path("xsd")
    routing_rules: Path = Path("routing_rules")


class LimitsConfig(_Section):
    max_bytes: int = Field(default=32 * 1024 * 1024, gt=1024)
    max_depth: int = Field(default=64, ge=8, le=256)


def _check_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return value


class MetricsConfig(_Section):
    address: str = "127.0.0.1:9464"
    enabled: bool = True

    _address = field_validator("address")(_check_address)


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class ApiLimits(_Section):
    """Limits of one caller (a participant), overriding ``[api]``'s."""

    max_body_bytes: int | None = Field(default=None, gt=0)
    rate: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)


class ApiConfig(_Section):
    """The HTTP API (docs/api.md): where it listens, TLS and client certificates, limits."""

    address: str = "127.0.0.1:8080"
    enabled: bool = True
    tls_cert: Path | None = None  # the server's certificate (PEM): HTTPS
    tls_key: Path | None = None
    client_ca: Path | None = None  # CA of client certificates: mTLS, the SAN names the caller
    max_body_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    rate: float = Field(default=50.0, gt=0)  # requests per second per caller (sustained)
    burst: int = Field(default=200, ge=1)  # requests a caller may make at once
    request_timeout: float = Field(default=120.0, gt=0)
    # how long an inbox item is held; under RabbitMQ's consumer_timeout (30 min by default)
    lease: float = Field(default=60.0, gt=0, le=1200)
    limits: dict[str, ApiLimits] = Field(default_factory=dict)  # per participant

    _address = field_validator("address")(_check_address)

    @model_validator(mode="after")
    def _tls(self) -> ApiConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.client_ca is not None and self.tls_cert is None:
            raise ValueError("client_ca (mTLS) needs tls_cert and tls_key")
        return self


class UiConfig(_Section):
    """The managers' page (docs/ui.md), served by the API server under ``/ui/``."""

    enabled: bool = True
    language: Literal["ru", "en"] = "ru"  # when the browser asks for neither
    session_idle: float = Field(default=1800.0, gt=0)  # seconds without a request: logged out
    session_max: float = Field(default=43200.0, gt=0)  # seconds after login: logged out
    lockout_failures: int = Field(default=5, ge=1)  # wrong passwords in a row lock the user
    lockout_minutes: float = Field(default=15.0, gt=0)
    refresh: float = Field(default=15.0, ge=2)  # seconds between live updates of counters
    due_days: int = Field(default=7, ge=1, le=60)  # "due this week" on the dashboard


class StoreConfig(_Section):
    """Where the hub keeps its record: SQLite in ``data_dir`` (the embedded default) or
    PostgreSQL, which several hub nodes share (docs/deployment.md)."""

    url: str = ""  # "" or sqlite:///path/hub.sqlite; postgresql://user:password@host/db
    pool_size: int = Field(default=10, ge=1, le=200)  # PostgreSQL connections per node
    # days a finished message is kept (0: for ever); older ones are pruned once a day
    # (never one in flight, on control or on legal hold: docs/retention.md)
    retention_days: int = Field(default=0, ge=0)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        return check_store_url(value)


def redacted(url: str) -> str:
    """A URL without its password (for messages and logs)."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:…@", url)


def check_store_url(url: str) -> str:
    """``url`` if the store can be opened by it, else a ValueError that says what is wrong
    (hub.toml's ``[store] url`` and ``hub init --store`` alike)."""
    usage = "sqlite:///path or postgresql://user:password@host:port/database (or empty)"
    if not url:
        return url
    shown = redacted(url)
    if any(c.isspace() for c in url):
        raise ValueError(f"{shown}: a URL has no spaces (write them as %20)")
    if url.startswith("sqlite:"):
        if not url.startswith("sqlite:///") or not url.removeprefix("sqlite:///"):
            raise ValueError(f"{shown}: a SQLite store is sqlite:///path (three slashes)")
        return url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"{shown}: not a store URL; {usage}")
    try:
        parts.port  # noqa: B018 (it raises on a port that is not a number or out of range)
    except ValueError:
        raise ValueError(f"{shown}: the port is not a number from 1 to 65535") from None
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError(f"{shown}: names no host; {usage}")
    if "/" in parts.path.removeprefix("/"):
        raise ValueError(f"{shown}: the database is one name after the host, not a path")
    return url


class RetryConfig(_Section):
    """Defaults for every route; a route may override any of them."""

    max_attempts: int = Field(default=8, ge=1)
    base_delay: float = Field(default=2.0, gt=0)
    max_delay: float = Field(default=600.0, gt=0)
    max_age: float = Field(default=86400.0, gt=0)
    jitter: float = Field(default=0.2, ge=0, le=1)
    inline_attempts: int = Field(default=2, ge=1, le=5)


class BreakerConfig(_Section):
    failure_threshold: int = Field(default=5, ge=1)
    probe_interval: float = Field(default=30.0, gt=0)


class ArchiveConfig(_Section):
    """The tamper-evident archive (docs/archive.md): how often the sequencer numbers the
    pending leaves and how often it signs a tree head."""

    # seconds between signed heads over the log (by one node of several); 0 = only on demand
    head_interval: float = Field(default=300.0, ge=0)
    # seconds between the sequencer's integrations of pending leaves (the lease holder's)
    sequence_interval: float = Field(default=1.0, gt=0)


class S3Config(_Section):
    """An S3-compatible bucket for ``[blobs] store = "s3"`` (AWS, MinIO, Ceph RGW …). The keys
    come from the environment (``HUB_BLOBS__S3__ACCESS_KEY_ID`` …) or boto3's own chain."""

    bucket: str = ""
    prefix: str = "blobs/"
    endpoint_url: str = ""  # "" = AWS; else the server's URL (http://minio.local:9000)
    region: str = "us-east-1"
    access_key_id: str = ""
    secret_access_key: str = ""
    part_size: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)  # multipart upload


class BlobsConfig(_Section):
    """Attachments by reference (docs/envelope.md, decision 0023): where the hub keeps their
    content, above which size, and how long an upload nobody refers to is kept."""

    store: Literal["fs", "s3"] = "fs"
    directory: Path | None = None  # the "fs" store and every store's uploads: data_dir/blobs
    # attachments above this many bytes go by reference (`hub envelope new`, `hub send`)
    threshold: int = Field(default=1024 * 1024, ge=0)
    max_size: int = Field(default=8 * 1024**3, gt=0)  # the largest blob accepted
    # seconds an upload (or a rejected message's blob) is kept while no message refers to it
    grace: float = Field(default=86400.0, ge=0)
    chunk_size: int = Field(default=1024 * 1024, ge=4096, le=64 * 1024 * 1024)  # streaming
    s3: S3Config = Field(default_factory=S3Config)


class HubConfig(BaseSettings):
    """Everything ``hub serve`` and the other commands need."""

    model_config = SettingsConfigDict(
        env_prefix="HUB_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    id: str = "hub.main"
    # this process among the hub nodes sharing the store and the broker; "" = host:API port
    # (host:pid without a fixed API port): see node_name
    node: str = Field(default="", max_length=100, pattern=r"^([A-Za-z0-9][A-Za-z0-9._:@/-]*)?$")
    # "" (embedded), one amqp:// URL, or a cluster's nodes: a list, or URLs joined by commas
    broker_url: str = ""
    data_dir: Path = Path("data")
    # crypto worker processes; the default leaves one core to the event loop (and the broker)
    workers: int = Field(default_factory=lambda: default_workers(), ge=0, le=64)
    batch_size: int = Field(default=128, ge=1, le=1000)
    prefetch: int = Field(default=512, ge=1, le=10000)
    # uvloop where installed; "asyncio" keeps the standard loop (to rule uvloop out)
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    log_level: str = "INFO"
    log_json: bool = False
    departments: list[str] = Field(default_factory=list)
    pki: PkiConfig = Field(default_factory=PkiConfig)
    revocation: RevocationConfig = Field(default_factory=RevocationConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    ui: UiConfig = Field(default_factory=UiConfig)
    # how people name participants: "dept.culture" = "Отдел культуры" (the page, the reports)
    names: dict[str, str] = Field(default_factory=dict)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    archive: ArchiveConfig = Field(default_factory=ArchiveConfig)
    blobs: BlobsConfig = Field(default_factory=BlobsConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    adapters: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"internal": {"type": "internal"}}
    )
    # where the file was read from; relative paths resolve against its folder
    base_dir: Path = Path(".")

    @field_validator("id")
    @classmethod
    def _participant(cls, value: str) -> str:
        if not re.match(PARTICIPANT_PATTERN, value):
            raise ValueError(f"{value!r} is not a participant id (like hub.main)")
        return value

    @field_validator("broker_url", mode="before")
    @classmethod
    def _broker_urls(cls, value: Any) -> Any:
        """A TOML list of a cluster's nodes is kept as the comma-separated form the environment
        gives (``HUB_BROKER_URL=amqp://…@mq1/,amqp://…@mq2/``): one string everywhere."""
        if isinstance(value, list | tuple):
            value = ",".join(str(v).strip() for v in value)
        if isinstance(value, str) and value.strip():
            for url in split_broker_urls(value):
                if not url.startswith(("amqp://", "amqps://")):
                    raise ValueError(f"{url!r}: not an amqp:// or amqps:// URL")
        return value

    @model_validator(mode="after")
    def _one_broker_user(self) -> HubConfig:
        """The hub's own submissions carry its broker user as ``user_id``: one user, so that
        ``check_publisher`` knows them whichever node the hub is connected to."""
        if self.security.check_publisher and len(self.broker_users) > 1:
            raise ValueError(
                "security.check_publisher needs one broker user in every broker_url "
                f"(found {', '.join(sorted(self.broker_users))})"
            )
        return self

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # environment first: it overrides what the file says
        return env_settings, init_settings

    @property
    def embedded(self) -> bool:
        return not self.broker_url

    @property
    def broker_users(self) -> set[str]:
        """The broker users the hub itself connects as (RabbitMQ's default: guest)."""
        return {urllib.parse.urlsplit(u).username or "guest" for u in self.broker_urls}

    @property
    def broker_urls(self) -> list[str]:
        """The broker's nodes, in the order to try them (one for a single broker)."""
        return split_broker_urls(self.broker_url)

    def path(self, value: Path) -> Path:
        return value if value.is_absolute() else (self.base_dir / value)

    @property
    def database(self) -> Path:
        """The SQLite file (when the store is SQLite)."""
        url = self.store.url
        if url.startswith("sqlite:///"):  # as SQLAlchemy: sqlite:///relative, sqlite:////absolute
            return self.path(Path(url.removeprefix("sqlite:///")))
        return self.path(self.data_dir) / "hub.sqlite"

    @property
    def blob_directory(self) -> Path:
        """Where the filesystem blob store and the uploads under way are kept."""
        given = self.blobs.directory
        return self.path(given) if given is not None else self.path(self.data_dir) / "blobs"

    @property
    def postgres(self) -> bool:
        """True when the store is PostgreSQL."""
        return self.store.url.startswith(("postgresql://", "postgres://"))

    @property
    def store_location(self) -> str:
        """Where the store is, for messages (a PostgreSQL URL without its password)."""
        return redacted(self.store.url) if self.postgres else str(self.database)

    @property
    def node_name(self) -> str:
        """This node's name: ``node`` if set (stable across restarts), else the host and the
        API's port (a port is one process's at a time), else the host and the process id."""
        if self.node:
            return self.node
        import socket

        _, port = self.api_host_port
        own = port if self.api.enabled and port else os.getpid()
        return f"{socket.gethostname()}:{own}"

    @property
    def metrics_host_port(self) -> tuple[str, int]:
        return _host_port(self.metrics.address)

    @property
    def api_host_port(self) -> tuple[str, int]:
        return _host_port(self.api.address)


def split_broker_urls(value: str) -> list[str]:
    """``amqp://a/,amqp://b/`` → both URLs (a comma inside a password is written ``%2C``)."""
    return [url.strip() for url in value.split(",") if url.strip()]


def default_workers() -> int:
    return max(1, (os.cpu_count() or 2) - 1)


def load_config(path: str | Path) -> HubConfig:
    """Read and validate ``hub.toml``; a ConfigError names the key at fault."""
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: no such configuration file (create one with `hub init`)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    data["base_dir"] = file.resolve().parent
    try:
        return HubConfig(**data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = ".".join(str(p) for p in error["loc"])
            lines.append(f"{file}: {key}: {error['msg']}")
        raise ConfigError(lines) from None


def default_config_path() -> Path:
    return Path(os.environ.get("HUB_CONFIG", "hub.toml"))
