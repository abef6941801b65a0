"""A plain decision sink: SQLite, written by one background thread in batches (no proofs, no durability rule).

The gateway's own log is the verifiable ledger (:mod:`regiongate.ledger.sink`); this sink keeps one unsigned row
per request for tools that only want the records (the demo's summary reads them with :func:`read_decisions`).

The event loop only puts records on a queue; a writer thread drains whatever has accumulated and commits it in one
transaction, so a burst of N requests costs one fsync, not N, and the loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from pathlib import Path

import msgspec

from regiongate.ledger.decisions import DONE, DecisionRecord, Done

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    tenant_hash TEXT NOT NULL,
    outcome TEXT NOT NULL,
    status INTEGER NOT NULL,
    backend TEXT,
    started_at REAL NOT NULL,
    record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_request ON decisions (request_id);
"""
_INSERT = (
    "INSERT INTO decisions (request_id, tenant_hash, outcome, status, backend, started_at, record)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_STOP = object()


class SqliteSink:
    def __init__(self, path: str | Path, *, max_batch: int = 1000) -> None:
        self.path = Path(path)
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[DecisionRecord | object] = queue.SimpleQueue()
        self._encoder = msgspec.json.Encoder()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"decisions:{self.path.name}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def decide(self, decision: DecisionRecord) -> Done:
        return DONE  # one row per request, written when it ends

    def record(self, decision: DecisionRecord) -> None:
        self._queue.put(decision)

    async def close(self) -> None:
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        return db

    def _run(self) -> None:
        try:
            db = self._connect()
        except sqlite3.Error as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while self._write_batch(db):
                pass
        finally:
            db.close()

    def _write_batch(self, db: sqlite3.Connection) -> bool:
        """Block for one record, take whatever else is queued, commit them together. False once stopped."""
        batch: list[DecisionRecord] = []
        item = self._queue.get()
        running = item is not _STOP
        while running and isinstance(item, DecisionRecord):
            batch.append(item)
            if len(batch) >= self._max_batch:
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            running = item is not _STOP
        if batch:
            rows = [
                (r.request_id, r.tenant_hash, r.outcome, r.status, r.backend, r.started_at, self._encoder.encode(r))
                for r in batch
            ]
            with db:
                db.execute("BEGIN")
                db.executemany(_INSERT, rows)
        return running


def read_decisions(path: str | Path) -> list[DecisionRecord]:
    """Every stored record, in the order written (for audits, the demo's summary and tests)."""
    decoder = msgspec.json.Decoder(DecisionRecord)
    with sqlite3.connect(path) as db:
        return [decoder.decode(row[0]) for row in db.execute("SELECT record FROM decisions ORDER BY seq")]
