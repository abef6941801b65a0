"""Tampering of every kind is caught: `ledger check` names the index, forged checkpoints and altered receipts fail."""

from __future__ import annotations

import asyncio
import base64
import json
import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from regiongate.cli import main
from regiongate.ledger.checkpoint import Checkpoint, sign_checkpoint
from regiongate.ledger.errors import LedgerError
from regiongate.ledger.leaves import DecisionLeaf, OutcomeLeaf, encode_leaf, tag, tenant_salt
from regiongate.ledger.log import Ledger
from regiongate.ledger.merkle import MerkleAccumulator, leaf_hash
from regiongate.ledger.note import generate_key, parse_signer_key, parse_verifier_key
from regiongate.ledger.pg_store import PostgresStore
from regiongate.ledger.receipts import build_receipt, encode_receipt
from regiongate.ledger.sqlite_store import SqliteStore
from regiongate.ledger.store import request_key
from regiongate.ledger.verify import verify_receipt
from tests.ledger.conftest import ORIGIN, PG_DSN, SIGNER, VKEY, drop_schema
from tests.ledger.tiles_sql import replace_tree

SALT = tenant_salt(b"deployment", "tenant-a")
REQUEST = "req_0123456789abcdef01234567"


def _leaf(n: int) -> bytes:
    return f'{{"leaf":{n}}}'.encode()


async def _fill(ledger: Ledger, start: int, end: int) -> None:
    await asyncio.gather(*(ledger.append(_leaf(n), request_key("00" * 32, "")) for n in range(start, end)))
    await ledger.seal()


async def _sqlite_log(tmp: Path) -> Path:
    path = tmp / "log.sqlite3"
    ledger = await Ledger.open(SqliteStore(path), SIGNER, interval=3600)
    await _fill(ledger, 0, 10)
    await _fill(ledger, 10, 20)
    await ledger.close()
    return path


async def _check(capsys: pytest.CaptureFixture[str], *where: str) -> tuple[int, str]:
    code = await asyncio.to_thread(main, ["ledger", "check", *where, "--key", VKEY])  # it runs its own loop
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _swap(db: sqlite3.Connection, a: int, b: int) -> None:
    db.execute("UPDATE leaves SET idx = -1 WHERE idx = ?", (a,))
    db.execute("UPDATE leaves SET idx = ? WHERE idx = ?", (a, b))
    db.execute("UPDATE leaves SET idx = ? WHERE idx = -1", (b,))


def _insert_at(db: sqlite3.Connection, at: int) -> None:
    db.execute("UPDATE leaves SET idx = idx + 1000 WHERE idx >= ?", (at,))
    db.execute("UPDATE leaves SET idx = idx - 999 WHERE idx >= 1000")
    db.execute("INSERT INTO leaves (idx, tag_key, data) VALUES (?, x'00', ?)", (at, b'{"leaf":"forged"}'))


def _rewrite_tree(db: sqlite3.Connection) -> None:
    """The careful forger: edit a leaf and recompute every stored node to match (only checkpoints can tell)."""
    db.execute("UPDATE leaves SET data = ? WHERE idx = 14", (b'{"leaf":"rewritten"}',))
    tree = MerkleAccumulator()
    nodes = []
    for (data,) in db.execute("SELECT data FROM leaves ORDER BY idx").fetchall():
        nodes += tree.append(bytes(data))
    replace_tree(db, nodes)


TAMPERINGS: dict[str, tuple[Callable[[sqlite3.Connection], object], list[str]]] = {
    "edited": (lambda db: db.execute("UPDATE leaves SET data = ? WHERE idx = 7", (b'{"leaf":77}',)), ["leaf 7:"]),
    "deleted": (lambda db: db.execute("DELETE FROM leaves WHERE idx = 7"), ["leaf 7: leaf missing"]),
    "inserted": (lambda db: _insert_at(db, 7), ["leaves 7-19:", "leaf 20: leaf row beyond the recorded tree"]),
    "reordered": (lambda db: _swap(db, 3, 11), ["leaf 3:", "leaf 11:"]),
    "truncated": (lambda db: db.execute("DELETE FROM leaves WHERE idx >= 18"), ["leaves 18-19: leaf missing"]),
    "rewritten": (_rewrite_tree, ["signed root at size 20", "altered in [10, 20)"]),
}


