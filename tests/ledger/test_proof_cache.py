"""Proofs served through the tile cache equal uncached ones and the reference: for many sizes and indices, on both
stores, after further appends (writer and reader caches alike) and after reopening; and the cache never gets ahead of
what was committed."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest

from regiongate.ledger.errors import LedgerError
from regiongate.ledger.merkle import MerkleAccumulator, leaf_hash
from regiongate.ledger.pg_store import PostgresStore
from regiongate.ledger.sqlite_store import SqliteStore
from regiongate.ledger.store import Frontier, LeafRow, LogStore, read_consistency, read_inclusion, read_root
from tests.ledger.conftest import PG_DSN, StoreFactory, drop_schema
from tests.ledger.tiles_sql import set_node

KEY = bytes(16)
S = TypeVar("S", bound=LogStore)


@contextlib.asynccontextmanager
async def _opened(store: S) -> AsyncIterator[S]:
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def _data(i: int) -> bytes:
    return b"leaf %d" % i


async def _grow(store: LogStore, frontier: Frontier, reference: MerkleAccumulator, n: int, rng: random.Random) -> None:
    end = frontier.size + n
    while frontier.size < end:  # batches of random sizes, as group commit makes them
        stop = min(end, frontier.size + rng.randrange(1, 700))
        rows = [LeafRow(i, _data(i), KEY) for i in range(frontier.size, stop)]
        nodes = [n for r in rows for n in frontier.append(leaf_hash(r.data))]
        await store.append(rows, nodes)
        for r in rows:
            reference.append(r.data)


def _sizes(size: int, rng: random.Random) -> list[int]:
    edges = {1, 2, 3, 255, 256, 257, 4095, 4096, 4097, size - 1, size}
    return sorted({s for s in edges if 1 <= s <= size} | {rng.randrange(1, size + 1) for _ in range(30)})


async def _same(stores: list[LogStore], reference: MerkleAccumulator, rng: random.Random) -> None:
    """Every store gives the reference's roots, inclusion and consistency proofs, for many sizes and indices."""
    for size in _sizes(reference.size, rng):
        for store in stores:
            assert await read_root(store, size) == reference.root(size)
        for index in {0, size - 1, rng.randrange(size), rng.randrange(size)}:
            expected = reference.inclusion_proof(index, size)
            for store in stores:
                assert await read_inclusion(store, index, size) == expected, (type(store), index, size)
        for old in {1, size // 2, rng.randrange(1, size + 1)}:
            expected = reference.consistency_proof(old, size)
            for store in stores:
                assert await read_consistency(store, old, size) == expected, (type(store), old, size)


async def test_cached_proofs_equal_uncached_ones_through_appends_and_reopening(make_store: StoreFactory) -> None:
    rng, reference, frontier = random.Random(9162), MerkleAccumulator(), Frontier()
    writer = make_store()
    await writer.open()
    await _grow(writer, frontier, reference, 4500, rng)  # past tile levels 2 (4,096 leaves) and 3's first tile
    reader, uncached = make_store(writer=False), make_store(writer=False, cache=False)
    await reader.open()
    await uncached.open()
    try:
        await _same([writer, reader, uncached], reference, rng)
        await _grow(writer, frontier, reference, 5000, rng)  # the reader's cache is now behind: it must catch up
        await _same([writer, reader, uncached], reference, rng)
        assert len(uncached.cache) == 0  # type: ignore[attr-defined]
        assert len(reader.cache) == len(writer.cache) > 0  # type: ignore[attr-defined]
    finally:
        for store in (writer, reader, uncached):
            await store.close()
    async with _opened(make_store()) as again:  # a new process: the cache is loaded from the store
        assert (await Frontier.load(again)).root() == reference.root()
        await _same([again], reference, rng)
        await _grow(again, await Frontier.load(again), reference, 300, rng)
        await _same([again], reference, rng)


async def test_a_failed_append_leaves_the_cache_as_it_was(make_store: StoreFactory) -> None:
    rng, reference, frontier = random.Random(1), MerkleAccumulator(), Frontier()
    async with _opened(make_store()) as store:
        await _grow(store, frontier, reference, 4095, rng)  # the next leaf completes a cached node (level 12)
        held = store.cache.nbytes  # type: ignore[attr-defined]
        rows = [LeafRow(4095, _data(4095), KEY), LeafRow(0, b"duplicate index", KEY)]
        nodes = frontier.append(leaf_hash(_data(4095)))  # 13 nodes, up to (12, 0): a level-2 tile's first
        with pytest.raises(Exception):  # noqa: B017, PT011 - the driver's own integrity error, whichever it is
            await store.append(rows, nodes)
        assert store.cache.nbytes == held  # type: ignore[attr-defined]
        assert await store.size() == 4095
        with pytest.raises(LookupError):
            await read_inclusion(store, 0, 4096)  # not committed: no proof, from the cache or elsewhere
        await _same([store], reference, rng)


async def test_an_append_to_a_tile_changed_behind_the_writer_fails_whole(tmp_path: Path) -> None:
    path, rng, reference, frontier = tmp_path / "log.sqlite3", random.Random(2), MerkleAccumulator(), Frontier()
    async with _opened(SqliteStore(path)) as store:
        await _grow(store, frontier, reference, 20, rng)
        with sqlite3.connect(path) as db:  # another writer, say, shortened the open tile
            db.execute("UPDATE tiles SET hashes = substr(hashes, 1, 64) WHERE level = 0 AND idx = 1")
        rows = [LeafRow(20, _data(20), KEY)]
        with pytest.raises(LedgerError, match="not the length"):
            await store.append(rows, frontier.append(leaf_hash(_data(20))))
        assert await store.leaves(20, 21) == []  # rolled back: the leaf did not go in without its nodes


async def test_an_edited_top_node_is_what_a_reopened_store_serves(tmp_path: Path) -> None:
    """The cache is the store's own data: a reopened store sees an edit (so the ledger's start check catches it)."""
    path, rng, reference, frontier = tmp_path / "log.sqlite3", random.Random(3), MerkleAccumulator(), Frontier()
    async with _opened(SqliteStore(path)) as store:
        await _grow(store, frontier, reference, 600, rng)
    with sqlite3.connect(path) as db:
        set_node(db, 9, 0, bytes(32))
    async with _opened(SqliteStore(path)) as again:
        assert await again.nodes([(9, 0)]) == {(9, 0): bytes(32)}
        assert await read_root(again, 600) != reference.root()


async def test_a_log_without_tiles_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE nodes (level INTEGER, idx INTEGER, hash BLOB, PRIMARY KEY (level, idx))")
    with pytest.raises(LedgerError, match="node rows"):
        await SqliteStore(path).open()
    with sqlite3.connect(tmp_path / "empty.sqlite3"):
        pass
    with pytest.raises(LedgerError, match="has no tree"):
        await SqliteStore(tmp_path / "empty.sqlite3", writer=False).open()
    schema = "ledger_test_old_" + random.randbytes(4).hex()
    conn = await asyncpg.connect(PG_DSN)
    await conn.execute(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.nodes (level SMALLINT)")
    await conn.close()
    try:
        with pytest.raises(LedgerError, match="node rows"):
            await PostgresStore(PG_DSN, schema).open()
    finally:
        await drop_schema(schema)


async def test_concurrent_proofs_agree(make_store: StoreFactory) -> None:
    """Reads at once: PostgreSQL's own read connection takes one, the pool the others."""
    rng, reference, frontier = random.Random(4), MerkleAccumulator(), Frontier()
    async with _opened(make_store()) as store:
        await _grow(store, frontier, reference, 3000, rng)
        wanted = [(rng.randrange(size), size) for size in (rng.randrange(1, 3001) for _ in range(40))]
        got = await asyncio.gather(*(read_inclusion(store, i, size) for i, size in wanted))
        assert got == [reference.inclusion_proof(i, size) for i, size in wanted]
