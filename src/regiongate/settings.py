"""Process settings, parsed once from the command line and the environment (the only place either is read)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from regiongate.backends.openai import Timeouts
from regiongate.errors import ConfigError
from regiongate.media.limits import MediaLimits
from regiongate.routing.breaker import BreakerSettings

ENV_PREFIX = "REGIONGATE_"


@dataclass(frozen=True, slots=True)
class MediaSettings:
    """The gateway's media step: limits per part and per request, URL fetching, and the bounded worker pool."""

    limits: MediaLimits = field(default_factory=MediaLimits)
    fetch: bool = True  # fetch http(s) media URLs at all (inline data: URLs are always accepted)
    allow_hosts: frozenset[str] = frozenset()  # if set, the only hosts fetched ("cdn.example", ".example" = subdomains)
    fetch_timeout: float = 15.0  # seconds for a whole fetch: every lookup, redirect and byte
    workers: int = 2
    queue: int = 16  # jobs waiting for a worker; beyond workers + queue a request gets 503 media_busy
    processes: bool = True  # worker processes (a crashing decoder kills a worker, not the gateway), else threads
    worker_memory: int | None = None  # address-space cap per worker process, bytes
    # A worker process is replaced after this many jobs (a fresh heap). Each replacement stalls that worker for
    # 0.2-0.6 s (a new process imports the gateway's modules): at 200 (the pool's own default) that was the p99 of
    # bench/media_gateway.py at 20 req/s; 1000 keeps the stalls below it.
    tasks_per_child: int = 1000


