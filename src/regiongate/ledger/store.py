"""The one small storage interface behind a region's log, and the tree arithmetic every store shares.

A store keeps three things: leaves (index, data, a short request-tag key for receipt lookup), the perfect-subtree
hashes of :mod:`regiongate.ledger.merkle` (level 0 is each leaf's hash as computed when it was appended), and the
signed checkpoints. A batch of leaves and the nodes it completed are written in one transaction, so a store is
never half-appended. Both stores keep the hashes as tiles (:mod:`regiongate.ledger.tiles`) and the top of the tree
in memory (:mod:`regiongate.ledger.tilecache`): a proof learns which nodes it needs by running once against a
recording reader, then gets them with at most one indexed read of four small rows, whatever the tree's size, and
is computed from them, never from leaves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from regiongate.ledger.merkle import (
    HASH_SIZE,
    NodeReader,
    StoredNode,
    consistency_proof,
    inclusion_proof,
    node_hash,
    tree_root,
)

Coord = tuple[int, int]  # (level, index) of a perfect subtree
TAG_KEY_BYTES = 16  # receipts are looked up by a 128-bit key (request_key); the full request tag is then compared
_STAMP_BYTES = 6


@dataclass(slots=True)
class LeafRow:  # never changed once made (not frozen: one is made per leaf appended, three times faster so)
    index: int
    data: bytes
    tag_key: bytes  # request_key(tag, request id)


_STAMPED_ID = re.compile(r"req_([0-9a-f]{12})[0-9a-f]{20}")  # the ids of api.context: Unix ms, then 80 random bits


def request_key(request_tag_hex: str, request_id: str) -> bytes:
    """Where a request's leaves are found in the log's index: the milliseconds its id starts with, then a prefix of
    its tag. Time first keeps every insert at the right edge of the index: keyed by the tag alone, each leaf landed
    on a random index page, and writing those pages out was half of the log writer's work (bench/overhead.py).
    Ids without a stamp (logs written before stamped ids, ids made by hand) are keyed by the tag alone."""
    tag = bytes.fromhex(request_tag_hex)
    stamped = _STAMPED_ID.fullmatch(request_id)
    if stamped is None:
        return tag[:TAG_KEY_BYTES]
    return bytes.fromhex(stamped[1]) + tag[: TAG_KEY_BYTES - _STAMP_BYTES]


class LogStore(Protocol):
    """One region's log. Only the single writer appends; any number of readers may read concurrently."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def size(self) -> int:
        """Leaves in the tree: the number of level-0 nodes (the leaf hashes recorded at append time)."""
        ...

    async def append(self, leaves: Sequence[LeafRow], nodes: Sequence[StoredNode]) -> None:
        """Durably store a batch and the nodes it completed, atomically (all or nothing)."""
        ...

    async def leaves(self, start: int, end: int) -> list[tuple[int, bytes]]:
        """Stored (index, data) rows with start <= index < end, in index order."""
        ...

    async def nodes(self, coords: Iterable[Coord]) -> dict[Coord, bytes]:
        """The stored hashes among ``coords`` (a node not stored is absent), in one read at most."""
        ...

    async def find(self, tag_key: bytes) -> list[int]:
        """Indices of the leaves stored under a request key, ascending."""
        ...

    async def save_checkpoint(self, size: int, note: str) -> None: ...

    async def checkpoints(self) -> list[tuple[int, str]]:
        """Every stored signed checkpoint, by size."""
        ...

    async def latest_checkpoint(self) -> tuple[int, str] | None: ...


class _Recorder:
    """A NodeReader that only notes which nodes a computation asks for (first pass of a batched read)."""

    def __init__(self) -> None:
        self.coords: list[Coord] = []

    def node(self, level: int, index: int) -> bytes:
        self.coords.append((level, index))
        return bytes(HASH_SIZE)


class MapReader:
    def __init__(self, found: dict[Coord, bytes]) -> None:
        self._found = found

    def node(self, level: int, index: int) -> bytes:
        found = self._found.get((level, index))
        if found is None:
            raise LookupError(f"node ({level}, {index}) is not stored")
        return found


Compute = Callable[[int, int, NodeReader], list[bytes]]


async def _read_needed(store: LogStore, compute: Compute, a: int, b: int) -> list[bytes]:
    """Run ``compute`` once to learn which nodes it reads, fetch them in one query, then run it for real."""
    recorder = _Recorder()
    compute(a, b, recorder)
    return compute(a, b, MapReader(await store.nodes(recorder.coords)))


async def read_inclusion(store: LogStore, index: int, size: int) -> list[bytes]:
    return await _read_needed(store, inclusion_proof, index, size)


async def read_consistency(store: LogStore, first: int, second: int) -> list[bytes]:
    return await _read_needed(store, consistency_proof, first, second)


async def read_root(store: LogStore, size: int) -> bytes:
    recorder = _Recorder()
    tree_root(size, recorder)
    return tree_root(size, MapReader(await store.nodes(recorder.coords)))


def peak_coords(size: int) -> list[Coord]:
    """The perfect subtrees of a tree of ``size`` leaves, largest first: all an appender needs to go on."""
    coords, pos = [], 0
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            coords.append((level, pos >> level))
            pos += 1 << level
    return coords


class Frontier:
    """The right edge of the tree in memory: enough to append and to compute the current root.

    The peaks (the perfect subtrees whose widths are the 1-bits of ``size``) form a stack, largest first: a new
    leaf is pushed after merging it with every peak of its width, which completes exactly the nodes
    :func:`regiongate.ledger.merkle.completed_nodes` names, in the same order (a list, not lookups by coordinate:
    this runs on the event loop for every leaf).
    """

    __slots__ = ("_peaks", "size")

    def __init__(self, size: int = 0, peaks: dict[Coord, bytes] | None = None) -> None:
        given = peaks or {}
        coords = peak_coords(size)
        missing = [c for c in coords if c not in given]
        if missing:
            raise LookupError(f"frontier of size {size} lacks nodes {missing}")
        self.size = size
        self._peaks = [given[c] for c in coords]

    @classmethod
    async def load(cls, store: LogStore) -> Frontier:
        size = await store.size()
        return cls(size, await store.nodes(peak_coords(size)))

    def node(self, level: int, index: int) -> bytes:
        if level < 0 or not self.size >> level & 1 or index != (self.size >> level) - 1:
            raise LookupError(f"node ({level}, {index}) is not on the frontier")
        return self._peaks[(self.size >> (level + 1)).bit_count()]  # one peak per 1-bit above this level

    def append(self, leaf: bytes) -> list[StoredNode]:
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
        level, index, h = 0, self.size, leaf
        created = [StoredNode(0, index, leaf)]
        while index & 1:  # a right child: its left sibling is the smallest peak, now consumed
            h = node_hash(self._peaks.pop(), h)
            level, index = level + 1, index >> 1
            created.append(StoredNode(level, index, h))
        self._peaks.append(h)
        self.size += 1
        return created

    def root(self) -> bytes:
        return tree_root(self.size, self)
