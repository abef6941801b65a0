"""Tile geometry and the in-memory frontier, against the reference accumulator (pure: no store)."""

from __future__ import annotations

import random

import pytest

from regiongate.ledger.merkle import HASH_SIZE, MerkleAccumulator, StoredNode, completed_nodes, leaf_hash
from regiongate.ledger.store import Frontier, peak_coords
from regiongate.ledger.tilecache import TileCache
from regiongate.ledger.tiles import SLOTS, WIDTH, TileAppend, group, locate, recorded_size


def _tree(size: int) -> tuple[MerkleAccumulator, list[StoredNode]]:
    acc, nodes = MerkleAccumulator(), []
    for i in range(size):
        nodes += acc.append(f"leaf {i}".encode())
    return acc, nodes


def hash_at(blob: bytes | None, slot: int) -> bytes | None:
    end = (slot + 1) * HASH_SIZE
    return None if blob is None or len(blob) < end else blob[end - HASH_SIZE : end]


def _tiles(nodes: list[StoredNode]) -> dict[tuple[int, int], bytes]:
    return {a.tile: a.data for a in group(nodes)}


def test_every_node_has_its_own_slot_filled_in_completion_order() -> None:
    _, nodes = _tree(3 * 4096 + 517)
    filled: dict[tuple[int, int], int] = {}
    for node in nodes:
        tile, slot = locate(node.level, node.index)
        assert 0 <= slot < SLOTS
        assert slot == filled.get(tile, 0), (node, tile)  # the next free slot of its tile: tiles only grow
        filled[tile] = slot + 1
    assert all(count == SLOTS for (level, index), count in filled.items() if (index + 1) << (4 * level + 4) <= 3 * 4096)


def test_tiles_hold_every_node_and_give_it_back() -> None:
    acc, nodes = _tree(5000)
    tiles = _tiles(nodes)
    for node in nodes:
        tile, slot = locate(node.level, node.index)
        assert hash_at(tiles[tile], slot) == node.hash == acc.node(node.level, node.index)
    assert hash_at(tiles[(0, 0)], SLOTS) is None
    assert hash_at(None, 0) is None


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 16, 100, 4096])
def test_batches_of_appends_concatenate_to_the_same_tiles(batch: int) -> None:
    _, nodes = _tree(1000)
    whole = _tiles(nodes)
    built: dict[tuple[int, int], bytes] = {}
    frontier, start = Frontier(), 0
    while start < 1000:
        leaves = [leaf_hash(b"leaf %d" % i) for i in range(start, min(1000, start + batch))]
        created = [n for leaf in leaves for n in frontier.append(leaf)]
        for append in group(created):
            held = built.get(append.tile, b"")
            assert len(held) == append.slot * HASH_SIZE  # each append continues its tile exactly where it stopped
            built[append.tile] = held + append.data
        start += batch
    assert built == whole


def test_nodes_out_of_order_are_refused() -> None:
    _, nodes = _tree(40)
    with pytest.raises(ValueError, match="consecutive slots"):
        group([nodes[0], nodes[2]])  # leaf 0, then (leaf 1 missing) leaf 1's parent
    with pytest.raises(ValueError, match="consecutive slots"):
        group(nodes[:3] + nodes[4:9])


def test_recorded_size_from_the_last_bottom_tile() -> None:
    for size in range(1, 3 * WIDTH + 2):
        _, nodes = _tree(size)
        tiles = _tiles(nodes)
        last = max(index for level, index in tiles if level == 0)
        assert recorded_size((last, len(tiles[(0, last)]))) == size
    assert recorded_size(None) == 0


def test_the_frontier_completes_what_the_reference_completes() -> None:
    acc, frontier = MerkleAccumulator(), Frontier()
    for i in range(600):
        leaf = leaf_hash(b"%d" % i)
        assert frontier.append(leaf) == completed_nodes(acc.size, leaf, acc) == acc.append_hash(leaf)
        assert frontier.root() == acc.root()
        for level, index in peak_coords(frontier.size):
            assert frontier.node(level, index) == acc.node(level, index)
    with pytest.raises(LookupError):
        frontier.node(0, 0)  # inside the tree, not on its right edge
    with pytest.raises(ValueError, match="32 bytes"):
        frontier.append(b"short")


def test_a_frontier_reloads_from_its_peaks() -> None:
    acc, _ = _tree(1234)
    peaks = {c: acc.node(*c) for c in peak_coords(1234)}
    frontier = Frontier(1234, peaks)
    assert frontier.root() == acc.root()
    assert frontier.append(leaf_hash(b"next")) == acc.append_hash(leaf_hash(b"next"))
    with pytest.raises(LookupError, match="lacks"):
        Frontier(1234, dict(list(peaks.items())[1:]))


async def test_the_cache_keeps_the_top_levels_and_only_what_continues_them() -> None:
    acc, nodes = _tree(20_000)
    cache = TileCache()
    rng, start = random.Random(5), 0
    while start < len(nodes):  # the same nodes, in random batches, as committed appends
        end = start + rng.randrange(1, 400)
        cache.extend(group(nodes[start:end]))
        start = end
    fetched: list[list[tuple[int, int]]] = []

    async def fetch(wanted: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        fetched.append(wanted)
        return {}

    top = [(n.level, n.index) for n in nodes if n.level >= 8]
    assert await cache.read(top, fetch) == {c: acc.node(*c) for c in top}
    assert not fetched  # levels 8 and up: all in memory
    assert await cache.read([(7, 0), (0, 5)], fetch) == {}
    assert fetched == [[(1, 0), (0, 0)]]  # below: one read of the tiles holding them
    assert len(cache) == sum(1 for level, _ in _tiles(nodes) if level >= 2)
    assert cache.nbytes < 2 * 20_000 * HASH_SIZE / 100  # under 1 % of the tree's hashes, overheads included
    cache.extend([TileAppend((2, 999), 3, bytes(32))])  # does not continue what it holds: left to be read on demand
    cache.offer((1, 0), bytes(64))  # below the cached levels
    assert len(cache) == sum(1 for level, _ in _tiles(nodes) if level >= 2)
