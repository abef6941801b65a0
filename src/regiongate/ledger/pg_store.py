"""The production log store: PostgreSQL through asyncpg, one schema per region log.

Appends are one transaction of two ``COPY``s (leaves, then nodes): atomic, durable at commit (the server's
``synchronous_commit`` default), and fast enough that group commit costs one round trip per batch. The writer holds
a session-level advisory lock keyed on the schema for as long as it is open, so a second gateway process pointed at
the same region log fails to open instead of appending from a stale frontier and corrupting the tree.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from regiongate.ledger.errors import LedgerError
from regiongate.ledger.merkle import StoredNode
from regiongate.ledger.store import Coord, LeafRow

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.leaves (idx BIGINT PRIMARY KEY, tag_key BYTEA NOT NULL, data BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS leaves_tag ON {s}.leaves (tag_key);
CREATE TABLE IF NOT EXISTS {s}.nodes (
    level SMALLINT NOT NULL, idx BIGINT NOT NULL, hash BYTEA NOT NULL, PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS {s}.checkpoints (
    size BIGINT PRIMARY KEY, note TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL
);
"""


def schema_name(log: str) -> str:
    """A log name as a safe PostgreSQL schema identifier (``eu-central`` → ``ledger_eu_central``)."""
    name = "ledger_" + re.sub(r"[^a-z0-9_]", "_", log.lower())
    if not _IDENT.fullmatch(name):
        raise LedgerError(f"cannot make a schema name from log name {log!r}")
    return name


class PostgresStore:
    def __init__(self, dsn: str, schema: str, *, writer: bool = True) -> None:
        if not _IDENT.fullmatch(schema):
            raise LedgerError(f"invalid schema name {schema!r}")
        self.dsn, self.schema = dsn, schema
        self._writer = writer
        self._wconn: asyncpg.Connection | None = None
        self._pool: asyncpg.Pool | None = None
        self._wlock = asyncio.Lock()  # appends and checkpoints share the writer connection, one at a time

    async def open(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            if self._writer:
                await self._lock(conn)
                await conn.execute(_SCHEMA.format(s=self.schema))
        except BaseException:
            await conn.close()
            raise
        self._wconn = conn
        self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4)

    async def _lock(self, conn: asyncpg.Connection) -> None:
        got = await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtext('regiongate.ledger'), hashtext($1))", self.schema
        )
        if not got:
            raise LedgerError(f"another process is already appending to the log in schema {self.schema}")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        if self._wconn is not None:
            await self._wconn.close()  # ends the session: releases the advisory lock
        self._pool = self._wconn = None

    def _conn(self) -> asyncpg.Connection:
        if self._wconn is None or not self._writer:
            raise LedgerError("the store is not open for writing")
        return self._wconn

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        if self._pool is None:
            raise LedgerError("the store is not open")
        rows: list[asyncpg.Record] = await self._pool.fetch(sql.format(s=self.schema), *args)
        return rows

    async def append(self, leaves: Sequence[LeafRow], nodes: Sequence[StoredNode]) -> None:
        conn = self._conn()
        async with self._wlock, conn.transaction():
            await conn.copy_records_to_table(
                "leaves",
                schema_name=self.schema,
                columns=("idx", "tag_key", "data"),
                records=[(r.index, r.tag_key, r.data) for r in leaves],
            )
            await conn.copy_records_to_table(
                "nodes",
                schema_name=self.schema,
                columns=("level", "idx", "hash"),
                records=[(n.level, n.index, n.hash) for n in nodes],
            )

    async def save_checkpoint(self, size: int, note: str) -> None:
        sql = f"INSERT INTO {self.schema}.checkpoints (size, note, created_at) VALUES ($1, $2, $3)"
        async with self._wlock:
            await self._conn().execute(sql, size, note, time.time())

    async def size(self) -> int:
        rows = await self._fetch("SELECT MAX(idx) AS m FROM {s}.nodes WHERE level = 0")
        top = rows[0]["m"]
        return 0 if top is None else int(top) + 1

    async def leaves(self, start: int, end: int) -> list[tuple[int, bytes]]:
        rows = await self._fetch(
            "SELECT idx, data FROM {s}.leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx", start, end
        )
        return [(int(r["idx"]), bytes(r["data"])) for r in rows]

    async def nodes(self, coords: Iterable[Coord]) -> dict[Coord, bytes]:
        wanted = list(dict.fromkeys(coords))
        if not wanted:
            return {}
        sql = (
            "SELECT n.level, n.idx, n.hash FROM unnest($1::smallint[], $2::bigint[]) AS w(l, i)"
            " JOIN {s}.nodes n ON n.level = w.l AND n.idx = w.i"
        )
        rows = await self._fetch(sql, [c[0] for c in wanted], [c[1] for c in wanted])
        return {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in rows}

    async def find(self, tag_key: bytes) -> list[int]:
        rows = await self._fetch("SELECT idx FROM {s}.leaves WHERE tag_key = $1 ORDER BY idx", tag_key)
        return [int(r["idx"]) for r in rows]

    async def checkpoints(self) -> list[tuple[int, str]]:
        rows = await self._fetch("SELECT size, note FROM {s}.checkpoints ORDER BY size")
        return [(int(r["size"]), str(r["note"])) for r in rows]

    async def latest_checkpoint(self) -> tuple[int, str] | None:
        rows = await self._fetch("SELECT size, note FROM {s}.checkpoints ORDER BY size DESC LIMIT 1")
        return (int(rows[0]["size"]), str(rows[0]["note"])) if rows else None
