"""The default log store: one SQLite file per region log, in WAL mode with ``synchronous=FULL``.

FULL makes every commit fsync the WAL, so a committed batch survives a crash of the process or the machine; group
commit (:mod:`regiongate.ledger.appender`) keeps that at one fsync per batch. Writes run on one dedicated thread
with its own connection and reads on another (WAL lets readers proceed while a commit is in flight), so neither the
event loop nor a receipt ever waits on the disk behind the other. A writer takes an exclusive ``flock`` on a lock
file beside the database: a second process cannot append to the same log and corrupt its tree.

A batch is a few statements whatever its size: the leaves as multi-row ``INSERT``s of up to 1,024 rows, the tree as
tiles (:mod:`regiongate.ledger.tiles`): one ``UPDATE`` concatenating to the right-edge tiles, each only if it has the
length the batch continues, and one ``INSERT`` of the new ones, a row per 16 leaves where there were two node rows
per leaf. ``sqlite3`` releases the GIL around every statement step: with ``executemany`` that was three steps per
leaf, and after each the writer thread had to win the GIL back from a busy event loop (up to 5 ms each time). Tiles
of tile level 2 and up are kept in memory (:mod:`regiongate.ledger.tilecache`), so a proof is one read of at most
four tiles.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from regiongate.ledger.errors import LedgerError
from regiongate.ledger.merkle import HASH_SIZE, StoredNode
from regiongate.ledger.store import Coord, LeafRow
from regiongate.ledger.tilecache import CACHED_LEVEL, NOTHING, TileCache
from regiongate.ledger.tiles import Tile, TileAppend, group, recorded_size

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS leaves (idx INTEGER PRIMARY KEY, tag_key BLOB NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS leaves_tag ON leaves (tag_key);
CREATE TABLE IF NOT EXISTS tiles (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hashes BLOB NOT NULL, PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL, created_at REAL NOT NULL);
"""
_MAX_ROWS = 1024  # rows per multi-row INSERT: powers of two, so 11 cached statements a table (~1.3 MB for leaves)


