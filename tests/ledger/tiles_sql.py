"""Editing a SQLite log's tree behind the store's back, as a forger would (tamper tests)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from regiongate.ledger.merkle import HASH_SIZE, StoredNode
from regiongate.ledger.tiles import group, locate


def set_node(db: sqlite3.Connection, level: int, index: int, value: bytes) -> None:
    """Overwrite one stored node hash in place."""
    (tile_level, tile_index), slot = locate(level, index)
    (blob,) = db.execute("SELECT hashes FROM tiles WHERE level = ? AND idx = ?", (tile_level, tile_index)).fetchone()
    edited = bytes(blob[: slot * HASH_SIZE]) + value + bytes(blob[(slot + 1) * HASH_SIZE :])
    db.execute("UPDATE tiles SET hashes = ? WHERE level = ? AND idx = ?", (edited, tile_level, tile_index))


def replace_tree(db: sqlite3.Connection, nodes: Iterable[StoredNode]) -> None:
    """Replace every stored node with ``nodes`` (all of a tree's, in the order an appender completes them)."""
    db.execute("DELETE FROM tiles")
    db.executemany("INSERT INTO tiles VALUES (?, ?, ?)", [(*a.tile, a.data) for a in group(nodes)])
