"""The gateway as an OpenAI client sees it: the official SDK against a real server and real fake backends."""

from __future__ import annotations

import openai
import pytest

from tests.api.conftest import KEYS, World

ALLOWED = {
    "eu-ministry": {"par-1-cpu"},
    "de-bank": {"fra-3-h200", "par-1-cpu"},
    "eu-retailer": {"ams-1-mi300", "fra-1-h20", "fra-1-ppu", "fra-2-h100", "fra-3-h200", "par-1-cpu"},
}


def client(world: World, gateway: str, tenant: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=world.gateways[gateway], api_key=KEYS[tenant], max_retries=0)


async def test_chat_completion_is_routed_inside_the_compliant_set(world: World) -> None:
    await world.start_gateway("gw-fra3")
    async with client(world, "gw-fra3", "de-bank") as sdk:
        for _ in range(8):
            raw = await sdk.chat.completions.with_raw_response.create(
                model="qwen3-omni", messages=[{"role": "user", "content": "hello"}]
            )
            completion = raw.parse()
            backend = raw.headers["x-regiongate-backend"]
            assert backend in ALLOWED["de-bank"]
            assert completion.choices[0].message.content is not None
            assert f"[{backend}]" in completion.choices[0].message.content
            assert raw.headers["x-regiongate-gateway"] == "gw-fra3"
            assert raw.headers["x-regiongate-datacenter"] == world.topology.backends[backend].datacenter
            assert raw.headers["x-regiongate-region"] in {"eu-central", "eu-west"}
            assert raw.headers["x-regiongate-request-id"].startswith("req_")
    assert sum(world.fakes[b].requests for b in world.fakes if b not in ALLOWED["de-bank"]) == 0


async def test_backend_receives_its_own_model_name(world: World) -> None:
    await world.start_gateway("gw-par")
    async with client(world, "gw-par", "eu-ministry") as sdk:
        await sdk.chat.completions.create(
            model="qwen3-omni", messages=[{"role": "user", "content": "hi"}], temperature=0.3, seed=7
        )
    body = world.fakes["par-1-cpu"].last_body
    assert body["model"] == "Qwen/Qwen3-Omni-30B-A3B-Instruct"
    assert body["temperature"] == 0.3
    assert body["seed"] == 7


async def test_streaming_relays_chunks_done_and_usage(world: World) -> None:
    await world.start_gateway("gw-par")
    async with client(world, "gw-par", "eu-ministry") as sdk:
        stream = await sdk.chat.completions.create(
            model="qwen3-omni",
            messages=[{"role": "user", "content": "one two three four"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "one two three four" in text
    assert len(chunks) > 3
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


async def test_streaming_without_usage_has_no_usage_chunk(world: World) -> None:
    await world.start_gateway("gw-par")
    async with client(world, "gw-par", "eu-ministry") as sdk:
        stream = await sdk.chat.completions.create(
            model="qwen3-omni", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert all(c.usage is None for c in chunks)


async def test_embeddings(world: World) -> None:
    await world.start_gateway("gw-fra")
    async with client(world, "gw-fra", "eu-retailer") as sdk:
        result = await sdk.embeddings.create(model="qwen3-omni", input=["a", "b"])
    assert len(result.data) == 2
    assert len(result.data[0].embedding) > 0


async def test_models_lists_only_reachable_models(world: World) -> None:
    await world.start_gateway("gw-fra")
    async with client(world, "gw-fra", "eu-retailer") as sdk:
        models = await sdk.models.list()
    assert [m.id for m in models.data] == ["qwen3-omni"]


async def test_wrong_key_is_401(world: World) -> None:
    await world.start_gateway("gw-fra")
    sdk = openai.AsyncOpenAI(base_url=world.gateways["gw-fra"], api_key="rg-not-a-key", max_retries=0)
    async with sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            await sdk.models.list()
    assert caught.value.code == "invalid_api_key"


async def test_misdirected_tenant_gets_421_naming_compliant_gateways(world: World) -> None:
    await world.start_gateway("gw-fra")
    async with client(world, "gw-fra", "eu-ministry") as sdk:
        with pytest.raises(openai.APIStatusError) as caught:
            await sdk.chat.completions.create(model="qwen3-omni", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 421
    assert caught.value.code == "gateway_not_compliant"
    assert "gw-par (http://127.0.0.1:8081/v1)" in caught.value.message
    assert sum(world.requests_by_backend().values()) == 0


async def test_unknown_model_is_404_model_not_found(world: World) -> None:
    await world.start_gateway("gw-par")
    async with client(world, "gw-par", "eu-ministry") as sdk:
        with pytest.raises(openai.NotFoundError) as caught:
            await sdk.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found"
