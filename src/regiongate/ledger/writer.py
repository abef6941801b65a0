"""A region's log writer as a process of its own, shared by the region's gateway processes over a Unix socket.

Why a process: the log's work (hashing the tree, the SQLite transaction, its fsync) then runs beside the gateways
instead of holding their event loop's GIL, batches grow with the number of gateways feeding one commit, and a
region keeps one log under one key however many gateway processes serve it. The signing key lives here only;
gateways get the verifier key in the ``HELLO`` and each signed checkpoint as it is sealed (:mod:`.wire`).

The writer is the same :class:`~regiongate.ledger.log.Ledger` a single gateway runs in-process (group commit,
checkpoints, the check of the stored tree against the last signed checkpoint at open). A leaf is acknowledged only
after its batch committed. If a commit fails, the ledger stops for good: every connection is closed, so every
gateway fails its requests in doubt closed, and :func:`serve_log` returns an error for the supervisor to restart
the writer (which checks the stored tree again on open).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import cast

from regiongate.errors import RegiongateError
from regiongate.ledger.appender import LedgerUnavailable
from regiongate.ledger.checkpoint import Checkpoint
from regiongate.ledger.errors import LedgerError
from regiongate.ledger.log import Ledger
from regiongate.ledger.setup import open_writer
from regiongate.ledger.wire import FrameReader, Kind, ack_frame, frame, parse_leaf
from regiongate.settings import LogSettings

log = logging.getLogger("regiongate.ledger.writer")


class _Gateway(asyncio.Protocol):
    """One gateway process's connection: its leaves in, their indices out, in order."""

    def __init__(self, service: LogWriter) -> None:
        self._service = service
        self._reader = FrameReader()
        # Runs of leaves appended, oldest first: the future of the run's last index, and its length.
        self._waiting: collections.deque[tuple[asyncio.Future[int], int]] = collections.deque()
        self._out = bytearray()  # the ACK frames to send at the end of this turn of the loop
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self._service.gateways.add(self)
        ledger = self._service.ledger
        self._transport.write(frame(Kind.HELLO, ledger.verifier.vkey.encode()))
        if ledger.latest is not None:
            self.checkpoint(ledger.latest)

    def connection_lost(self, exc: Exception | None) -> None:
        self._service.gateways.discard(self)
        self._transport = None

    def data_received(self, data: bytes) -> None:
        try:
            run: list[tuple[bytes, bytes]] = []
            for received in self._reader.feed(data):
                if received.kind is not Kind.LEAF:
                    raise LedgerError(f"a gateway sent a {received.kind.name} frame")
                tag_key, leaf = parse_leaf(received.body)
                run.append((leaf, tag_key))
            if run:
                future = self._service.ledger.append_run(run)
                self._waiting.append((future, len(run)))
                future.add_done_callback(self._committed)
        except (LedgerError, LedgerUnavailable) as exc:
            log.error("closing a gateway's connection: %s", exc)
            self.close()

    def _committed(self, _: asyncio.Future[int]) -> None:
        # Runs complete in append order (one batch after another), so the acks go out in the order sent.
        waiting, out = self._waiting, self._out
        while waiting and waiting[0][0].done():
            future, count = waiting.popleft()
            if future.cancelled() or future.exception() is not None:
                self.close()  # the commit failed: every leaf still in doubt is failed closed by the gateway
                return
            if not out:
                asyncio.get_running_loop().call_soon(self._send)
            out += ack_frame(future.result() - count + 1, count)

    def _send(self) -> None:
        if self._transport is not None and self._out:
            self._transport.write(bytes(self._out))
        self._out.clear()

    def checkpoint(self, signed: tuple[Checkpoint, str]) -> None:
        if self._transport is not None:
            self._transport.write(frame(Kind.CHECKPOINT, signed[1].encode()))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.abort()  # no more acks: whatever was not acknowledged stays in doubt, failed closed


class LogWriter:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.gateways: set[_Gateway] = set()

    async def serve(self, path: Path, *, ready: asyncio.Event | None = None) -> None:
        """Accept gateways on ``path`` (owner-only) until cancelled or until the log fails."""
        server = await _listen(path, lambda: _Gateway(self))
        relay = asyncio.create_task(self._relay_checkpoints(), name="ledger-writer-checkpoints")
        log.info("log %s: writer listening on %s", self.ledger.origin, path)
        if ready is not None:
            ready.set()
        try:
            await self._until_stopped()
        finally:
            relay.cancel()
            server.close()
            for gateway in list(self.gateways):
                gateway.close()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
            await server.wait_closed()
            _unlink(path)

    async def _relay_checkpoints(self) -> None:
        while True:
            signed = await self.ledger.next_checkpoint()
            for gateway in list(self.gateways):
                gateway.checkpoint(signed)

    async def _until_stopped(self) -> None:
        appender = self.ledger.appender
        await appender.stopped.wait()
        raise LedgerError(f"the log {self.ledger.origin} stopped accepting leaves: {appender.failure or 'closed'}")


async def _listen(path: Path, factory: Callable[[], asyncio.Protocol]) -> asyncio.AbstractServer:
    """A Unix socket only its owner can connect to. A socket file left by a writer that died is replaced: the log's
    lock (``flock`` or advisory lock), taken when the ledger opened, already proved no other writer is alive."""
    _make_parent(path)
    _unlink(path)
    old = os.umask(0o077)
    try:
        server = await asyncio.get_running_loop().create_unix_server(factory, str(path))
    finally:
        os.umask(old)
    return server


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _make_parent(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)


async def serve_log(ledger: Ledger, path: Path, *, ready: asyncio.Event | None = None) -> None:
    """Run the writer until cancelled; the ledger is closed (a last checkpoint sealed) whatever ends it."""
    try:
        await LogWriter(ledger).serve(path, ready=ready)
    finally:
        with contextlib.suppress(RegiongateError):
            await ledger.close()


async def run_writer(settings: LogSettings, region: str, path: Path) -> None:
    """``regiongate ledger serve``: the writer until SIGINT or SIGTERM (then a last checkpoint), or until the log
    fails (then :class:`LedgerError`, for a non-zero exit and a restart by the supervisor)."""
    task = asyncio.create_task(serve_log(await open_writer(settings, region, inline=True), path))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
