"""A region's verifiable log as the gateway runs it: store, group-commit appender, signed checkpoints, proofs.

Checkpoints are sealed by one task at a steady cadence, only for committed sizes and only when the tree grew, and
each is stored before it is served. On open the stored tree is checked against the last signed checkpoint: a log
edited while the gateway was down refuses to start (``regiongate ledger check`` then says where), so a new
checkpoint can never contradict an earlier one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from regiongate.ledger.appender import Appender
from regiongate.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from regiongate.ledger.errors import LedgerError
from regiongate.ledger.note import NoteSigner
from regiongate.ledger.region_log import RegionLog
from regiongate.ledger.store import Frontier, LogStore, read_root

log = logging.getLogger("regiongate.ledger")


class Ledger(RegionLog):
    def __init__(self, store: LogStore, signer: NoteSigner, appender: Appender, interval: float) -> None:
        super().__init__(store, signer.verifier())
        self.signer = signer
        self.appender = appender
        self.interval = interval
        self._sealing = asyncio.Lock()  # the cadence task, close() and tests may seal at once: one at a time
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, store: LogStore, signer: NoteSigner, *, interval: float = 1.0) -> Ledger:
        await store.open()
        try:
            frontier = await Frontier.load(store)
            ledger = cls(store, signer, Appender(store, frontier), interval)
            ledger.latest = await ledger._check_stored()
            await ledger.seal()  # the empty tree's checkpoint on first start, so one is always served
        except BaseException:
            await store.close()
            raise
        ledger._task = asyncio.create_task(ledger._seal_forever(), name="ledger-checkpointer")
        return ledger

    async def _check_stored(self) -> tuple[Checkpoint, str] | None:
        stored = await self.store.latest_checkpoint()
        if stored is None:
            return None
        _, note = stored
        try:
            checkpoint, _ = open_checkpoint(note, [self.verifier])
        except LedgerError as exc:
            raise LedgerError(f"the log's last checkpoint does not verify with its key: {exc}") from exc
        size = self.appender.committed.size
        if checkpoint.size > size or await read_root(self.store, checkpoint.size) != checkpoint.root_hash:
            raise LedgerError(
                f"the stored log (size {size}) does not match its last signed checkpoint (size {checkpoint.size}):"
                " it was altered; run `regiongate ledger check`"
            )
        return checkpoint, note

    # -- appending and sealing ------------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        return not self.appender.stopped.is_set()

    def append(self, data: bytes, tag_key: bytes) -> asyncio.Future[int]:
        return self.appender.append(data, tag_key)

    def append_nowait(self, data: bytes, tag_key: bytes) -> None:
        self.appender.append_nowait(data, tag_key)

    def append_run(self, leaves: list[tuple[bytes, bytes]]) -> asyncio.Future[int]:
        return self.appender.append_run(leaves)

    async def flush(self) -> int:
        return await self.appender.flush()

    async def seal(self) -> tuple[Checkpoint, str] | None:
        """Sign and store a checkpoint of the committed tree if it grew since the last one."""
        async with self._sealing:
            return await self._seal()

    async def _seal(self) -> tuple[Checkpoint, str] | None:
        committed = self.appender.committed
        if self.latest is not None and committed.size <= self.latest[0].size:
            return None
        checkpoint = Checkpoint(self.origin, committed.size, committed.root)
        note = sign_checkpoint(checkpoint, self.signer)
        await self.store.save_checkpoint(checkpoint.size, note)
        self._announce((checkpoint, note))
        return checkpoint, note

    async def next_checkpoint(self) -> tuple[Checkpoint, str]:
        """Wait for the next checkpoint sealed (the log writer passes each on to its gateways)."""
        await self._sealed.wait()
        assert self.latest is not None  # set before the event is
        return self.latest

    async def _seal_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.seal()
            except Exception:  # a failed seal is retried next tick; the leaves are already durable
                log.exception("could not seal a checkpoint of %s", self.origin)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.appender.close()
        with contextlib.suppress(Exception):
            await self.seal()  # the last leaves get a checkpoint too, so their receipts can be issued later
        await self.store.close()
