"""A gateway process's handle on a region log written by another process (:mod:`regiongate.ledger.writer`).

Leaves go to the writer over its Unix socket, batched per turn of the event loop; each ``append`` future resolves
when the writer acknowledges the leaf, which it does only after the leaf's batch committed. Receipts and proofs
are read from the store opened read-only (SQLite's WAL and PostgreSQL both let readers beside the writer), and only
for sizes the writer has signed, so everything they need is already stored.

Fail closed: when the connection is lost, every leaf not yet acknowledged is in doubt, so every request waiting on
one gets ``503 ledger_unavailable`` and nothing is answered until a writer is reached again (retried every
``retry`` seconds; the writer must present the same log key).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from pathlib import Path
from typing import cast

from regiongate.ledger.appender import LedgerUnavailable, index_future
from regiongate.ledger.checkpoint import open_checkpoint
from regiongate.ledger.errors import LedgerError
from regiongate.ledger.note import NoteVerifier, parse_verifier_key
from regiongate.ledger.region_log import RegionLog
from regiongate.ledger.store import LogStore
from regiongate.ledger.wire import Frame, FrameReader, Kind, add_leaf_frame, parse_ack, text

log = logging.getLogger("regiongate.ledger")


class _Link(asyncio.Protocol):
    """One connection to the writer. Frames are handed to the ledger once it is attached (the ``HELLO`` that
    decides whether to attach arrives first)."""

    def __init__(self) -> None:
        self._reader = FrameReader()
        self._owner: RemoteLedger | None = None
        self._early: list[Frame] = []
        self.transport: asyncio.Transport | None = None
        self.hello: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._reader.feed(data)
            if not self.hello.done() and frames:
                first = frames.pop(0)
                if first.kind is not Kind.HELLO:
                    raise LedgerError(f"the log writer began with a {first.kind.name} frame")
                self.hello.set_result(text(first.body, "HELLO"))
            if self._owner is None:
                self._early += frames
            else:
                self._owner.received(frames)
        except LedgerError as exc:
            log.error("the region's log writer sent what it should not: %s", exc)
            self.abort()

    @property
    def lost(self) -> bool:
        return self.transport is None

    def attach(self, owner: RemoteLedger) -> None:
        self._owner, early = owner, self._early
        self._early = []
        owner.received(early)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.hello.done():
            self.hello.set_exception(LedgerUnavailable("the log writer closed the connection before its HELLO"))
        if self._owner is not None:
            self._owner.lost(self)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def _open_link(path: Path, within: float = 5.0) -> tuple[_Link, NoteVerifier]:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(within):
            _, link = await loop.create_unix_connection(_Link, str(path))
            try:
                vkey = await link.hello
            except BaseException:
                link.abort()
                raise
    except (OSError, TimeoutError) as exc:
        raise LedgerUnavailable(f"cannot reach the region's log writer at {path}: {exc}") from exc
    try:
        return link, parse_verifier_key(vkey)
    except LedgerError:
        link.abort()
        raise


class RemoteLedger(RegionLog):
    def __init__(self, store: LogStore, verifier: NoteVerifier, path: Path, *, retry: float = 1.0) -> None:
        super().__init__(store, verifier)
        self._path, self._retry = path, retry
        self._loop = asyncio.get_running_loop()
        self._link: _Link | None = None
        self._waiting: collections.deque[asyncio.Future[int] | None] = collections.deque()  # sent, not acked
        self._out = bytearray()
        self._committed = 0  # one past the highest index acknowledged
        self._flushes: list[tuple[int, asyncio.Future[int]]] = []  # (leaves still to be acked, waiter)
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing = False
        self.unreachable = asyncio.Event()  # set while no writer is connected (every append then fails closed)

    @classmethod
    async def connect(cls, path: Path, store: LogStore, origin: str, *, retry: float = 1.0) -> RemoteLedger:
        """Reach the writer of the log ``origin`` at ``path`` and open its store read-only."""
        link, verifier = await _open_link(path)
        if verifier.name != origin:
            link.abort()
            raise LedgerError(f"the log writer at {path} writes {verifier.name!r}, not this gateway's log {origin!r}")
        try:
            await store.open()
        except BaseException:
            link.abort()
            raise
        if link.lost:  # the writer went away while the store opened
            await store.close()
            raise LedgerUnavailable(f"the log writer at {path} closed the connection")
        ledger = cls(store, verifier, path, retry=retry)
        ledger._attach(link)
        return ledger

    @property
    def connected(self) -> bool:
        return self._link is not None

    @property
    def available(self) -> bool:
        return self._link is not None and not self._closing

    # -- appending ------------------------------------------------------------------------------------------------

    def append(self, data: bytes, tag_key: bytes) -> asyncio.Future[int]:
        future = index_future()
        self._queue(data, tag_key, future)
        return future

    def append_nowait(self, data: bytes, tag_key: bytes) -> None:
        self._queue(data, tag_key, None)

    def _queue(self, data: bytes, tag_key: bytes, future: asyncio.Future[int] | None) -> None:
        if self._link is None or self._closing:
            raise LedgerUnavailable("the region's log writer is not connected")
        if not self._out:
            self._loop.call_soon(self._send)  # one write per turn of the loop, whatever the number of leaves
        add_leaf_frame(self._out, tag_key, data)
        self._waiting.append(future)

    def _send(self) -> None:
        link = self._link
        if link is not None and link.transport is not None and self._out:
            link.transport.write(bytes(self._out))
        self._out.clear()

    async def flush(self) -> int:
        if not self._waiting:
            return self._committed
        if self._link is None:
            raise LedgerUnavailable("the region's log writer is not connected")
        waiter: asyncio.Future[int] = self._loop.create_future()
        self._flushes.append((len(self._waiting), waiter))
        return await waiter

    # -- what the writer says -------------------------------------------------------------------------------------

    def received(self, frames: list[Frame]) -> None:
        acked = 0
        for received in frames:
            if received.kind is Kind.ACK:
                first, count = parse_ack(received.body)
                self._ack(first, count)
                acked += count
            elif received.kind is Kind.CHECKPOINT:
                self._checkpoint(text(received.body, "CHECKPOINT"))
            else:
                raise LedgerError(f"an unexpected {received.kind.name} frame")
        if acked and self._flushes:
            self._progress(acked)

    def _ack(self, first: int, count: int) -> None:
        waiting = self._waiting
        if count > len(waiting):
            raise LedgerError(f"{count} leaves acknowledged, {len(waiting)} in doubt")
        for index in range(first, first + count):
            future = waiting.popleft()
            if future is not None and not future.done():
                future.set_result(index)
        self._committed = max(self._committed, first + count)

    def _progress(self, acked: int) -> None:
        still: list[tuple[int, asyncio.Future[int]]] = []
        for left, waiter in self._flushes:
            if left - acked > 0:
                still.append((left - acked, waiter))
            elif not waiter.done():
                waiter.set_result(self._committed)
        self._flushes = still

    def _checkpoint(self, note: str) -> None:
        checkpoint, _ = open_checkpoint(note, [self.verifier])
        if self.latest is not None and checkpoint.size < self.latest[0].size:
            raise LedgerError(f"the log writer sent a checkpoint of size {checkpoint.size} after one of a larger size")
        self._announce((checkpoint, note))

    # -- the connection -------------------------------------------------------------------------------------------

    def _attach(self, link: _Link) -> None:
        self._link = link
        self.unreachable.clear()
        link.attach(self)

    def lost(self, link: _Link) -> None:
        if link is not self._link:
            return
        self._link = None
        self.unreachable.set()
        self._out.clear()
        in_doubt, self._waiting = self._waiting, collections.deque()
        for future in in_doubt:
            if future is not None and not future.done():
                future.set_exception(LedgerUnavailable("the log writer went away before storing the decision"))
        for _, waiter in self._flushes:
            if not waiter.done():
                waiter.set_exception(LedgerUnavailable("the log writer went away"))
        self._flushes = []
        if not self._closing:
            log.error("lost the region's log writer with %d leaves in doubt; refusing requests until it is back",
                      len(in_doubt))  # fmt: skip
            self._reconnecting = asyncio.create_task(self._reconnect(), name="ledger-reconnect")

    async def _reconnect(self) -> None:
        while not self._closing:
            await asyncio.sleep(self._retry)
            try:
                link, verifier = await _open_link(self._path)
            except (LedgerUnavailable, LedgerError) as exc:
                log.warning("log writer still unreachable: %s", exc)
                continue
            if verifier.vkey != self.verifier.vkey:
                link.abort()
                log.error("the process at %s writes with another key (%s); not using it", self._path, verifier.vkey)
                continue
            if link.lost:
                continue
            self._attach(link)
            log.info("reached the region's log writer again")
            return

    async def close(self) -> None:
        with contextlib.suppress(LedgerUnavailable, TimeoutError):
            async with asyncio.timeout(5):
                await self.flush()  # the last outcomes, so their receipts can be issued
        self._closing = True
        if self._reconnecting is not None:
            self._reconnecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconnecting
        if self._link is not None:
            self._link.abort()
        await self.store.close()
