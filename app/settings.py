"""Settings read from the environment, once, into an immutable object."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TypeVar

log = logging.getLogger("livecart")

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./livecart.db"
DEFAULT_TOKEN_TTL_S = 7 * 24 * 3600
# Fixed so tokens survive restarts and are shared by workers in development.
DEVELOPMENT_SECRET_KEY = "livecart-insecure-development-key"


ENVIRONMENTS = ("development", "production")
# Secrets shorter than this are guessable offline from one token (HMAC brute force).
MIN_SECRET_KEY_CHARS = 32
THROTTLE_WINDOW_S = 15 * 60
N = TypeVar("N", int, float, str)


class ConfigError(Exception):
    """The environment does not describe a runnable configuration."""


def _normalise_database_url(url: str) -> str:
    """Accept the URLs platforms hand out (``postgres://``) and pick the async drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url[len("postgresql://") :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+aiosqlite://"):
        url = "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value}")
    return value


def _cap(env: Mapping[str, str], name: str, default: int) -> int:
    """A cap: a whole number, 0 for none."""
    value = _int(env, name, default)
    if value < 0:
        raise ConfigError(f"{name} must be 0 (no cap) or a positive integer, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be 1/0, true/false, yes/no or on/off, not {raw!r}")


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from exc
    if not 0 < value < 86_400:
        raise ConfigError(f"{name} must be between 0 and 86400 seconds, got {raw!r}")
    return value


def _country(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name) or default
    if len(raw) != 2 or not raw.isascii() or not raw.isupper():
        raise ConfigError(f"{name} must be a two-letter country code such as US, got {raw!r}")
    return raw


def _directory(env: Mapping[str, str], name: str, default: str | None) -> str | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not os.path.isdir(raw):
        raise ConfigError(f"{name} must name an existing directory, got {raw!r}")
    return os.path.abspath(raw)


_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def _origins(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name, "").replace(",", " ").split()
    if not raw:
        return default
    bad = [o for o in raw if not _ORIGIN.fullmatch(o)]
    if bad:
        raise ConfigError(f"{name} takes origins such as https://cdn.example, got {bad[0]!r}")
    return tuple(raw)


