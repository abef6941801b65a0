"""Both stores behind one interface: round trips, atomic batches, proofs from stored nodes, one writer per log."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regiongate.ledger.errors import LedgerError
from regiongate.ledger.merkle import MerkleAccumulator, StoredNode, leaf_hash, verify_consistency, verify_inclusion
from regiongate.ledger.store import (
    Frontier,
    LeafRow,
    LogStore,
    read_consistency,
    read_inclusion,
    read_root,
    request_key,
)
from tests.ledger.conftest import StoreFactory

TAG = "ab" * 32


def _rows(start: int, count: int, tag: str = TAG) -> list[LeafRow]:
    return [LeafRow(i, f"leaf {i}".encode(), request_key(tag, "")) for i in range(start, start + count)]


async def _append(store: LogStore, frontier: Frontier, rows: list[LeafRow]) -> list[StoredNode]:
    nodes = [n for r in rows for n in frontier.append(leaf_hash(r.data))]
    await store.append(rows, nodes)
    return nodes


def test_a_stamped_request_is_keyed_by_its_milliseconds_then_its_tag() -> None:
    key = request_key(TAG, "req_019ab3c4d5e6" + "0" * 20)
    assert key == bytes.fromhex("019ab3c4d5e6") + bytes.fromhex(TAG)[:10]


@given(
    st.integers(0, 2**48 - 2),
    st.integers(1, 10**6),
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32),
)
def test_keys_of_later_requests_sort_later(ms: int, gap: int, tag1: bytes, tag2: bytes) -> None:
    later = min(ms + gap, 2**48 - 1)
    first = request_key(tag1.hex(), f"req_{ms:012x}{'a' * 20}")
    second = request_key(tag2.hex(), f"req_{later:012x}{'b' * 20}")
    assert first < second  # appends land at the right edge of the index, not on random pages


@pytest.mark.parametrize("request_id", ["", "req_0123456789abcdef01234567", "req_" + "g" * 32, "REQ_" + "0" * 32])
def test_ids_without_a_stamp_are_keyed_by_the_tag_alone(request_id: str) -> None:
    assert request_key(TAG, request_id) == bytes.fromhex(TAG)[:16]


async def test_empty_store(store: LogStore) -> None:
    assert await store.size() == 0
    assert await store.leaves(0, 10) == []
    assert await store.latest_checkpoint() is None
    assert await store.checkpoints() == []
    assert await store.find(request_key(TAG, "")) == []


async def test_leaves_nodes_and_checkpoints_round_trip(store: LogStore) -> None:
    frontier = Frontier()
    nodes = await _append(store, frontier, _rows(0, 5))
    await _append(store, frontier, _rows(5, 3, tag="cd" * 32))
    assert await store.size() == 8
    assert await store.leaves(3, 6) == [(i, f"leaf {i}".encode()) for i in (3, 4, 5)]
    stored = await store.nodes([(n.level, n.index) for n in nodes])
    assert stored == {(n.level, n.index): n.hash for n in nodes}
    assert await store.find(request_key(TAG, "")) == [0, 1, 2, 3, 4]
    assert await store.find(request_key("cd" * 32, "")) == [5, 6, 7]
    await store.save_checkpoint(5, "note five\n")
    await store.save_checkpoint(8, "note eight\n")
    assert await store.checkpoints() == [(5, "note five\n"), (8, "note eight\n")]
    assert await store.latest_checkpoint() == (8, "note eight\n")


async def test_a_batch_is_all_or_nothing(store: LogStore) -> None:
    frontier = Frontier()
    await _append(store, frontier, _rows(0, 2))
    again = [*_rows(2, 2), LeafRow(0, b"duplicate index", request_key(TAG, ""))]
    with pytest.raises(Exception):  # noqa: B017, PT011 - the driver's own integrity error, whichever it is
        await store.append(again, [StoredNode(0, 2, bytes(32))])
    assert await store.size() == 2
    assert await store.leaves(0, 10) == [(0, b"leaf 0"), (1, b"leaf 1")]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 8, 100, 257])
async def test_proofs_and_roots_from_stored_nodes_match_the_reference(store: LogStore, size: int) -> None:
    frontier = Frontier()
    await _append(store, frontier, _rows(0, size))
    reference = MerkleAccumulator()
    for i in range(size):
        reference.append(f"leaf {i}".encode())
    root = reference.root()
    assert await read_root(store, size) == root == frontier.root()
    for index in {0, size // 2, size - 1}:
        proof = await read_inclusion(store, index, size)
        assert proof == reference.inclusion_proof(index)
        assert verify_inclusion(index, size, leaf_hash(f"leaf {index}".encode()), proof, root)
    for old in {1, size // 2, size - 1}:
        proof = await read_consistency(store, old, size)
        assert verify_consistency(old, size, proof, reference.root(old), root)


async def test_frontier_reloads_from_the_store(make_store: StoreFactory) -> None:
    first = make_store()
    await first.open()
    frontier = Frontier()
    await _append(first, frontier, _rows(0, 11))
    await first.close()
    second = make_store()
    await second.open()
    try:
        reloaded = await Frontier.load(second)
        assert (reloaded.size, reloaded.root()) == (11, frontier.root())
        await _append(second, reloaded, _rows(11, 6))
        assert await read_root(second, 17) == reloaded.root()
    finally:
        await second.close()


async def test_only_one_writer_per_log(make_store: StoreFactory) -> None:
    writer = make_store()
    await writer.open()
    try:
        with pytest.raises(LedgerError, match="another process"):
            await make_store().open()
        reader = make_store(writer=False)
        await reader.open()
        assert await reader.size() == 0
        await reader.close()
    finally:
        await writer.close()
    again = make_store()
    await again.open()  # the lock went with the first writer
    await again.close()
