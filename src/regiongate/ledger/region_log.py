"""A gateway process's handle on its region's log: append leaves, wait for them, and serve checkpoints, the leaves
of a request and proofs.

Two kinds of handle: :class:`regiongate.ledger.log.Ledger` (the gateway process is the log's
writer) and :class:`regiongate.ledger.remote.RemoteLedger` (the region's log writer is another process; the gateway
reads the store read-only and learns of checkpoints from the writer). Proofs are only ever given for a size that
has a signed checkpoint, whose leaves are committed, so a reader in another process always finds them stored.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib

from regiongate.ledger.checkpoint import Checkpoint
from regiongate.ledger.errors import VerificationFailed
from regiongate.ledger.note import NoteVerifier
from regiongate.ledger.proof import TlogProof
from regiongate.ledger.store import LogStore, read_consistency, read_inclusion


class RegionLog(abc.ABC):
    """The handle's common part: the read side. Appending is each kind's own."""

    def __init__(self, store: LogStore, verifier: NoteVerifier) -> None:
        self.store = store
        self.verifier = verifier
        self.latest: tuple[Checkpoint, str] | None = None
        self._sealed = asyncio.Event()  # set and replaced after every new checkpoint

    @property
    def origin(self) -> str:
        return self.verifier.name

    @property
    @abc.abstractmethod
    def available(self) -> bool:
        """Whether a leaf appended now could be stored (else every request is refused: ``/healthz`` says so)."""

    @abc.abstractmethod
    def append(self, data: bytes, tag_key: bytes) -> asyncio.Future[int]:
        """Queue a leaf; the future gives its index once it is durable. Raises ``LedgerUnavailable`` (503) if the
        log cannot take it."""

    @abc.abstractmethod
    def append_nowait(self, data: bytes, tag_key: bytes) -> None:
        """Queue a leaf nobody waits for."""

    @abc.abstractmethod
    async def flush(self) -> int:
        """Wait until every leaf this process appended so far is committed; returns a committed size."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    def _announce(self, signed: tuple[Checkpoint, str]) -> None:
        self.latest = signed
        sealed, self._sealed = self._sealed, asyncio.Event()
        sealed.set()

    async def wait_sealed(self, index: int, patience: float) -> tuple[Checkpoint, str] | None:
        """The latest checkpoint once it covers leaf ``index``; None if that takes longer than ``patience`` s."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(patience):
                while self.latest is None or self.latest[0].size <= index:
                    await self._sealed.wait()
        latest = self.latest
        return latest if latest is not None and latest[0].size > index else None

    async def entries(self, tag_key: bytes) -> list[tuple[int, bytes]]:
        rows = [await self.store.leaves(i, i + 1) for i in await self.store.find(tag_key)]
        return [row for found in rows for row in found]

    async def proof(self, index: int, signed: tuple[Checkpoint, str]) -> TlogProof:
        checkpoint, note = signed
        return TlogProof(index, tuple(await read_inclusion(self.store, index, checkpoint.size)), note)

    async def consistency(self, first: int, second: int) -> list[bytes]:
        latest = self.latest
        if latest is None or not 0 <= first <= second <= latest[0].size:
            raise VerificationFailed(f"no consistency proof from {first} to {second}: sizes beyond the signed tree")
        return await read_consistency(self.store, first, second)
