"""Group commit: the single writer of a region's log.

``append`` never blocks: it queues the leaf and returns a future that resolves to the leaf's index once the batch
holding it is committed (durably: see the stores). One task commits batches back to back; whatever queued while a
commit was in flight forms the next batch, so under load N leaves cost one transaction, and at low load a leaf
waits for one commit only. The proxy appends a request's decision leaf when it picks a backend and awaits the
future only before the first byte goes to the client: the commit overlaps the upstream's time to first token.

Indices and nodes are computed in memory from the frontier before the write; if a write fails the in-memory tree
is ahead of the store, so the appender stops for good (every pending and later append fails) rather than guess:
the gateway then refuses to answer, which is the durability rule failing closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from regiongate.errors import ApiError
from regiongate.ledger.errors import LedgerError
from regiongate.ledger.merkle import StoredNode, leaf_hash
from regiongate.ledger.store import Frontier, LeafRow, LogStore

log = logging.getLogger("regiongate.ledger")


class LedgerUnavailable(LedgerError, ApiError):
    """The log cannot store leaves any more (a failed commit, or it is closed): answered 503, fail closed."""

    status = 503
    type = "server_error"
    code = "ledger_unavailable"


@dataclass(slots=True)
class _Pending:
    data: bytes
    tag_key: bytes
    future: asyncio.Future[int] | None  # None: nobody waits for this leaf (an outcome)


@dataclass(slots=True)
class Committed:
    size: int = 0
    root: bytes = b""
    batches: int = 0
    event: asyncio.Event = field(default_factory=asyncio.Event)  # set and replaced after every commit


def index_future() -> asyncio.Future[int]:
    """A future for a leaf's index whose failure nobody has to retrieve: a request may end before awaiting its
    decision leaf (the client left, the backend failed), and a failed log is reported once, not once per future."""
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    future.add_done_callback(_consume)
    return future


def _consume(future: asyncio.Future[int]) -> None:
    if not future.cancelled():
        future.exception()


class Appender:
    def __init__(self, store: LogStore, frontier: Frontier, *, max_batch: int = 8192) -> None:
        self._store = store
        self._frontier = frontier
        self._max_batch = max_batch
        self._pending: list[_Pending] = []
        self._wake = asyncio.Event()
        self._closing = False
        self.failure: BaseException | None = None
        self.stopped = asyncio.Event()  # set once closed or a commit failed: nothing more will ever be stored
        self.committed = Committed(frontier.size, frontier.root())
        self._task = asyncio.create_task(self._run(), name="ledger-appender")

    def append(self, data: bytes, tag_key: bytes) -> asyncio.Future[int]:
        """Queue a leaf; the future gives its index once the leaf is durable."""
        self._check_open()
        future = index_future()
        self._pending.append(_Pending(data, tag_key, future))
        self._wake.set()
        return future

    def append_run(self, leaves: list[tuple[bytes, bytes]]) -> asyncio.Future[int]:
        """Queue ``(data, tag key)`` leaves to be stored at consecutive indices; the future gives the last one's
        index once all are durable (one future for the run: the log writer appends what one read of a gateway's
        socket brought, and acknowledges it as one range)."""
        if not leaves:
            raise ValueError("an empty run of leaves")
        self._check_open()
        future = index_future()
        pending = self._pending
        pending.extend(_Pending(data, tag_key, None) for data, tag_key in leaves[:-1])
        pending.append(_Pending(leaves[-1][0], leaves[-1][1], future))
        self._wake.set()
        return future

    def append_nowait(self, data: bytes, tag_key: bytes) -> None:
        """Queue a leaf nobody waits for (it is committed in order with the rest; a failed commit is logged)."""
        self._check_open()
        self._pending.append(_Pending(data, tag_key, None))
        self._wake.set()

    def _check_open(self) -> None:
        if self.failure is not None or self._closing:
            raise LedgerUnavailable("the decision log is not accepting leaves") from self.failure

    async def flush(self) -> int:
        """Wait until everything queued so far is committed; returns the committed size."""
        target = self._frontier.size + len(self._pending)
        while self.committed.size < target:
            if self.failure is not None:
                raise LedgerUnavailable("the decision log failed") from self.failure
            await self.committed.event.wait()
        return self.committed.size

    async def close(self) -> None:
        self._closing = True
        self.stopped.set()
        self._wake.set()
        with contextlib.suppress(LedgerUnavailable):
            await self.flush()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
                try:
                    await self._commit(batch)
                except Exception as exc:  # a store failure of any kind: stop, fail everything, never guess
                    log.exception("decision log commit failed; refusing further requests")
                    self._fail(exc, batch)
                    return

    async def _commit(self, batch: list[_Pending]) -> None:
        rows: list[LeafRow] = []
        nodes: list[StoredNode] = []
        for item in batch:
            rows.append(LeafRow(self._frontier.size, item.data, item.tag_key))
            nodes.extend(self._frontier.append(leaf_hash(item.data)))
        size, root = self._frontier.size, self._frontier.root()
        await self._store.append(rows, nodes)
        done, self.committed = self.committed, Committed(size, root, self.committed.batches + 1)
        for row, item in zip(rows, batch, strict=True):
            if item.future is not None and not item.future.done():  # its request may have been cancelled
                item.future.set_result(row.index)
        done.event.set()

    def _fail(self, exc: BaseException, batch: list[_Pending]) -> None:
        self.failure = exc
        for item in [*batch, *self._pending]:
            if item.future is not None and not item.future.done():
                item.future.set_exception(LedgerUnavailable("the decision log could not store the leaf"))
        self._pending = []
        self.committed.event.set()
        self.stopped.set()
