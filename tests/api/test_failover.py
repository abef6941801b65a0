"""Failures inside the compliant set: retried within it, never beyond it; exhausted means 503."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import openai
import pytest

from regiongate.backends.fake import Behaviour
from tests.api.conftest import KEYS, World

CHAT = {"model": "qwen3-omni", "messages": [{"role": "user", "content": "hello there"}]}
DE_BANK = {"fra-3-h200", "par-1-cpu"}


async def chat(world: World, gateway: str, tenant: str, **extra: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {"Authorization": f"Bearer {KEYS[tenant]}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(world.gateways[gateway] + "/chat/completions", json={**CHAT, **extra}, headers=headers) as r,
    ):
        return r.status, dict(r.headers), await r.read()


def outside(world: World, allowed: set[str]) -> int:
    return sum(n for bid, n in world.requests_by_backend().items() if bid not in allowed)


@pytest.mark.parametrize(
    "broken",
    [
        Behaviour(mode="fail", status=500),
        Behaviour(mode="fail", status=503),
        Behaviour(mode="fail", status=429),
        Behaviour(mode="drop"),
        Behaviour(mode="garbage"),
        Behaviour(mode="hang"),
    ],
    ids=["500", "503", "429", "drop", "garbage", "hang"],
)
async def test_failed_attempt_is_retried_on_another_compliant_backend(world: World, broken: Behaviour) -> None:
    await world.start_gateway("gw-fra3")
    world.fakes["fra-3-h200"].behaviour = broken
    for stream in (False, True):
        status, headers, body = await chat(world, "gw-fra3", "de-bank", stream=stream)
        assert status == 200, body
        assert headers["X-Regiongate-Backend"] == "par-1-cpu"
    assert outside(world, DE_BANK) == 0


async def test_exhausted_set_is_503_and_never_wider(world: World) -> None:
    await world.start_gateway("gw-fra3")
    for bid in DE_BANK:
        world.fakes[bid].behaviour = Behaviour(mode="fail", status=500)
    status, headers, body = await chat(world, "gw-fra3", "de-bank")
    assert status == 503
    assert b"no_compliant_capacity" in body
    assert int(headers["Retry-After"]) >= 1
    assert outside(world, DE_BANK) == 0
    # The breakers open (threshold 2): later requests are refused without touching any backend at all.
    await chat(world, "gw-fra3", "de-bank")
    before = world.requests_by_backend()
    for _ in range(3):
        status, _, body = await chat(world, "gw-fra3", "de-bank")
        assert status == 503
        assert b"circuit open" in body
    assert world.requests_by_backend() == before


async def test_all_health_checks_failing_empties_the_set(world: World) -> None:
    await world.start_gateway("gw-gru")
    runtime = world.runtimes["gw-gru"]
    await world.fakes["gru-1-ppu"].stop()
    await runtime.probe_all()
    assert not runtime.router.slots["gru-1-ppu"].healthy
    status, _, body = await chat(world, "gw-gru", "br-fintech")
    assert status == 503
    assert b"failing health checks" in body
    assert sum(world.requests_by_backend().values()) == 0


async def test_mid_stream_drop_ends_with_an_error_event(world: World) -> None:
    await world.start_gateway("gw-par")
    world.fakes["par-1-cpu"].behaviour = Behaviour(mode="drop_mid_stream", after_chunks=2)
    sdk = openai.AsyncOpenAI(base_url=world.gateways["gw-par"], api_key=KEYS["eu-ministry"], max_retries=0)
    async with sdk:
        stream = await sdk.chat.completions.create(
            model="qwen3-omni", messages=[{"role": "user", "content": "a b c d e f"}], stream=True
        )
        with pytest.raises(openai.APIError, match="dropped the connection"):
            async for _ in stream:
                pass
    assert world.sinks["gw-par"].records[-1].reason == "upstream_error"


async def test_concurrency_limit_is_honoured(world: World) -> None:
    await world.start_gateway("gw-par")
    runtime = world.runtimes["gw-par"]
    slot = runtime.router.slots["par-1-cpu"]
    slot.max_concurrency = 2
    world.fakes["par-1-cpu"].behaviour = Behaviour(delay=0.3)
    results = await asyncio.gather(*(chat(world, "gw-par", "eu-ministry") for _ in range(4)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 200, 503, 503]
    assert world.fakes["par-1-cpu"].requests == 2
    assert slot.in_flight == 0


async def test_every_request_leaves_one_decision_record(world: World) -> None:
    await world.start_gateway("gw-fra3")
    await chat(world, "gw-fra3", "de-bank")
    await chat(world, "gw-fra3", "de-bank", stream=True)
    await chat(world, "gw-fra3", "eu-ministry")  # 421
    await chat(world, "gw-fra3", "de-bank", model="nope")  # 404
    records = world.sinks["gw-fra3"].records
    assert [r.status for r in records] == [200, 200, 421, 404]
    assert [r.outcome for r in records] == ["routed", "routed", "refused", "refused"]
    assert records[2].reason == "gateway_not_compliant"
    assert records[3].reason == "model_not_found"
    assert records[2].tenant_hash  # a refusal at the gateway check is still attributed to its (hashed) tenant
    assert records[2].policy_hash
    assert all(r.backend in DE_BANK for r in records[:2])
    assert len({r.request_id for r in records}) == 4
    assert "de-bank" not in records[0].tenant_hash
    assert len(records[0].tenant_hash) == 64
    assert records[0].policy_hash
    assert records[0].policy_hash == records[1].policy_hash
    assert records[0].modalities == ("text",)
