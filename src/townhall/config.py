"""Settings, read from `TOWNHALL_*` environment variables with embedded defaults."""

from __future__ import annotations

import ipaddress
import json
import math
import secrets
from pathlib import Path
from typing import Annotated, Any, Literal, TypeAlias
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from townhall.store.db import PoolSettings

IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


class IceServer(BaseModel):
    """One STUN or TURN server for WebRTC (an RTCIceServer): unknown keys are dropped."""

    urls: str | list[str]
    username: str | None = None
    credential: str | None = None


class ConfigError(Exception):
    """A setting has a wrong value; the message names it."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything an operator can set. Defaults give a working single-node server."""

    model_config = SettingsConfigDict(env_prefix="TOWNHALL_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    data_dir: Path = Path("data")
    database_url: str = ""
    # PostgreSQL only: the schema to use (search_path); empty for the default.
    database_schema: str = Field("", pattern=r"^[a-z_][a-z0-9_]*$|^$")
    # Connections each process keeps to the database, how many more it may open at peaks,
    # and how long a request waits for a free one before it is answered 503.
    database_pool_size: int = Field(10, ge=1, le=1000)
    database_max_overflow: int = Field(10, ge=0, le=1000)
    database_pool_timeout: float = Field(5.0, gt=0, le=300)
    # Database-backed API requests one process serves at once; more wait in line up to
    # request_queue_seconds, then get 503 with Retry-After (load shedding, not 500s).
    max_concurrent_requests: int = Field(16, ge=1, le=10000)
    request_queue_seconds: float = Field(10.0, ge=0, le=300)
    redis_url: str = ""
    # Prefix of every Redis key and channel (nodes sharing one deployment use the same).
    redis_prefix: str = Field("townhall:", max_length=64, pattern=r"^[A-Za-z0-9_.:-]*$")
    public_url: str = ""
    secret_key: str = ""
    # ICE servers handed to clients and used by the server: JSON list of
    # {"urls": ..., "username"?: ..., "credential"?: ...}. Empty by default:
    # never a public STUN server.
    ice_servers: Annotated[list[IceServer], NoDecode] = Field(default_factory=list)
    # Addresses the media plane advertises as ICE host candidates.
    media_addresses: Annotated[list[str], NoDecode] = Field(default_factory=list)
    stage_limit: int = Field(13, ge=1, le=100)
    # Audio each speaker's jitter buffer collects before it is mixed (ms, 20 ms frames):
    # more absorbs more network jitter at the cost of delay.
    jitter_prefetch_ms: int = Field(20, ge=0, le=200)
    cohost_limit: int = Field(2, ge=0, le=10)
    # LL-HLS of every live space's mix (for large audiences, through an HTTP cache).
    hls: bool = True
    # Off-stage WebRTC connections per space on one media node; the next listener is
    # answered 409 webrtc_full with the space's HLS URL (0: listeners always use HLS).
    webrtc_listener_limit: int = Field(1000, ge=0, le=100_000)
    # Media worker processes `townhall serve` starts (0: the media plane runs inside the
    # API process). A space mixes on one (its origin); listeners past
    # media_listeners_per_worker on it go to other workers (edges) that relay its mix.
    media_workers: int = Field(0, ge=0, le=256)
    media_listeners_per_worker: int = Field(500, ge=1, le=100_000)
    # Media nodes (`townhall media` on other machines, found through Redis): the API
    # places spaces and listeners on the registered nodes instead of its own media plane.
    # Needs TOWNHALL_REDIS_URL and TOWNHALL_MEDIA_SECRET (shared by every API and media
    # node: it authenticates registrations, the control channel and relay packets).
    media_nodes: bool = False
    media_secret: str = ""
    # The listeners' fan-out loop: "auto" runs it in C on its own thread when the C part
    # was built at install (townhall.media.native), "python" always the Python loop.
    fanout_engine: Literal["auto", "python"] = "auto"
    host_grace_seconds: float = Field(300.0, ge=0)
    # Members (not the host) with neither a WebSocket subscription nor a media connection
    # to a live space for longer than this are made to leave it.
    absent_member_seconds: float = Field(60.0, gt=0)
    # Seconds a WebSocket client stays present in a space after its last ping/subscribe.
    presence_ttl_seconds: float = Field(60.0, gt=0, le=3600)
    # None: Secure exactly when TOWNHALL_PUBLIC_URL is https (see `secure_cookies`).
    cookie_secure: bool | None = None
    # Origins (besides the server's own and TOWNHALL_PUBLIC_URL) whose pages may act
    # with a user's session cookie: comma-separated, e.g. https://talk.example.org.
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Peers (CIDR list) whose X-Forwarded-For / X-Forwarded-Proto are believed: your
    # reverse proxies. Empty: the TCP peer is the client, whatever the headers say.
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    # Largest JSON request body in bytes (media offers allow a larger SDP).
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    session_days: int = Field(30, ge=1, le=365)
    # argon2id cost; tests lower it, production keeps the defaults.
    password_time_cost: int = Field(3, ge=1, le=10)
    password_memory_kib: int = Field(65536, ge=1024, le=1048576)
    # Attempts per window (seconds) for signup and login, per address and per handle.
    auth_rate_limit: int = Field(10, ge=1)
    auth_rate_window: float = Field(60.0, gt=0)
    log_level: str = "info"
    # Live captions: the speech recognition engine ("pocketsphinx", "whisper", or "off")
    # and, for whisper, the directory of a faster-whisper (CTranslate2) model.
    captions_engine: str = "pocketsphinx"
    captions_model: Path | None = None
    # Who may sign up: open (anyone), invite (with a member's invite code), closed (only
    # with a code made by an admin or at the command line).
    registration: str = Field("open", pattern=r"^(open|invite|closed)$")
    # Unused invite codes a member may hold at once (an admin sets it per member).
    invite_quota: int = Field(5, ge=0, le=1000)
    # How old an account must be before it raises a hand or hosts: seconds, or a number
    # with s, m, h or d (e.g. 24h). Slows raids of fresh accounts.
    min_account_age_to_speak: float = Field(0.0, ge=0)
    # Days a report's evidence (the audio of a live space around it) is kept, then its
    # file and row are deleted.
    evidence_retention_days: int = Field(90, ge=1, le=3650)
    # The window saved around a report: seconds of the space's audio before it and after
    # it (the media plane's ring buffer holds 600 s, so before + after is at most 600).
    evidence_before_seconds: float = Field(300.0, ge=1, le=600)
    evidence_after_seconds: float = Field(120.0, ge=0, le=300)

    @field_validator("ice_servers", mode="before")
    @classmethod
    def _parse_ice(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return []
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be a JSON list of ICE servers ({exc.msg})") from exc
        if not isinstance(value, list) or not all(
            isinstance(s, IceServer)
            or (isinstance(s, dict) and isinstance(s.get("urls"), str | list))
            for s in value
        ):
            raise ValueError('must be a JSON list like [{"urls": "turn:host:3478", ...}]')
        return value

    @field_validator("media_addresses", mode="before")
    @classmethod
    def _parse_addresses(cls, value: Any) -> Any:
        addresses = _split_csv(value)
        for address in addresses if isinstance(addresses, list) else []:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"{address!r} is not an IP address") from None
        return addresses

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: Any) -> Any:
        origins = _split_csv(value)
        for origin in origins if isinstance(origins, list) else []:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
                raise ValueError(f"{origin!r} is not an origin like https://talk.example.org")
        return origins

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: Any) -> Any:
        networks = _split_csv(value)
        if not isinstance(networks, list):
            return networks
        parsed = []
        for network in networks:
            try:
                parsed.append(ipaddress.ip_network(str(network), strict=False))
            except ValueError:
                raise ValueError(f"{network!r} is not an IP address or CIDR network") from None
        return parsed

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise ValueError("must be an http:// or https:// URL, e.g. https://talk.example.org")
        return value.rstrip("/")

    @field_validator("min_account_age_to_speak", mode="before")
    @classmethod
    def _parse_duration(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().lower()
            units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
            if text and text[-1] in units:
                try:
                    return float(text[:-1]) * units[text[-1]]
                except ValueError:
                    raise ValueError("must be seconds, or a number with s, m, h or d") from None
        return value

    @field_validator("jitter_prefetch_ms", mode="before")
    @classmethod
    def _round_prefetch(cls, value: Any) -> Any:
        """Whole 20 ms frames: other values are rounded to the nearest multiple of 20."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            return value  # pydantic names the type error
        if number != number or number in (float("inf"), float("-inf")):
            return value
        return math.floor(number / 20.0 + 0.5) * 20  # half up: 50 -> 60

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL")
        return value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        if value.lower() not in {"critical", "error", "warning", "info", "debug"}:
            raise ValueError("must be one of critical, error, warning, info, debug")
        return value.lower()

    @field_validator("captions_engine")
    @classmethod
    def _check_engine(cls, value: str) -> str:
        value = value.strip().lower() or "off"
        if value not in {"pocketsphinx", "whisper", "off"}:
            raise ValueError("must be one of pocketsphinx, whisper, off")
        return value

    @field_validator("captions_model", mode="before")
    @classmethod
    def _empty_model(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _check_evidence_window(self) -> Settings:
        if self.evidence_before_seconds + self.evidence_after_seconds > 600:
            raise ValueError(
                "TOWNHALL_EVIDENCE_BEFORE_SECONDS + TOWNHALL_EVIDENCE_AFTER_SECONDS must be "
                "at most 600 (the ring buffer holds 10 minutes)"
            )
        return self

    @model_validator(mode="after")
    def _check_captions_model(self) -> Settings:
        if self.captions_engine == "whisper":
            model = self.captions_model
            if model is None or not (model / "model.bin").is_file():
                raise ValueError(
                    "TOWNHALL_CAPTIONS_MODEL must name a faster-whisper model directory "
                    "(with model.bin) when TOWNHALL_CAPTIONS_ENGINE=whisper"
                )
        return self

    @property
    def captions_available(self) -> bool:
        """Does this instance caption speech (an engine is configured)?"""
        return self.captions_engine != "off"

    @model_validator(mode="after")
    def _check_media_nodes(self) -> Settings:
        if self.media_secret and len(self.media_secret) < 16:
            raise ValueError("TOWNHALL_MEDIA_SECRET must be at least 16 characters")
        if self.media_nodes and not (self.redis_url and self.media_secret):
            raise ValueError(
                "TOWNHALL_MEDIA_NODES needs TOWNHALL_REDIS_URL and TOWNHALL_MEDIA_SECRET"
            )
        return self

    @model_validator(mode="after")
    def _check_secret(self) -> Settings:
        if self.secret_key and len(self.secret_key) < 16:
            raise ValueError("TOWNHALL_SECRET_KEY must be at least 16 characters")
        return self

    # -- derived values -------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        """The async SQLAlchemy URL: the configured one, or a SQLite file in data_dir."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'townhall.db').resolve()}"
        if url.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
        if url.startswith("postgres://"):
            url = "postgresql://" + url.removeprefix("postgres://")
        if url.startswith("postgresql://"):
            return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
        return url

    @property
    def database_pool(self) -> PoolSettings:
        return PoolSettings(
            size=self.database_pool_size,
            overflow=self.database_max_overflow,
            timeout=self.database_pool_timeout,
        )

    @property
    def secure_cookies(self) -> bool:
        """Cookies get `Secure`: as configured, else whenever the public URL is https."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.public_url.startswith("https://")

    @property
    def jitter_prefetch_samples(self) -> int:
        """The jitter prefetch in 48 kHz samples."""
        return self.jitter_prefetch_ms * 48

    @property
    def effective_media_addresses(self) -> list[str]:
        """Addresses to advertise: configured, else loopback when bound to loopback."""
        if self.media_addresses:
            return list(self.media_addresses)
        if self.host in {"127.0.0.1", "localhost", "::1"}:
            return ["127.0.0.1"]
        return []

    def load_secret_key(self) -> str:
        """The configured key, or one generated on first start and kept in data_dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


def load_settings(**overrides: Any) -> Settings:
    """Read settings; a wrong value raises ConfigError naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else ""
            var = f"TOWNHALL_{name.upper()}" if name else "settings"
            msg = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{var}: {msg}")
        raise ConfigError("; ".join(problems)) from exc
