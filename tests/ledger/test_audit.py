"""Consistency proofs over HTTP and `regiongate audit`; the durability rule and failing closed, in process."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from regiongate.cli import main
from regiongate.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from regiongate.ledger.merkle import StoredNode, verify_consistency
from regiongate.ledger.store import LeafRow, LogStore
from tests.ledger.live import KEYS, LedgerWorld, ledger_world

__all__ = ["ledger_world"]
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


async def _chat(world: LedgerWorld, n: int) -> None:
    async with openai.AsyncOpenAI(base_url=world.gateways["gw-par"], api_key=KEYS["eu-ministry"]) as sdk:
        for _ in range(n):
            await sdk.chat.completions.create(model="qwen3-omni", messages=HELLO)


async def _checkpoint(world: LedgerWorld) -> tuple[int, bytes]:
    ledger = world.ledgers["gw-par"]
    await world.settle("gw-par")
    await ledger.seal()
    status, note, _ = await world.get("gw-par", "/ledger/checkpoint")
    assert status == 200
    checkpoint, _ = open_checkpoint(note, [ledger.verifier])
    return checkpoint.size, checkpoint.root_hash


async def test_consistency_endpoint_proves_append_only(ledger_world: LedgerWorld) -> None:
    await ledger_world.start_gateway("gw-par")
    await _chat(ledger_world, 3)
    first, first_root = await _checkpoint(ledger_world)
    await _chat(ledger_world, 4)
    second, second_root = await _checkpoint(ledger_world)
    assert second == first + 8  # two leaves per request
    status, body, _ = await ledger_world.get("gw-par", f"/ledger/consistency?first={first}&second={second}")
    assert status == 200
    proof = [base64.b64decode(h) for h in json.loads(body)["proof"]]
    assert verify_consistency(first, second, proof, first_root, second_root)
    for bad in (f"first={second}&second={first}", f"first=0&second={second + 100}", "first=x&second=1", ""):
        status, _, _ = await ledger_world.get("gw-par", f"/ledger/consistency?{bad}")
        assert status == 400, bad


async def test_audit_follows_checkpoints_across_runs(ledger_world: LedgerWorld, tmp_path: Path) -> None:
    await ledger_world.start_gateway("gw-par")
    key = ledger_world.ledgers["gw-par"].verifier.vkey
    state = tmp_path / "audit.json"
    args = ["audit", ledger_world.gateways["gw-par"], "--key", key, "--state", str(state), "--count", "1"]
    await _chat(ledger_world, 2)
    await _checkpoint(ledger_world)
    assert await asyncio.to_thread(main, args) == 0
    await _chat(ledger_world, 3)
    await _checkpoint(ledger_world)
    assert await asyncio.to_thread(main, [*args[:-1], "2", "--interval", "0.01"]) == 0
    # A forked history: the auditor remembers a root this log never had at that size.
    size = int(json.loads(state.read_text())["checkpoint"].split("\n")[1])
    ledger = ledger_world.ledgers["gw-par"]
    forked = sign_checkpoint(Checkpoint(ledger.origin, size, bytes(32)), ledger.signer)
    state.write_text(json.dumps({"checkpoint": forked}))
    await _chat(ledger_world, 1)
    await _checkpoint(ledger_world)
    assert await asyncio.to_thread(main, args) == 1


class _SlowStore:
    """Commits take 300 ms: long enough to see that no byte of an answer leaves before its decision is stored."""

    def __init__(self, inner: LogStore) -> None:
        self.inner = inner
        self.committed: list[float] = []

    async def append(self, leaves: Sequence[LeafRow], nodes: Sequence[StoredNode]) -> None:
        await asyncio.sleep(0.3)
        await self.inner.append(leaves, nodes)
        self.committed.append(asyncio.get_running_loop().time())

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


async def test_no_byte_before_the_decision_is_durable(ledger_world: LedgerWorld) -> None:
    await ledger_world.start_gateway("gw-par")
    appender = ledger_world.ledgers["gw-par"].appender
    slow = _SlowStore(appender._store)  # the test reaches in to slow the disk down
    appender._store = slow  # type: ignore[assignment]
    loop = asyncio.get_running_loop()
    body = {"model": "qwen3-omni", "messages": HELLO, "stream": True}
    headers = {"Authorization": f"Bearer {KEYS['eu-ministry']}"}
    async with aiohttp.ClientSession() as session:
        sent = loop.time()
        async with session.post(f"{ledger_world.gateways['gw-par']}/chat/completions", json=body,
                                headers=headers) as resp:  # fmt: skip
            first_byte = loop.time()
            await resp.read()
    assert first_byte - sent >= 0.3
    assert slow.committed
    assert slow.committed[0] <= first_byte


async def test_a_broken_log_refuses_requests_and_forwards_nothing(ledger_world: LedgerWorld) -> None:
    await ledger_world.start_gateway("gw-par")
    status, body, _ = await ledger_world.get("gw-par", "/../healthz")
    assert (status, json.loads(body)["status"]) == (200, "ok")
    await ledger_world.break_log("gw-par")
    status, body, _ = await ledger_world.get("gw-par", "/../healthz")  # a load balancer drains the gateway
    assert (status, json.loads(body)["reason"]) == (503, "ledger_unavailable")
    ledger_world.fakes["par-1-cpu"].reset()
    async with openai.AsyncOpenAI(base_url=ledger_world.gateways["gw-par"], api_key=KEYS["eu-ministry"],
                                  max_retries=0) as sdk:  # fmt: skip
        with pytest.raises(openai.InternalServerError) as refused:
            await sdk.chat.completions.create(model="qwen3-omni", messages=HELLO)
    assert refused.value.status_code == 503
    assert "ledger_unavailable" in json.dumps(refused.value.body)
    assert ledger_world.fakes["par-1-cpu"].requests == 0
