"""Stores for the ledger tests, on SQLite and on PostgreSQL (a fresh schema per test, dropped after).

PostgreSQL is expected at ``REGIONGATE_TEST_PG_DSN`` (default: 127.0.0.1:5432, database ``test``), as in CI.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import asyncpg
import pytest

from regiongate.ledger.note import NoteSigner, generate_key, parse_signer_key
from regiongate.ledger.pg_store import PostgresStore
from regiongate.ledger.sqlite_store import SqliteStore
from regiongate.ledger.store import LogStore
from tests.engine.conftest import free_port as free_port  # one helper for every test package

PG_DSN = os.environ.get("REGIONGATE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
ORIGIN = "regiongate/test-region"
SKEY, VKEY = generate_key(ORIGIN)
SIGNER: NoteSigner = parse_signer_key(SKEY)

StoreFactory = Callable[..., LogStore]
URL_LINE = re.compile(r"^    url: http://127\.0\.0\.1:\d+/v1", re.M)  # a backend's url in the example topology
# (writer=True, cache=True) -> a new, unopened store on the same log


async def drop_schema(schema: str) -> None:
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    """A factory of stores on one fresh log, on each backend in turn."""
    if request.param == "sqlite":
        path = tmp_path / "ledger.sqlite3"
        yield lambda writer=True, cache=True: SqliteStore(path, writer=writer, cache=cache)
        return
    schema = f"ledger_test_{secrets.token_hex(6)}"
    yield lambda writer=True, cache=True: PostgresStore(PG_DSN, schema, writer=writer, cache=cache)
    await drop_schema(schema)


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[LogStore]:
    s = make_store()
    await s.open()
    try:
        yield s
    finally:
        await s.close()