@dataclass(frozen=True, slots=True)
class LogSettings:
    """Where a region's log lives and who writes it: what its writer process and its gateways must agree on."""

    data_dir: Path = Path("var")
    decisions: str = "sqlite"  # the store: "sqlite" or "postgres" ("memory": no log at all, tests only)
    ledger_dsn: str = ""  # PostgreSQL DSN when decisions is "postgres"
    ledger_log: str = ""  # the log's name: default the gateway's region (one log, one writer, per region)
    ledger_origin: str = ""  # the log's identity in checkpoints and its key name: default regiongate/<log>
    checkpoint_interval: float = 1.0  # seconds between checkpoints (sealed only if the log grew)
    # The Unix socket of the region's log writer (`regiongate ledger serve`). Empty: the gateway process writes
    # the log itself. Set: the writer listens there, and gateways send it their leaves and read the store.
    ledger_socket: str = ""

    def ledger_path(self, log: str) -> Path:
        return self.data_dir / f"ledger-{log}.sqlite3"

    def ledger_key_path(self, log: str) -> Path:
        return self.data_dir / f"ledger-{log}.key"


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeSettings(LogSettings):
    topology: Path
    gateway: str
    host: str = "127.0.0.1"
    port: int = 8080
    salt: bytes = b""  # per-deployment secret for hashing tenant and request ids in decision records
    timeouts: Timeouts = field(default_factory=Timeouts)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    max_attempts: int = 3
    health_interval: float = 10.0  # seconds between active health checks of every backend
    max_body_bytes: int = 64 * 1024 * 1024
    receipt_wait: float = 2.0  # how long a receipt request waits for a checkpoint covering it before a 202
    # Redis shared by the region's gateway processes (``redis://``, ``rediss://``, ``unix://``); "" keeps
    # backends' concurrency limits per process.
    state_url: str = ""
    media: MediaSettings = field(default_factory=MediaSettings)


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(ENV_PREFIX + name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError("environment", ENV_PREFIX + name, f"expected a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError("environment", ENV_PREFIX + name, "must be positive")
    return value


def load_salt(data_dir: Path, env: Mapping[str, str]) -> bytes:
    """The salt from the environment, else one generated on first start and kept (mode 0600) in the data dir."""
    if raw := env.get(ENV_PREFIX + "SALT"):
        return raw.encode()
    path = data_dir / "salt"
    if path.exists():
        return path.read_bytes()
    data_dir.mkdir(parents=True, exist_ok=True)
    salt = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(salt)
    return salt


def serve_settings(
    topology: Path, gateway: str, host: str, port: int, env: Mapping[str, str] | None = None
) -> ServeSettings:
    env = os.environ if env is None else env
    log = log_settings(env, stores=("sqlite", "postgres", "memory"))
    timeouts = Timeouts(
        connect=_number(env, "CONNECT_TIMEOUT", 3.0),
        first_byte=_number(env, "FIRST_BYTE_TIMEOUT", 120.0),
        read=_number(env, "READ_TIMEOUT", 60.0),
    )
    breaker = BreakerSettings(
        failure_threshold=int(_number(env, "BREAKER_FAILURES", 3)), cooldown=_number(env, "BREAKER_COOLDOWN", 5.0)
    )
    return ServeSettings(
        topology=topology,
        gateway=gateway,
        host=host,
        port=port,
        salt=load_salt(log.data_dir, env),
        timeouts=timeouts,
        breaker=breaker,
        max_attempts=int(_number(env, "MAX_ATTEMPTS", 3)),
        health_interval=_number(env, "HEALTH_INTERVAL", 10.0),
        max_body_bytes=int(_number(env, "MAX_BODY_BYTES", 64 * 1024 * 1024)),
        data_dir=log.data_dir,
        decisions=log.decisions,
        ledger_dsn=log.ledger_dsn,
        ledger_log=log.ledger_log,
        ledger_origin=log.ledger_origin,
        checkpoint_interval=log.checkpoint_interval,
        ledger_socket=log.ledger_socket,
        receipt_wait=_number(env, "RECEIPT_WAIT", 2.0),
        state_url=_state_url(env),
        media=media_settings(env),
    )


def log_settings(
    env: Mapping[str, str] | None = None, *, stores: tuple[str, ...] = ("sqlite", "postgres")
) -> LogSettings:
    """The log's settings; alone, those of a log writer process (``regiongate ledger serve``), which reads the same
    variables as its gateways."""
    env = os.environ if env is None else env
    return LogSettings(
        data_dir=Path(env.get(ENV_PREFIX + "DATA_DIR", "var")),
        decisions=_choice(env, "DECISIONS", stores),
        ledger_dsn=env.get(ENV_PREFIX + "LEDGER_DSN", ""),
        ledger_log=env.get(ENV_PREFIX + "LEDGER_LOG", ""),
        ledger_origin=env.get(ENV_PREFIX + "LEDGER_ORIGIN", ""),
        checkpoint_interval=_number(env, "CHECKPOINT_INTERVAL", 1.0),
        ledger_socket=env.get(ENV_PREFIX + "LEDGER_SOCKET", ""),
    )


def media_settings(env: Mapping[str, str]) -> MediaSettings:
    """``REGIONGATE_MEDIA_FETCH=on|off``, ``REGIONGATE_MEDIA_ALLOW_HOSTS`` (comma-separated), ``..._FETCH_TIMEOUT``,
    ``..._WORKERS``, ``..._QUEUE``, ``..._POOL=process|thread``, ``..._WORKER_MEMORY`` (bytes),
    ``..._TASKS_PER_CHILD``, and every limit of
    :class:`MediaLimits` as ``REGIONGATE_MEDIA_<FIELD>``, e.g. ``REGIONGATE_MEDIA_MAX_PART_BYTES``."""
    given: dict[str, float] = {}
    for f in fields(MediaLimits):
        name = "MEDIA_" + f.name.upper()
        if ENV_PREFIX + name in env:
            value = _number(env, name, 1)
            given[f.name] = int(value) if f.type == "int" else value
    try:
        limits = MediaLimits(**given)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError("environment", ENV_PREFIX + "MEDIA_*", str(exc)) from None
    hosts = env.get(ENV_PREFIX + "MEDIA_ALLOW_HOSTS", "")
    memory = env.get(ENV_PREFIX + "MEDIA_WORKER_MEMORY")
    return MediaSettings(
        limits=limits,
        fetch=_choice(env, "MEDIA_FETCH", ("on", "off")) == "on",
        allow_hosts=frozenset(h.strip() for h in hosts.split(",") if h.strip()),
        fetch_timeout=_number(env, "MEDIA_FETCH_TIMEOUT", 15.0),
        workers=int(_number(env, "MEDIA_WORKERS", min(4, os.cpu_count() or 1))),
        queue=int(_number(env, "MEDIA_QUEUE", 16)),
        processes=_choice(env, "MEDIA_POOL", ("process", "thread")) == "process",
        worker_memory=int(_number(env, "MEDIA_WORKER_MEMORY", 1)) if memory is not None else None,
        tasks_per_child=int(_number(env, "MEDIA_TASKS_PER_CHILD", 1000)),
    )


def _state_url(env: Mapping[str, str]) -> str:
    raw = env.get(ENV_PREFIX + "STATE_URL", "")
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if raw and scheme not in ("redis", "rediss", "unix"):
        # The scheme alone: the rest of the URL may hold a password.
        expected = f"expected a redis://, rediss:// or unix:// URL, got {scheme or 'no'} scheme"
        raise ConfigError("environment", ENV_PREFIX + "STATE_URL", expected)
    return raw


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    raw = env.get(ENV_PREFIX + name, allowed[0])
    if raw not in allowed:
        raise ConfigError("environment", ENV_PREFIX + name, f"expected one of {', '.join(allowed)}, got {raw!r}")
    return raw
