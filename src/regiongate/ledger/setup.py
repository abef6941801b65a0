"""Opening a region's log from its settings: store, key, ledger, sink; in the gateway or in its writer process."""

from __future__ import annotations

from pathlib import Path

from regiongate.errors import ConfigError
from regiongate.ledger.keys import load_or_create_signer
from regiongate.ledger.log import Ledger
from regiongate.ledger.pg_store import PostgresStore, schema_name
from regiongate.ledger.region_log import RegionLog
from regiongate.ledger.remote import RemoteLedger
from regiongate.ledger.sink import LedgerSink
from regiongate.ledger.sqlite_store import SqliteStore
from regiongate.ledger.store import LogStore
from regiongate.settings import LogSettings


def log_name(settings: LogSettings, region: str) -> str:
    return settings.ledger_log or region


def origin_of(settings: LogSettings, region: str) -> str:
    return settings.ledger_origin or f"regiongate/{log_name(settings, region)}"


def store_for(settings: LogSettings, region: str, *, writer: bool = True, inline: bool = False) -> LogStore:
    log = log_name(settings, region)
    if settings.decisions == "postgres":
        if not settings.ledger_dsn:
            raise ConfigError("environment", "REGIONGATE_LEDGER_DSN", "required when REGIONGATE_DECISIONS=postgres")
        return PostgresStore(settings.ledger_dsn, schema_name(log), writer=writer)
    return SqliteStore(settings.ledger_path(log), writer=writer, inline=inline)


async def open_writer(settings: LogSettings, region: str, *, inline: bool = False) -> Ledger:
    """The log with its writer in this process: the key, the store opened for appending, the checkpointer.
    ``inline``: a process that only writes the log (SQLite then commits on the event loop's thread)."""
    signer = load_or_create_signer(settings.ledger_key_path(log_name(settings, region)), origin_of(settings, region))
    store = store_for(settings, region, inline=inline)
    return await Ledger.open(store, signer, interval=settings.checkpoint_interval)


async def open_region_log(settings: LogSettings, region: str) -> RegionLog:
    """The gateway's handle on its region's log: through the region's writer process if ``ledger_socket`` names
    one, else written by this process."""
    if settings.ledger_socket:
        store = store_for(settings, region, writer=False)
        return await RemoteLedger.connect(Path(settings.ledger_socket), store, origin_of(settings, region))
    return await open_writer(settings, region)


async def open_ledger_sink(settings: LogSettings, region: str) -> LedgerSink:
    return LedgerSink(await open_region_log(settings, region))
