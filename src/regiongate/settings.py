"""Process settings, parsed once from the command line and the environment (the only place either is read)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from regiongate.backends.openai import Timeouts
from regiongate.errors import ConfigError
from regiongate.routing.breaker import BreakerSettings

ENV_PREFIX = "REGIONGATE_"


@dataclass(frozen=True, slots=True)
class ServeSettings:
    topology: Path
    gateway: str
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("var")
    salt: bytes = b""  # per-deployment secret for hashing tenant and request ids in decision records
    timeouts: Timeouts = field(default_factory=Timeouts)
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    max_attempts: int = 3
    health_interval: float = 10.0  # seconds between active health checks of every backend
    max_body_bytes: int = 64 * 1024 * 1024
    decisions: str = "sqlite"  # the region's verifiable log on "sqlite" or "postgres"; "memory": no log (tests)
    ledger_dsn: str = ""  # PostgreSQL DSN when decisions is "postgres"
    ledger_log: str = ""  # the log's name: default the gateway's region (one log, one writer, per region)
    ledger_origin: str = ""  # the log's identity in checkpoints and its key name: default regiongate/<log>
    checkpoint_interval: float = 1.0  # seconds between checkpoints (sealed only if the log grew)
    receipt_wait: float = 2.0  # how long a receipt request waits for a checkpoint covering it before a 202

    @property
    def decisions_path(self) -> Path:
        return self.data_dir / f"decisions-{self.gateway}.sqlite3"

    def ledger_path(self, log: str) -> Path:
        return self.data_dir / f"ledger-{log}.sqlite3"

    def ledger_key_path(self, log: str) -> Path:
        return self.data_dir / f"ledger-{log}.key"


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
    data_dir = Path(env.get(ENV_PREFIX + "DATA_DIR", "var"))
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
        data_dir=data_dir,
        salt=load_salt(data_dir, env),
        timeouts=timeouts,
        breaker=breaker,
        max_attempts=int(_number(env, "MAX_ATTEMPTS", 3)),
        health_interval=_number(env, "HEALTH_INTERVAL", 10.0),
        max_body_bytes=int(_number(env, "MAX_BODY_BYTES", 64 * 1024 * 1024)),
        decisions=_choice(env, "DECISIONS", ("sqlite", "postgres", "memory")),
        ledger_dsn=env.get(ENV_PREFIX + "LEDGER_DSN", ""),
        ledger_log=env.get(ENV_PREFIX + "LEDGER_LOG", ""),
        ledger_origin=env.get(ENV_PREFIX + "LEDGER_ORIGIN", ""),
        checkpoint_interval=_number(env, "CHECKPOINT_INTERVAL", 1.0),
        receipt_wait=_number(env, "RECEIPT_WAIT", 2.0),
    )


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    raw = env.get(ENV_PREFIX + name, allowed[0])
    if raw not in allowed:
        raise ConfigError("environment", ENV_PREFIX + name, f"expected one of {', '.join(allowed)}, got {raw!r}")
    return raw
