"""Receipts from a running gateway verify offline with only the region's public key, and only their tenant gets them."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from regiongate.backends.fake import Behaviour
from regiongate.cli import main
from regiongate.ledger.keys import read_verifier
from regiongate.ledger.leaves import DecisionLeaf, OutcomeLeaf
from regiongate.ledger.verify import verify_receipt
from tests.ledger.live import KEYS, LedgerWorld, ledger_world

__all__ = ["ledger_world"]
HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello there"}]


def sdk(world: LedgerWorld, gateway: str, tenant: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=world.gateways[gateway], api_key=KEYS[tenant], max_retries=0)


async def _key(world: LedgerWorld, gateway: str) -> str:
    status, body, _ = await world.get(gateway, "/ledger/key")
    assert status == 200
    return body.decode().strip()


def _verify_cli(tmp: Path, receipt: bytes, key: str, body: bytes | None = None) -> int:
    path = tmp / "receipt.json"
    path.write_bytes(receipt)
    args = ["verify", str(path), "--key", key]
    if body is not None:
        (tmp / "body").write_bytes(body)
        args += ["--body", str(tmp / "body")]
    return main(args)


async def test_answered_request_receipt_verifies_offline(ledger_world: LedgerWorld, tmp_path: Path) -> None:
    await ledger_world.start_gateway("gw-fra3")
    async with sdk(ledger_world, "gw-fra3", "de-bank") as client:
        raw = await client.chat.completions.with_raw_response.create(model="qwen3-omni", messages=HELLO)
    request_id = raw.headers["x-regiongate-receipt"]
    assert request_id == raw.headers["x-regiongate-request-id"]
    receipt = await ledger_world.receipt("gw-fra3", request_id, "de-bank")
    key = await _key(ledger_world, "gw-fra3")
    assert _verify_cli(tmp_path, receipt, key, body=raw.http_response.content) == 0
    verified = verify_receipt(receipt, read_verifier(key))
    decision, outcome = (leaf for _, leaf in verified.leaves)
    assert isinstance(decision, DecisionLeaf)
    assert isinstance(outcome, OutcomeLeaf)
    backend = ledger_world.topology.backends[raw.headers["x-regiongate-backend"]]
    dc = ledger_world.topology.datacenters[backend.datacenter]
    assert (decision.backend, decision.datacenter, decision.country, decision.operators) == (
        backend.id, dc.id, dc.country, dc.parties
    )  # fmt: skip
    usage = raw.parse().usage
    assert usage is not None
    assert (outcome.status, outcome.prompt_tokens, outcome.completion_tokens) == (
        200, usage.prompt_tokens, usage.completion_tokens
    )  # fmt: skip
    assert b"hello there" not in receipt  # no content, only tags


async def test_streamed_answer_and_its_exact_bytes(ledger_world: LedgerWorld, tmp_path: Path) -> None:
    url = await ledger_world.start_gateway("gw-par")
    body = {"model": "qwen3-omni", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}
    headers = {"Authorization": f"Bearer {KEYS['eu-ministry']}"}
    async with aiohttp.ClientSession() as session, session.post(f"{url}/chat/completions", json=body,
                                                                headers=headers) as resp:  # fmt: skip
        streamed = await resp.read()
        request_id = resp.headers["x-regiongate-receipt"]
    receipt = await ledger_world.receipt("gw-par", request_id, "eu-ministry")
    key = await _key(ledger_world, "gw-par")
    assert _verify_cli(tmp_path, receipt, key, body=streamed) == 0
    assert _verify_cli(tmp_path, receipt, key, body=streamed[:-1]) == 1  # not the bytes that were sent
    outcome = verify_receipt(receipt, read_verifier(key)).outcome
    assert outcome.completion_tokens == 3


async def test_retry_elsewhere_is_a_second_decision(ledger_world: LedgerWorld) -> None:
    await ledger_world.start_gateway("gw-fra3")
    async with sdk(ledger_world, "gw-fra3", "de-bank") as client:
        first = await client.chat.completions.with_raw_response.create(model="qwen3-omni", messages=HELLO)
        preferred = first.headers["x-regiongate-backend"]  # idle backends: the larger one is chosen first
        ledger_world.fakes[preferred].behaviour = Behaviour(mode="fail", status=500, times=1)
        raw = await client.chat.completions.with_raw_response.create(model="qwen3-omni", messages=HELLO)
    receipt = await ledger_world.receipt("gw-fra3", raw.headers["x-regiongate-receipt"], "de-bank")
    leaves = [leaf["leaf"] for leaf in json.loads(receipt)["leaves"]]
    assert [(x["kind"], x.get("attempt")) for x in leaves] == [("decision", 0), ("decision", 1), ("outcome", None)]
    assert leaves[1]["backend"] == raw.headers["x-regiongate-backend"] != leaves[0]["backend"]
    assert leaves[2]["attempts"] == 2


async def test_refusals_are_logged_and_receipted(ledger_world: LedgerWorld, tmp_path: Path) -> None:
    await ledger_world.start_gateway("gw-par")
    async with sdk(ledger_world, "gw-par", "eu-ministry") as client:
        with pytest.raises(openai.NotFoundError) as refused:
            await client.chat.completions.create(model="no-such-model", messages=HELLO)
    request_id = refused.value.response.headers["x-regiongate-receipt"]
    receipt = await ledger_world.receipt("gw-par", request_id, "eu-ministry")
    assert _verify_cli(tmp_path, receipt, await _key(ledger_world, "gw-par")) == 0
    decision, outcome = (leaf["leaf"] for leaf in json.loads(receipt)["leaves"])
    assert (decision["decision"], decision["backend"], decision["reason"]) == ("refuse", None, "model_not_found")
    assert outcome["status"] == 404


async def test_only_the_requesting_tenant_gets_the_receipt(ledger_world: LedgerWorld) -> None:
    await ledger_world.start_gateway("gw-fra3")
    async with sdk(ledger_world, "gw-fra3", "de-bank") as client:
        raw = await client.chat.completions.with_raw_response.create(model="qwen3-omni", messages=HELLO)
    request_id = raw.headers["x-regiongate-receipt"]
    status, _, _ = await ledger_world.get("gw-fra3", f"/receipts/{request_id}", "eu-retailer")
    assert status == 404
    status, _, _ = await ledger_world.get("gw-fra3", "/receipts/req_000000000000000000000000", "de-bank")
    assert status == 404
    status, _, _ = await ledger_world.get("gw-fra3", f"/receipts/{request_id}")
    assert status == 401
    status, receipt, _ = await ledger_world.get("gw-fra3", f"/receipts/{request_id}", "de-bank")
    assert status == 200
    salt = json.loads(receipt)["tenant_salt"]
    assert len(bytes.fromhex(salt)) == 32  # its own salt, derived: not the deployment's
    assert salt.encode() not in b"test-salt"


async def test_receipt_waits_for_the_checkpoint_or_says_202(ledger_world: LedgerWorld) -> None:
    await ledger_world.start_gateway("gw-par", receipt_wait=0.01)
    ledger = ledger_world.ledgers["gw-par"]
    ledger.interval = 3600.0  # the running checkpointer sleeps for an hour after its current tick
    await ledger.seal()
    async with sdk(ledger_world, "gw-par", "eu-ministry") as client:
        raw = await client.chat.completions.with_raw_response.create(model="qwen3-omni", messages=HELLO)
    await ledger_world.settle("gw-par")
    await ledger.seal()  # covers the decision leaf; the outcome leaf may not be sealed yet
    path = f"/receipts/{raw.headers['x-regiongate-receipt']}"
    status, body, headers = await ledger_world.get("gw-par", path, "eu-ministry")
    if status == 202:
        assert headers["Retry-After"] == "1"
        await ledger_world.settle("gw-par")
        await ledger.seal()
        status, body, _ = await ledger_world.get("gw-par", path, "eu-ministry")
    assert status == 200, body
