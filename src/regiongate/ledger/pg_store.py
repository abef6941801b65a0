"""The production log store: PostgreSQL through asyncpg, one schema per region log.

An append is one transaction: a ``COPY`` of the leaves, then the tree as tiles (:mod:`regiongate.ledger.tiles`): one
``UPDATE`` concatenating to the right-edge tiles (each only if it has the length the batch continues) and one
``INSERT`` of the new ones, a row per 16 leaves where there were two node rows per leaf. It is durable at commit
(the server's ``synchronous_commit`` default). The writer holds a session-level advisory lock keyed on the schema for
as long as it is open, so a second gateway process pointed at the same region log fails to open instead of appending
from a stale frontier and corrupting the tree.

Tiles of tile level 2 and up are kept in memory (:mod:`regiongate.ledger.tilecache`), so a proof is one query of at
most four rows, sent on the store's own read connection: through the pool, acquiring and releasing (with its reset
round trip) cost more than the query. Reads that arrive while it is busy go to the pool, whose reset is skipped
(asyncpg >= 0.30): its connections only run ``SELECT``s, which leave no session state behind.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from regiongate.ledger.errors import LedgerError
from regiongate.ledger.merkle import HASH_SIZE, StoredNode
from regiongate.ledger.store import Coord, LeafRow
from regiongate.ledger.tilecache import CACHED_LEVEL, NOTHING, TileCache
from regiongate.ledger.tiles import Tile, TileAppend, group, recorded_size

_IDENT = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SCHEMA = """
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.leaves (idx BIGINT PRIMARY KEY, tag_key BYTEA NOT NULL, data BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS leaves_tag ON {s}.leaves (tag_key);
CREATE TABLE IF NOT EXISTS {s}.tiles (
    level SMALLINT NOT NULL, idx BIGINT NOT NULL, hashes BYTEA NOT NULL, PRIMARY KEY (level, idx)
);
CREATE TABLE IF NOT EXISTS {s}.checkpoints (
    size BIGINT PRIMARY KEY, note TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL
);
"""
_GROW = """
UPDATE {s}.tiles AS t SET hashes = t.hashes || g.h
FROM unnest($1::smallint[], $2::bigint[], $3::int[], $4::bytea[]) AS g(l, i, o, h)
WHERE t.level = g.l AND t.idx = g.i AND length(t.hashes) = g.o
"""
_MAX_TILES = 256  # tiles per read: a proof reads four at most, `ledger check` thousands
_ADD = "INSERT INTO {s}.tiles (level, idx, hashes) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])"


async def _keep(conn: asyncpg.Connection) -> None:
    """Pool reset for connections that only run SELECTs: nothing to undo, so no round trip."""


# asyncpg >= 0.30 lets a pool skip its reset; 0.29 always sends it
_POOL_OPTIONS: dict[str, Any] = {"reset": _keep} if "reset" in inspect.signature(asyncpg.create_pool).parameters else {}


def schema_name(log: str) -> str:
    """A log name as a safe PostgreSQL schema identifier (``eu-central`` → ``ledger_eu_central``)."""
    name = "ledger_" + re.sub(r"[^a-z0-9_]", "_", log.lower())
    if not _IDENT.fullmatch(name):
        raise LedgerError(f"cannot make a schema name from log name {log!r}")
    return name


class PostgresStore:
    def __init__(self, dsn: str, schema: str, *, writer: bool = True, cache: bool = True) -> None:
        if not _IDENT.fullmatch(schema):
            raise LedgerError(f"invalid schema name {schema!r}")
        self.dsn, self.schema = dsn, schema
        self._writer = writer
        self.cache = TileCache(CACHED_LEVEL if cache else NOTHING)
        self._wconn: asyncpg.Connection | None = None
        self._pool: asyncpg.Pool | None = None
        self._rconn: asyncpg.Connection | None = None  # reads go here when it is free: no pool acquire/release
        self._rlock = asyncio.Lock()
        self._wlock = asyncio.Lock()  # appends and checkpoints share the writer connection, one at a time

    async def open(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            if self._writer:
                await self._lock(conn)
                await conn.execute(_SCHEMA.format(s=self.schema))
            await self._check_layout(conn)
        except BaseException:
            await conn.close()
            raise
        self._wconn = conn
        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=4, **_POOL_OPTIONS)
            sql = "SELECT level, idx, hashes FROM {s}.tiles WHERE level >= $1"
            rows = await self._fetch(sql, self.cache.from_level)
        except BaseException:
            await self.close()
            raise
        self.cache.load(((int(r["level"]), int(r["idx"])), bytes(r["hashes"])) for r in rows)

    async def _check_layout(self, conn: asyncpg.Connection) -> None:
        sql = "SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL"
        row = await conn.fetchrow(sql, f"{self.schema}.nodes", f"{self.schema}.tiles")
        nodes, tiles = (bool(row[0]), bool(row[1])) if row is not None else (False, False)
        if nodes or not tiles:
            why = "stores its tree as node rows (written before tiles)" if nodes else "has no tree"
            raise LedgerError(f"schema {self.schema} {why}: it cannot be opened as a log")

    async def _lock(self, conn: asyncpg.Connection) -> None:
        got = await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtext('regiongate.ledger'), hashtext($1))", self.schema
        )
        if not got:
            raise LedgerError(f"another process is already appending to the log in schema {self.schema}")

    async def close(self) -> None:
        if self._rconn is not None:
            await self._rconn.close()
            self._rconn = None
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
        """On the store's own read connection when it is free (a pool costs ~70 µs a query to acquire and release
        under asyncio), else on a pooled one so that concurrent reads still run side by side."""
        if self._pool is None:
            raise LedgerError("the store is not open")
        sql = sql.format(s=self.schema)
        rows: list[asyncpg.Record]
        if self._rlock.locked():
            rows = await self._pool.fetch(sql, *args)
            return rows
        async with self._rlock:
            if self._rconn is None or self._rconn.is_closed():  # first use, or the server dropped it: reconnect
                self._rconn = await asyncpg.connect(self.dsn)
            rows = await self._rconn.fetch(sql, *args)
            return rows

    async def append(self, leaves: Sequence[LeafRow], nodes: Sequence[StoredNode]) -> None:
        conn, appends = self._conn(), group(nodes)
        grown = [a for a in appends if a.slot]
        added = [a for a in appends if not a.slot]
        async with self._wlock, conn.transaction():
            await conn.copy_records_to_table(
                "leaves",
                schema_name=self.schema,
                columns=("idx", "tag_key", "data"),
                records=[(r.index, r.tag_key, r.data) for r in leaves],
            )
            if grown:
                await self._grow(conn, grown)
            if added:
                columns = ([a.tile[0] for a in added], [a.tile[1] for a in added], [a.data for a in added])
                await conn.execute(_ADD.format(s=self.schema), *columns)
        self.cache.extend(appends)  # committed: from now on these hashes are durably stored

    async def _grow(self, conn: asyncpg.Connection, grown: list[TileAppend]) -> None:
        """Concatenate to the right-edge tiles, each only if it has exactly the length this batch extends."""
        status = await conn.execute(
            _GROW.format(s=self.schema),
            [a.tile[0] for a in grown],
            [a.tile[1] for a in grown],
            [a.slot * HASH_SIZE for a in grown],
            [a.data for a in grown],
        )
        if status != f"UPDATE {len(grown)}":
            raise LedgerError("stored tiles are not the length this batch extends: the log changed under its writer")

    async def save_checkpoint(self, size: int, note: str) -> None:
        sql = f"INSERT INTO {self.schema}.checkpoints (size, note, created_at) VALUES ($1, $2, $3)"
        async with self._wlock:
            await self._conn().execute(sql, size, note, time.time())

    async def size(self) -> int:
        sql = "SELECT idx, length(hashes) AS n FROM {s}.tiles WHERE level = 0 ORDER BY idx DESC LIMIT 1"
        rows = await self._fetch(sql)
        return recorded_size((int(rows[0]["idx"]), int(rows[0]["n"])) if rows else None)

    async def leaves(self, start: int, end: int) -> list[tuple[int, bytes]]:
        rows = await self._fetch(
            "SELECT idx, data FROM {s}.leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx", start, end
        )
        return [(int(r["idx"]), bytes(r["data"])) for r in rows]

    async def nodes(self, coords: Iterable[Coord]) -> dict[Coord, bytes]:
        return await self.cache.read(coords, self._tiles)

    async def _tiles(self, wanted: list[Tile]) -> dict[Tile, bytes]:
        found: dict[Tile, bytes] = {}
        for start in range(0, len(wanted), _MAX_TILES):
            chunk = wanted[start : start + _MAX_TILES]
            chunk += chunk[-1:] * ((1 << (len(chunk) - 1).bit_length()) - len(chunk))  # a power of two: 9 statements
            pairs = ", ".join(f"(${2 * n + 1}::smallint, ${2 * n + 2}::bigint)" for n in range(len(chunk)))
            sql = "SELECT level, idx, hashes FROM {s}.tiles WHERE (level, idx) IN (" + pairs + ")"
            for r in await self._fetch(sql, *(v for tile in chunk for v in tile)):
                found[(int(r["level"]), int(r["idx"]))] = bytes(r["hashes"])
        return found

    async def find(self, tag_key: bytes) -> list[int]:
        rows = await self._fetch("SELECT idx FROM {s}.leaves WHERE tag_key = $1 ORDER BY idx", tag_key)
        return [int(r["idx"]) for r in rows]

    async def checkpoints(self) -> list[tuple[int, str]]:
        rows = await self._fetch("SELECT size, note FROM {s}.checkpoints ORDER BY size")
        return [(int(r["size"]), str(r["note"])) for r in rows]

    async def latest_checkpoint(self) -> tuple[int, str] | None:
        rows = await self._fetch("SELECT size, note FROM {s}.checkpoints ORDER BY size DESC LIMIT 1")
        return (int(rows[0]["size"]), str(rows[0]["note"])) if rows else None
