"""Where each perfect-subtree hash is stored: tiles of height 4, interior nodes included (pure arithmetic, no I/O).

A tile at tile level ``t``, index ``k`` holds every perfect-subtree hash of tree levels ``4t`` to ``4t + 3`` under
the node ``(4t + 4, k)``: its 16 bottom nodes ``(4t, 16k … 16k + 15)`` and their 14 ancestors, 30 hashes in all
(960 bytes), concatenated in post-order. This is C2SP tlog-tiles' grouping (their tiles have height 8 and keep only
their bottom row, rehashing the rest); keeping the interior makes any node one slice of one row, and height 4 keeps
a row small enough to live inline in a SQLite page and under PostgreSQL's TOAST threshold.

Post-order is the order in which appends complete nodes (:func:`regiongate.ledger.merkle.completed_nodes`), so a
growing tile is always a prefix of its final contents: a batch of appends concatenates bytes to at most one
existing tile per tile level (the right edge) and creates the others whole. A million leaves are ~67,000 tile rows
instead of two million node rows, and a proof's nodes below level 8 lie in at most four of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from regiongate.ledger.merkle import HASH_SIZE, StoredNode

HEIGHT = 4
WIDTH = 1 << HEIGHT  # bottom nodes per tile
SLOTS = 2 * WIDTH - 2  # hashes in a full tile

Tile = tuple[int, int]  # (tile level, tile index)


@dataclass(frozen=True, slots=True)
class TileAppend:
    """Hashes to concatenate to ``tile``, whose first one goes in ``slot`` (the tile then holds ``slot`` hashes)."""

    tile: Tile
    slot: int
    data: bytes


def slot_of(rel_level: int, rel_index: int) -> int:
    """Post-order position inside a tile of its node at (relative level, relative index).

    The subtree ends at bottom node ``m``; the nodes completed before bottom node ``m`` number ``2m - popcount(m)``
    (each node ``j`` completes itself and one parent per trailing 1-bit), then ``m`` completes ``rel_level + 1``.
    """
    last = ((rel_index + 1) << rel_level) - 1
    return 2 * last - last.bit_count() + rel_level


def locate(level: int, index: int) -> tuple[Tile, int]:
    """The tile holding node (level, index) and its slot there."""
    if level < 0 or index < 0:
        raise ValueError(f"no node at level {level}, index {index}")
    tile_level, rel = divmod(level, HEIGHT)
    tile_index = index >> (HEIGHT - rel)
    return (tile_level, tile_index), slot_of(rel, index - (tile_index << (HEIGHT - rel)))


def group(nodes: Iterable[StoredNode]) -> list[TileAppend]:
    """The tile appends that store ``nodes`` (given in completion order, as an appender produces them).

    Raises ``ValueError`` if a tile's nodes do not fill consecutive slots (checked from the first and last of each
    tile's run, which is all a run of completions can get wrong: this runs for every leaf appended).
    """
    runs: dict[Tile, list[StoredNode]] = {}
    for node in nodes:
        level, index = node.level, node.index
        tile = (level // HEIGHT, index >> (HEIGHT - level % HEIGHT))
        run = runs.get(tile)
        if run is None:
            runs[tile] = [node]
        else:
            run.append(node)
    return [_run(tile, run) for tile, run in runs.items()]


def _run(tile: Tile, run: list[StoredNode]) -> TileAppend:
    first, last = locate(run[0].level, run[0].index)[1], locate(run[-1].level, run[-1].index)[1]
    if last - first != len(run) - 1:
        raise ValueError(f"the nodes given for tile {tile} do not fill consecutive slots")
    return TileAppend(tile, first, b"".join(node.hash for node in run))


def bottom_count(slots: int) -> int:
    """How many bottom nodes the first ``slots`` slots of a tile hold."""
    return sum(1 for i in range(WIDTH) if slot_of(0, i) < slots)


def recorded_size(last: tuple[int, int] | None) -> int:
    """Leaves recorded, from the (index, length in bytes) of the last tile of tile level 0 (None: there is none)."""
    if last is None:
        return 0
    index, length = last
    return index * WIDTH + bottom_count(length // HASH_SIZE)
