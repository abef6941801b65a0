"""The top of a region's tree in memory, so that a proof reads at most one query of four small tiles from its store.

**What is kept.** Every tile (:mod:`regiongate.ledger.tiles`) of tile level 2 and up, that is every hash of tree
level 8 and up: about ``2n / 256`` hashes for ``n`` leaves, 283 KiB at a million leaves with Python's object
overheads (0.45 % of the 61 MiB of hashes the store holds), loaded at open with one query. The nodes a proof needs
below level 8 lie in the two tiles on the leaf's path (levels 0-3 and 4-7) and, for the ephemeral right edge, in
the two tiles at the end of the proven tree: one indexed read of at most four ~1 KB rows, whatever the tree's size.
Keeping levels 4 to 7 too would hold 16 times as much (4.5 MiB at a million leaves) and still leave a read for
the leaf's own tile; keeping less would add a row to read per four levels given up.

**Why it can never put an unstored hash in a proof.** A hash enters the cache only from the store: the writer adds
a batch's tiles after its transaction has committed (:meth:`TileCache.extend`), and every tile read from the store,
in any process, is offered to it. Perfect-subtree hashes never change and a tile only grows by appends, so a cached
slot always holds the hash that is durably stored in that slot. A tile held too short for a wanted node (a reader
in another process while the writer appends) is simply read again and the longer copy kept: that is how a
read-only store catches up. What size a proof is for is the caller's choice; the ledger only asks for sizes it has
committed and signed.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence

from regiongate.ledger.merkle import HASH_SIZE
from regiongate.ledger.tiles import Tile, TileAppend, locate

CACHED_LEVEL = 2  # tile levels kept: 2 and up (tree levels 8 and up)
NOTHING = 64  # a tile level (tree level 256) no tree reaches: a cache that keeps nothing (reference reads, tests)

Coord = tuple[int, int]
FetchTiles = Callable[[list[Tile]], Awaitable[dict[Tile, bytes]]]


class TileCache:
    """Stored tiles of tile level ``from_level`` and up, by (tile level, tile index). Event-loop use only."""

    __slots__ = ("_tiles", "from_level")

    def __init__(self, from_level: int = CACHED_LEVEL) -> None:
        self.from_level = from_level
        self._tiles: dict[Tile, bytes] = {}

    def __len__(self) -> int:
        return len(self._tiles)

    @property
    def nbytes(self) -> int:
        """Memory held, Python object overheads included."""
        keys = sum(sys.getsizeof(k) + sys.getsizeof(k[1]) for k in self._tiles)
        return sys.getsizeof(self._tiles) + keys + sum(sys.getsizeof(b) for b in self._tiles.values())

    def offer(self, tile: Tile, blob: bytes) -> None:
        """A tile as read from the store: kept if it is cached at all and longer than the copy held."""
        if tile[0] >= self.from_level and len(blob) > len(self._tiles.get(tile, b"")):
            self._tiles[tile] = blob

    def load(self, rows: Iterable[tuple[Tile, bytes]]) -> None:
        for tile, blob in rows:
            self.offer(tile, blob)

    def extend(self, appends: Sequence[TileAppend]) -> None:
        """What a committed batch appended. A tile not held up to the append's slot is left to be read on demand."""
        for append in appends:
            if append.tile[0] < self.from_level:
                continue
            held = self._tiles.get(append.tile, b"")
            if len(held) == append.slot * HASH_SIZE:
                self._tiles[append.tile] = held + append.data

    async def read(self, coords: Iterable[Coord], fetch: FetchTiles) -> dict[Coord, bytes]:
        """The stored nodes among ``coords``: from memory where held, else from the tiles ``fetch`` reads at once."""
        held = self._tiles
        wanted: list[tuple[Coord, Tile, int]] = []
        short: dict[Tile, None] = {}  # tiles to read, in first-wanted order
        for coord in coords:
            tile, slot = locate(*coord)
            wanted.append((coord, tile, slot * HASH_SIZE))
            blob = held.get(tile)
            if blob is None or len(blob) <= slot * HASH_SIZE:
                short[tile] = None
        fetched = await fetch(list(short)) if short else {}
        for tile, blob in fetched.items():
            self.offer(tile, blob)
        found: dict[Coord, bytes] = {}
        for coord, tile, start in wanted:
            blob = fetched.get(tile) or held.get(tile)
            if blob is not None and len(blob) >= start + HASH_SIZE:
                found[coord] = blob[start : start + HASH_SIZE]
        return found
