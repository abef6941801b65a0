"""Group commit and the ledger around it: batching, durability futures, failing closed, checkpoints."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest

from regiongate.ledger.appender import Appender, LedgerUnavailable
from regiongate.ledger.checkpoint import open_checkpoint
from regiongate.ledger.errors import LedgerError
from regiongate.ledger.log import Ledger
from regiongate.ledger.merkle import MerkleAccumulator, StoredNode
from regiongate.ledger.note import parse_verifier_key
from regiongate.ledger.sqlite_store import SqliteStore
from regiongate.ledger.store import Frontier, LeafRow, LogStore, read_root, request_key
from tests.ledger.conftest import SIGNER, VKEY, StoreFactory
from tests.ledger.tiles_sql import set_node

KEY = request_key("00" * 32, "")


class CountingStore:
    """Wraps a store, counting append transactions and optionally failing them."""

    def __init__(self, inner: LogStore, fail: bool = False) -> None:
        self.inner, self.fail = inner, fail
        self.batches: list[int] = []

    async def append(self, leaves: Sequence[LeafRow], nodes: Sequence[StoredNode]) -> None:
        self.batches.append(len(leaves))
        if self.fail:
            raise OSError("disk on fire")
        await asyncio.sleep(0.01)  # a slow fsync: appends queue up behind it
        await self.inner.append(leaves, nodes)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_a_run_lands_at_consecutive_indices_even_across_batches(store: LogStore) -> None:
    counting = CountingStore(store)
    appender = Appender(counting, Frontier(), max_batch=4)  # type: ignore[arg-type]
    first = appender.append(b"before", KEY)
    run = appender.append_run([(f"run {i}".encode(), KEY) for i in range(6)])  # split over two batches
    after = appender.append(b"after", KEY)
    assert (await first, await run, await after) == (0, 6, 7)  # the run: 1..6, acknowledged by its last index
    assert counting.batches == [4, 4]
    assert [data for _, data in await store.leaves(0, 8)] == [
        b"before",
        *(f"run {i}".encode() for i in range(6)),
        b"after",
    ]
    with pytest.raises(ValueError, match="empty run"):
        appender.append_run([])
    await appender.close()


async def test_concurrent_appends_share_commits_and_resolve_in_order(store: LogStore) -> None:
    counting = CountingStore(store)
    appender = Appender(counting, Frontier())  # type: ignore[arg-type]
    futures = [appender.append(f"leaf {i}".encode(), KEY) for i in range(500)]
    await asyncio.sleep(0)
    futures += [appender.append(f"leaf {i}".encode(), KEY) for i in range(500, 1000)]
    assert await asyncio.gather(*futures) == list(range(1000))
    assert sum(counting.batches) == 1000
    assert len(counting.batches) <= 3, counting.batches  # group commit: not one transaction per leaf
    reference = MerkleAccumulator()
    for i in range(1000):
        reference.append(f"leaf {i}".encode())
    assert appender.committed.size == 1000
    assert appender.committed.root == reference.root() == await read_root(store, 1000)
    await appender.close()


async def test_a_leaf_is_durable_when_its_future_resolves(store: LogStore) -> None:
    appender = Appender(store, Frontier())
    index = await appender.append(b"decision", KEY)
    assert await store.leaves(index, index + 1) == [(0, b"decision")]
    await appender.close()


async def test_a_failed_commit_fails_closed(store: LogStore) -> None:
    appender = Appender(CountingStore(store, fail=True), Frontier())  # type: ignore[arg-type]
    pending = appender.append(b"decision", KEY)
    with pytest.raises(LedgerUnavailable):
        await pending
    with pytest.raises(LedgerUnavailable) as refused:
        appender.append(b"next", KEY)
    assert refused.value.status == 503
    await appender.close()
    assert await store.size() == 0


async def test_ledger_seals_checkpoints_only_when_grown(make_store: StoreFactory) -> None:
    ledger = await Ledger.open(make_store(), SIGNER, interval=3600)
    verifier = parse_verifier_key(VKEY)
    assert ledger.latest is not None
    assert ledger.latest[0].size == 0  # the empty tree is signed on first start
    await asyncio.gather(*(ledger.append(f"{i}".encode(), KEY) for i in range(5)))
    sealed = await ledger.seal()
    assert sealed is not None
    checkpoint, _ = open_checkpoint(sealed[1], [verifier])
    assert checkpoint.size == 5
    assert await ledger.seal() is None  # nothing new: no new checkpoint
    waited = await ledger.wait_sealed(4, 0.1)
    assert waited is not None
    assert waited[0].size == 5
    assert await ledger.wait_sealed(5, 0.05) is None
    await ledger.close()


async def test_checkpointer_runs_at_its_cadence(make_store: StoreFactory) -> None:
    ledger = await Ledger.open(make_store(), SIGNER, interval=0.05)
    await ledger.append(b"x", KEY)
    sealed = await ledger.wait_sealed(0, 2.0)
    assert sealed is not None
    assert sealed[0].size == 1
    await ledger.close()


async def test_reopening_continues_the_same_tree(make_store: StoreFactory) -> None:
    ledger = await Ledger.open(make_store(), SIGNER, interval=3600)
    await asyncio.gather(*(ledger.append(f"{i}".encode(), KEY) for i in range(7)))
    await ledger.close()  # seals the last leaves
    again = await Ledger.open(make_store(), SIGNER, interval=3600)
    assert again.latest is not None
    assert again.latest[0].size == 7
    assert await again.append(b"eighth", KEY) == 7
    await again.seal()
    proof = await again.consistency(7, 8)
    assert proof
    await again.close()


async def test_a_log_altered_while_down_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite3"
    ledger = await Ledger.open(SqliteStore(path), SIGNER, interval=3600)
    await asyncio.gather(*(ledger.append(f"{i}".encode(), KEY) for i in range(4)))
    await ledger.close()
    with sqlite3.connect(path) as db:
        set_node(db, 2, 0, bytes(32))
    with pytest.raises(LedgerError, match="does not match its last signed checkpoint"):
        await Ledger.open(SqliteStore(path), SIGNER, interval=3600)
