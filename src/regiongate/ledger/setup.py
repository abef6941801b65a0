"""Opening a gateway's region log from its settings: store, key, ledger, sink."""

from __future__ import annotations

from regiongate.errors import ConfigError
from regiongate.ledger.keys import load_or_create_signer
from regiongate.ledger.log import Ledger
from regiongate.ledger.pg_store import PostgresStore, schema_name
from regiongate.ledger.sink import LedgerSink
from regiongate.ledger.sqlite_store import SqliteStore
from regiongate.ledger.store import LogStore
from regiongate.settings import ServeSettings


def log_name(settings: ServeSettings, region: str) -> str:
    return settings.ledger_log or region


def origin_of(settings: ServeSettings, region: str) -> str:
    return settings.ledger_origin or f"regiongate/{log_name(settings, region)}"


def store_for(settings: ServeSettings, region: str) -> LogStore:
    log = log_name(settings, region)
    if settings.decisions == "postgres":
        if not settings.ledger_dsn:
            raise ConfigError("environment", "REGIONGATE_LEDGER_DSN", "required when REGIONGATE_DECISIONS=postgres")
        return PostgresStore(settings.ledger_dsn, schema_name(log))
    return SqliteStore(settings.ledger_path(log))


async def open_ledger_sink(settings: ServeSettings, region: str) -> LedgerSink:
    signer = load_or_create_signer(settings.ledger_key_path(log_name(settings, region)), origin_of(settings, region))
    ledger = await Ledger.open(store_for(settings, region), signer, interval=settings.checkpoint_interval)
    return LedgerSink(ledger)