@pytest.mark.parametrize("kind", sorted(TAMPERINGS))
async def test_ledger_check_finds_the_tampered_index(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = await _sqlite_log(tmp_path)
    code, output = await _check(capsys, "--db", str(path))
    assert code == 0
    assert "OK: 20 leaves recorded" in output
    tamper, expected = TAMPERINGS[kind]
    with sqlite3.connect(path) as db:
        tamper(db)
    code, output = await _check(capsys, "--db", str(path))
    assert code == 1, output
    for needle in expected:
        assert needle in output, output
    if kind == "rewritten":  # the stored tree no longer matches its last checkpoint: the gateway will not start
        with pytest.raises(LedgerError):
            await Ledger.open(SqliteStore(path), SIGNER, interval=3600)


async def test_forged_checkpoints_are_caught(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = await _sqlite_log(tmp_path)
    other = parse_signer_key(generate_key(ORIGIN)[0])  # same name, another key
    with sqlite3.connect(path) as db:
        note = db.execute("SELECT note FROM checkpoints WHERE size = 10").fetchone()[0]
        forged = sign_checkpoint(Checkpoint(ORIGIN, 20, bytes(32)), other)
        db.execute("UPDATE checkpoints SET note = ? WHERE size = 20", (forged,))
        altered = note.replace("\n10\n", "\n9\n")  # the text changed under the original signature
        db.execute("INSERT INTO checkpoints VALUES (9, ?, 0)", (altered,))
    code, output = await _check(capsys, "--db", str(path))
    assert code == 1
    assert "checkpoint stored at size 20 does not verify" in output
    assert "checkpoint stored at size 9 does not verify" in output


async def test_ledger_check_on_postgres(capsys: pytest.CaptureFixture[str]) -> None:
    schema = "ledger_test_check_" + random.randbytes(4).hex()
    try:
        ledger = await Ledger.open(PostgresStore(PG_DSN, schema), SIGNER, interval=3600)
        await _fill(ledger, 0, 12)
        await ledger.close()
        where = ("--dsn", PG_DSN, "--schema", schema)
        assert (await _check(capsys, *where))[0] == 0
        conn = await asyncpg.connect(PG_DSN)
        await conn.execute(f"UPDATE {schema}.leaves SET data = 'x' WHERE idx = 5")
        await conn.close()
        code, output = await _check(capsys, *where)
        assert code == 1
        assert "leaf 5:" in output
    finally:
        await drop_schema(schema)


async def _receipt(tmp_path: Path) -> bytes:
    request = tag(SALT, "request", REQUEST)
    tenant = tag(SALT, "tenant", "tenant-a")
    decision = DecisionLeaf(
        region="eu", gateway="gw", tenant=tenant, request=request, decision="route", attempt=0, backend="b",
        datacenter="dc", country="FR", operators=("op",),
        policy="p", model="m", weights=None, modalities=("text",), media=(), reason=None, at_ms=1,
    )  # fmt: skip
    outcome = OutcomeLeaf(
        region="eu", gateway="gw", tenant=tenant, request=request, status=200, reason=None, backend="b", attempts=1,
        prompt_tokens=1, completion_tokens=2,
        output=None, started_ms=1, ended_ms=2,
    )  # fmt: skip
    ledger = await Ledger.open(SqliteStore(tmp_path / "r.sqlite3"), SIGNER, interval=3600)
    await _fill(ledger, 0, 5)
    entries = [(await ledger.append(encode_leaf(x), request_key(request, REQUEST)), encode_leaf(x))
               for x in (decision, outcome)]  # fmt: skip
    await _fill(ledger, 5, 9)
    assert ledger.latest is not None
    built = await build_receipt(ledger, ledger.latest, entries, request_id=REQUEST, tenant="tenant-a", salt=SALT)
    await ledger.close()
    return encode_receipt(built)


async def test_a_receipt_with_any_flipped_bit_fails(tmp_path: Path) -> None:
    receipt = await _receipt(tmp_path)
    verifier = parse_verifier_key(VKEY)
    verify_receipt(receipt, verifier)
    rng = random.Random(7)
    for position in range(len(receipt)):  # every byte, one random bit of it
        flipped = bytearray(receipt)
        flipped[position] ^= 1 << rng.randrange(8)
        with pytest.raises((LedgerError, UnicodeDecodeError)):
            verify_receipt(bytes(flipped), verifier)


async def test_a_receipt_with_a_flipped_leaf_bit_fails_on_the_command_line(tmp_path: Path) -> None:
    receipt = json.loads(await _receipt(tmp_path))
    data = bytearray(base64.b64decode(receipt["leaves"][0]["data"]))
    data[10] ^= 0x01
    receipt["leaves"][0]["data"] = base64.b64encode(data).decode()
    path = tmp_path / "tampered.json"
    path.write_text(json.dumps(receipt))
    assert main(["verify", str(path), "--key", VKEY]) == 1
    other_key = generate_key(ORIGIN)[1]
    (tmp_path / "good.json").write_bytes(await _receipt(tmp_path / "again"))
    assert main(["verify", str(tmp_path / "good.json"), "--key", other_key]) == 1
    assert main(["verify", str(tmp_path / "good.json"), "--key", VKEY]) == 0


def test_leaf_hash_of_a_forged_leaf_differs() -> None:
    assert leaf_hash(_leaf(1)) != leaf_hash(_leaf(2))