def _from(variable: str, default: N, read: Callable[[Mapping[str, str], str, N], N]) -> N:
    """A setting read from the environment ``variable`` by ``read``, ``default`` when unset:
    ``Settings.from_env`` reads every field declared so."""
    return field(default=default, metadata={"env": variable, "read": read})


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    secret_key: str = field(default=DEVELOPMENT_SECRET_KEY, repr=False)
    env: str = "development"
    port: int = _from("PORT", 8000, _positive)
    # "test" (the built-in provider: no money moves) or "module:factory" naming a
    # zero-argument callable that returns a ``checkout.ports.PaymentProvider``.
    payments: str = "test"
    # Per 15 minutes (``THROTTLE_WINDOW_S``), 0 for no limit: failed logins for one
    # account and from one address, and registrations from one address. Beyond them
    # the answer is 429 before any password is checked. The address limits are
    # generous because carrier NAT puts many phones behind one address.
    login_failures_per_account: int = _from("LIVECART_LOGIN_FAILURES_PER_ACCOUNT", 10, _cap)
    login_failures_per_address: int = _from("LIVECART_LOGIN_FAILURES_PER_ADDRESS", 100, _cap)
    registrations_per_address: int = _from("LIVECART_REGISTRATIONS_PER_ADDRESS", 30, _cap)
    token_ttl_s: int = _from("LIVECART_TOKEN_TTL_S", DEFAULT_TOKEN_TTL_S, _positive)
    # Request bodies larger than this are refused with 413 before parsing.
    max_body_bytes: int = 64 * 1024
    # How often viewer counts are exchanged between processes and sent to viewers.
    presence_interval_s: float = _from("LIVECART_PRESENCE_INTERVAL_S", 1.0, _seconds)
    # WebSocket keepalive (``livecart serve``, or uvicorn's ``--ws auto``): a viewer that
    # does not answer a ping within the timeout is dropped and leaves the presence count.
    ws_ping_interval_s: float = _from("LIVECART_WS_PING_INTERVAL_S", 20.0, _seconds)
    ws_ping_timeout_s: float = _from("LIVECART_WS_PING_TIMEOUT_S", 20.0, _seconds)
    # Fulfillment queue (Redis): an entry pending this long on a silent worker is
    # taken over by another; after this many deliveries it goes to the dead letters.
    queue_claim_idle_ms: int = _from("LIVECART_QUEUE_CLAIM_IDLE_MS", 30_000, _positive)
    queue_max_attempts: int = _from("LIVECART_QUEUE_MAX_ATTEMPTS", 5, _positive)
    # Chat: messages a second per user per live, and the burst allowed.
    chat_rate: float = _from("LIVECART_CHAT_RATE", 1.0, _seconds)
    chat_burst: int = _from("LIVECART_CHAT_BURST", 5, _positive)
    # Orders are due to ship this many business days after placement (weekends and the
    # warehouse country's public holidays skipped); MAIN's country (ISO 3166 alpha-2).
    ship_by_days: int = _from("LIVECART_SHIP_BY_DAYS", 2, _positive)
    main_country: str = _from("LIVECART_MAIN_COUNTRY", "US", _country)
    # A webhook receiver has this long to answer each delivery attempt.
    webhook_timeout_s: float = _from("LIVECART_WEBHOOK_TIMEOUT_S", 10.0, _seconds)
    # Video: a directory served at /media/ (recordings, HLS streams kept next to the
    # server), and origins the pages may fetch and play video from (an HLS player on a
    # CDN); HTTPS video plays from anywhere already.
    # Webhooks may reach private and local addresses (a shop's systems inside its own
    # network); otherwise only development allows them (SSRF).
    webhook_private_ok: bool = False  # LIVECART_WEBHOOK_PRIVATE_OK
    media_dir: str | None = None  # LIVECART_MEDIA_DIR
    media_origins: tuple[str, ...] = ()  # LIVECART_MEDIA_ORIGINS
    # One log line per HTTP request (uvicorn's access log). On by default in development;
    # off by default in production, where the proxy in front logs requests already and
    # the line costs a few percent of CPU under load.
    access_log: bool = True
    # Viewer sockets one process accepts from one client address (after trusted proxy
    # headers) and for one account; beyond them a new socket is closed with 1013. 0: no cap.
    # The address cap is generous because carrier NAT puts many phones behind one address.
    max_sockets_per_address: int = _from("LIVECART_MAX_SOCKETS_PER_ADDRESS", 500, _cap)
    max_sockets_per_user: int = _from("LIVECART_MAX_SOCKETS_PER_USER", 10, _cap)
    # Sockets between accept and their first frame, per process; beyond it: 1013.
    max_joins_in_flight: int = _from("LIVECART_MAX_JOINS_IN_FLIGHT", 20_000, _cap)
    # The longest a join may wait (for the database, mostly) before it is closed with 1013.
    join_timeout_s: float = _from("LIVECART_JOIN_TIMEOUT_S", 10.0, _seconds)
    # TCP connections one process keeps open from one peer address (trusted proxies
    # exempt: their clients are counted by forwarded address at the socket cap); 0: none.
    max_connections_per_address: int = _from("LIVECART_MAX_CONNECTIONS_PER_ADDRESS", 1000, _cap)
    # A connection whose request headers are not complete this many seconds after it
    # opened (or after a new request on it began) is closed (livecart's HTTP protocol).
    header_timeout_s: float = _from("LIVECART_HEADER_TIMEOUT_S", 10.0, _seconds)
    # ``GET /metrics`` requires this bearer token when set (None: open to anyone who
    # can reach it, as ``/healthz`` is).
    metrics_token: str | None = field(default=None, repr=False)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from environment variables; ``ConfigError`` when they are unsafe.

        ``LIVECART_ENV`` is ``development`` (the default) or ``production``; anything
        else is refused rather than guessed. Production refuses a missing, short or
        public ``SECRET_KEY`` and the test payment provider unless
        ``LIVECART_PAYMENTS=test`` asks for it. In development a missing key is
        replaced by the fixed, public development key with a warning.
        """
        env = os.environ if env is None else env
        mode = _mode(env)
        secret = _secret_key(env, mode)
        payments = _payments(env, mode)
        redis_url = env.get("REDIS_URL", "").strip() or None
        return cls(
            database_url=_normalise_database_url(
                env.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
            ),
            redis_url=redis_url,
            secret_key=secret,
            env=mode,
            payments=payments,
            access_log=_flag(env, "LIVECART_ACCESS_LOG", mode != "production"),
            webhook_private_ok=_flag(env, "LIVECART_WEBHOOK_PRIVATE_OK", False),
            metrics_token=env.get("LIVECART_METRICS_TOKEN", "").strip() or None,
            media_dir=_directory(env, "LIVECART_MEDIA_DIR", None),
            media_origins=_origins(env, "LIVECART_MEDIA_ORIGINS", ()),
            **{f.name: f.metadata["read"](env, f.metadata["env"], f.default)
               for f in fields(cls) if "env" in f.metadata},
        )  # fmt: skip


def _mode(env: Mapping[str, str]) -> str:
    mode = env.get("LIVECART_ENV", "").strip() or "development"
    if mode not in ENVIRONMENTS:
        # "prod" or "Production" once ran silently as development, on the public key.
        raise ConfigError(f"LIVECART_ENV must be 'development' or 'production', not {mode!r}")
    return mode


def _secret_key(env: Mapping[str, str], mode: str) -> str:
    secret = env.get("SECRET_KEY", "")
    if mode == "production":
        if not secret:
            raise ConfigError("SECRET_KEY must be set when LIVECART_ENV=production")
        if secret == DEVELOPMENT_SECRET_KEY:
            raise ConfigError("SECRET_KEY is the public development key; generate your own")
        if len(secret) < MIN_SECRET_KEY_CHARS:
            raise ConfigError(
                f"SECRET_KEY must be at least {MIN_SECRET_KEY_CHARS} characters in production "
                "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return secret
    if not secret:
        log.warning(
            "SECRET_KEY is not set: using the PUBLIC development key. Anyone can forge "
            "tokens. Set SECRET_KEY (and LIVECART_ENV=production) for any real deployment."
        )
        return DEVELOPMENT_SECRET_KEY
    return secret


def _payments(env: Mapping[str, str], mode: str) -> str:
    choice = env.get("LIVECART_PAYMENTS", "").strip()
    if not choice:
        if mode == "production":
            raise ConfigError(
                "production needs a payment provider: set LIVECART_PAYMENTS to "
                "'module:factory' (see docs/operations.md), or to 'test' to take orders "
                "on the test provider, where no money moves"
            )
        return "test"
    if choice != "test" and not re.fullmatch(r"[\w.]+:[\w.]+", choice):
        raise ConfigError(f"LIVECART_PAYMENTS must be 'test' or 'module:factory', not {choice!r}")
    return choice
