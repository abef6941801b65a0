"""The default log store: one SQLite file per region log, in WAL mode with ``synchronous=FULL``.

FULL makes every commit fsync the WAL, so a committed batch survives a crash of the process or the machine; group
commit (:mod:`regiongate.ledger.appender`) keeps that at one fsync per batch. Writes run on one dedicated thread
with its own connection and reads on another (WAL lets readers proceed while a commit is in flight), so neither the
event loop nor a receipt ever waits on the disk behind the other. A writer takes an exclusive ``flock`` on a lock
file beside the database: a second process cannot append to the same log and corrupt its tree.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from regiongate.ledger.errors import LedgerError
from regiongate.ledger.merkle import StoredNode
from regiongate.ledger.store import Coord, LeafRow

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS leaves (idx INTEGER PRIMARY KEY, tag_key BLOB NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS leaves_tag ON leaves (tag_key);
CREATE TABLE IF NOT EXISTS nodes (
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL, created_at REAL NOT NULL);
"""
_MAX_VARS = 900  # stay under SQLite's default limit on bound parameters per statement


class SqliteStore:
    def __init__(self, path: str | Path, *, writer: bool = True) -> None:
        self.path = Path(path)
        self._writer = writer
        self._write_pool = ThreadPoolExecutor(1, thread_name_prefix=f"ledger-write:{self.path.name}")
        self._read_pool = ThreadPoolExecutor(1, thread_name_prefix=f"ledger-read:{self.path.name}")
        self._wdb: sqlite3.Connection | None = None
        self._rdb: sqlite3.Connection | None = None
        self._lock_fd: int | None = None

    # -- life cycle -----------------------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._writer:
            self._take_lock()
            self._wdb = await self._on(self._write_pool, self._connect)
        self._rdb = await self._on(self._read_pool, self._connect)

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
        return await asyncio.get_running_loop().run_in_executor(pool, fn)

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        db = self._rdb
        if db is None:
            raise LedgerError("the store is not open")
        return asyncio.get_running_loop().run_in_executor(self._read_pool, fn, db)

    # -- writing --------------------------------------------------------------------------------------------------

    async def append(self, leaves: Sequence[LeafRow], nodes: Sequence[StoredNode]) -> None:
        db = self._wdb
        if db is None:
            raise LedgerError("the store is not open for writing")
        await self._on(self._write_pool, lambda: _append(db, leaves, nodes))

    async def save_checkpoint(self, size: int, note: str) -> None:
        db = self._wdb
        if db is None:
            raise LedgerError("the store is not open for writing")
        sql = "INSERT INTO checkpoints (size, note, created_at) VALUES (?, ?, ?)"
        await self._on(self._write_pool, lambda: db.execute(sql, (size, note, time.time())))

    # -- reading --------------------------------------------------------------------------------------------------

    async def size(self) -> int:
        row = await self._read(lambda db: db.execute("SELECT MAX(idx) FROM nodes WHERE level = 0").fetchone())
        return 0 if row[0] is None else int(row[0]) + 1

    async def leaves(self, start: int, end: int) -> list[tuple[int, bytes]]:
        sql = "SELECT idx, data FROM leaves WHERE idx >= ? AND idx < ? ORDER BY idx"
        return await self._read(lambda db: [(int(i), bytes(d)) for i, d in db.execute(sql, (start, end))])

    async def nodes(self, coords: Iterable[Coord]) -> dict[Coord, bytes]:
        wanted = list(dict.fromkeys(coords))
        return await self._read(lambda db: _nodes(db, wanted))

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


def _append(db: sqlite3.Connection, leaves: Sequence[LeafRow], nodes: Sequence[StoredNode]) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(
            "INSERT INTO leaves (idx, tag_key, data) VALUES (?, ?, ?)", [(r.index, r.tag_key, r.data) for r in leaves]
        )
        db.executemany(
            "INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", [(n.level, n.index, n.hash) for n in nodes]
        )
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _nodes(db: sqlite3.Connection, wanted: list[Coord]) -> dict[Coord, bytes]:
    found: dict[Coord, bytes] = {}
    for start in range(0, len(wanted), _MAX_VARS // 2):
        chunk = wanted[start : start + _MAX_VARS // 2]
        values = ",".join(["(?, ?)"] * len(chunk))
        sql = f"WITH w(l, i) AS (VALUES {values}) SELECT level, idx, hash FROM w JOIN nodes ON level = l AND idx = i"
        for level, idx, h in db.execute(sql, [v for coord in chunk for v in coord]):
            found[(int(level), int(idx))] = bytes(h)
    return found