class SqliteStore:
    def __init__(self, path: str | Path, *, writer: bool = True, cache: bool = True, inline: bool = False) -> None:
        """``inline``: run every statement on the calling thread, blocking its event loop. Right for a process
        that does nothing but write the log (:mod:`regiongate.ledger.writer`): whatever arrives during a commit
        waits in the socket's buffer and forms the next batch, and no thread hand-off delays an acknowledgement."""
        self.path = Path(path)
        self._writer = writer
        self._inline = inline
        self.cache = TileCache(CACHED_LEVEL if cache else NOTHING)
        self._write_pool = ThreadPoolExecutor(1, thread_name_prefix=f"ledger-write:{self.path.name}")
        self._read_pool = ThreadPoolExecutor(1, thread_name_prefix=f"ledger-read:{self.path.name}")
        self._wdb: sqlite3.Connection | None = None
        self._rdb: sqlite3.Connection | None = None
        self._lock_fd: int | None = None

    # -- life cycle -----------------------------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            if self._writer:
                self._take_lock()
                self._wdb = await self._on(self._write_pool, self._connect)
            self._rdb = await self._on(self._read_pool, self._connect)
            sql = "SELECT level, idx, hashes FROM tiles WHERE level >= ?"
            rows = await self._read(lambda db: list(db.execute(sql, (self.cache.from_level,))))
        except BaseException:
            await self.close()
            raise
        self.cache.load(((int(level), int(idx)), bytes(blob)) for level, idx, blob in rows)

    def _take_lock(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LedgerError(f"another process is already appending to the log {self.path}") from None
        self._lock_fd = fd

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=10000")
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        if self._writer:
            db.executescript(SCHEMA)
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "nodes" in tables or "tiles" not in tables:
            db.close()
            why = "stores its tree as node rows (written before tiles)" if "nodes" in tables else "has no tree"
            raise LedgerError(f"{self.path} {why}: it cannot be opened as a log")
        return db

    async def close(self) -> None:
        for pool, db in ((self._write_pool, self._wdb), (self._read_pool, self._rdb)):
            if db is not None:
                await self._on(pool, db.close)
            pool.shutdown(wait=True)
        self._wdb = self._rdb = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    async def _on(self, pool: ThreadPoolExecutor, fn: Callable[[], T]) -> T:
        if self._inline:
            return fn()
        return await asyncio.get_running_loop().run_in_executor(pool, fn)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        db = self._rdb
        if db is None:
            raise LedgerError("the store is not open")
        if self._inline:
            return fn(db)
        return await asyncio.get_running_loop().run_in_executor(self._read_pool, fn, db)

    # -- writing --------------------------------------------------------------------------------------------------

    async def append(self, leaves: Sequence[LeafRow], nodes: Sequence[StoredNode]) -> None:
        db = self._wdb
        if db is None:
            raise LedgerError("the store is not open for writing")
        appends = group(nodes)
        await self._on(self._write_pool, lambda: _append(db, leaves, appends))
        self.cache.extend(appends)  # committed: from now on these hashes are durably stored

    async def save_checkpoint(self, size: int, note: str) -> None:
        db = self._wdb
        if db is None:
            raise LedgerError("the store is not open for writing")
        sql = "INSERT INTO checkpoints (size, note, created_at) VALUES (?, ?, ?)"
        await self._on(self._write_pool, lambda: db.execute(sql, (size, note, time.time())))

    # -- reading --------------------------------------------------------------------------------------------------

    async def size(self) -> int:
        sql = "SELECT idx, length(hashes) FROM tiles WHERE level = 0 ORDER BY idx DESC LIMIT 1"
        row = await self._read(lambda db: db.execute(sql).fetchone())
        return recorded_size(None if row is None else (int(row[0]), int(row[1])))

    async def leaves(self, start: int, end: int) -> list[tuple[int, bytes]]:
        sql = "SELECT idx, data FROM leaves WHERE idx >= ? AND idx < ? ORDER BY idx"
        return await self._read(lambda db: [(int(i), bytes(d)) for i, d in db.execute(sql, (start, end))])

    async def nodes(self, coords: Iterable[Coord]) -> dict[Coord, bytes]:
        return await self.cache.read(coords, self._tiles)

    async def _tiles(self, wanted: list[Tile]) -> dict[Tile, bytes]:
        return await self._read(lambda db: _tiles(db, wanted))

    async def find(self, tag_key: bytes) -> list[int]:
        sql = "SELECT idx FROM leaves WHERE tag_key = ? ORDER BY idx"
        return await self._read(lambda db: [int(r[0]) for r in db.execute(sql, (tag_key,))])

    async def checkpoints(self) -> list[tuple[int, str]]:
        sql = "SELECT size, note FROM checkpoints ORDER BY size"
        return await self._read(lambda db: [(int(s), str(n)) for s, n in db.execute(sql)])

    async def latest_checkpoint(self) -> tuple[int, str] | None:
        sql = "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1"
        row = await self._read(lambda db: db.execute(sql).fetchone())
        return None if row is None else (int(row[0]), str(row[1]))


def _append(db: sqlite3.Connection, leaves: Sequence[LeafRow], appends: Sequence[TileAppend]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        _insert(db, "leaves (idx, tag_key, data)", [(r.index, _blob(r.tag_key), _blob(r.data)) for r in leaves])
        _grow(db, [a for a in appends if a.slot])
        _insert(db, "tiles (level, idx, hashes)", [(*a.tile, _blob(a.data)) for a in appends if not a.slot])
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _blob(data: bytes) -> bytearray:
    """``data`` as sqlite3 binds it without adaptation. It binds int, float, str and bytearray as they are; any other
    type, bytes included, is first looked up for PEP 246 adaptation, which on Python 3.11 raises and clears an
    AttributeError per value (about five per request on the gateway's hot path, seen with gdb on PyErr_Format).
    The copy costs less than the exception, and the stored blob is the same."""
    return bytearray(data)


@lru_cache(maxsize=64)
def _values(rows: int, width: int) -> str:
    return ",".join(["(" + ",".join("?" * width) + ")"] * rows)


def _limit(db: sqlite3.Connection, width: int) -> int:
    """Rows of ``width`` values one statement may bind: 999 values before SQLite 3.32, 32,766 since."""
    return db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width


def _insert(db: sqlite3.Connection, into: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Rows in a few statements: chunks of powers of two (so each statement is prepared once, then cached)."""
    if not rows:
        return
    width = len(rows[0])
    most = min(_MAX_ROWS, 1 << (_limit(db, width).bit_length() - 1))
    start = 0
    while start < len(rows):
        count = min(most, 1 << ((len(rows) - start).bit_length() - 1))
        chunk = rows[start : start + count]
        db.execute(f"INSERT INTO {into} VALUES {_values(count, width)}", [v for row in chunk for v in row])
        start += count


def _grow(db: sqlite3.Connection, grown: Sequence[TileAppend]) -> None:
    """Concatenate to the right-edge tiles (one per tile level at most), each only if it has the expected length."""
    if not grown:
        return
    sql = (
        f"UPDATE tiles SET hashes = CAST(hashes || g.column4 AS BLOB) FROM (VALUES {_values(len(grown), 4)}) AS g"
        " WHERE level = g.column1 AND idx = g.column2 AND length(hashes) = g.column3"
    )
    done = db.execute(sql, [v for a in grown for v in (*a.tile, a.slot * HASH_SIZE, _blob(a.data))]).rowcount
    if done != len(grown):
        raise LedgerError("stored tiles are not the length this batch extends: the log changed under its writer")


def _tiles(db: sqlite3.Connection, wanted: list[Tile]) -> dict[Tile, bytes]:
    found: dict[Tile, bytes] = {}
    most = _limit(db, 2)
    for start in range(0, len(wanted), most):
        chunk = wanted[start : start + most]
        values = _values(len(chunk), 2)
        sql = f"WITH w(l, i) AS (VALUES {values}) SELECT level, idx, hashes FROM w JOIN tiles ON level = l AND idx = i"
        for level, idx, blob in db.execute(sql, [v for tile in chunk for v in tile]):
            found[(int(level), int(idx))] = bytes(blob)
    return found
