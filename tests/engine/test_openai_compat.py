"""The embedded engine through the official OpenAI SDK (and raw HTTP where the SDK hides the wire): a real llama.cpp
model answering, streaming, stopping, capping, refusing when full."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from openai.types.chat import ChatCompletion

from tests.engine.conftest import SERVED, EngineProcess

PROMPT = "Name three colours of the rainbow."


@pytest.fixture
async def client(engine: EngineProcess) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=engine.base_url, api_key="unused", max_retries=0, timeout=30.0) as sdk:
        yield sdk


async def ask(
    client: openai.AsyncOpenAI,
    *,
    max_tokens: int | None = None,
    max_completion_tokens: int | None = None,
    stop: list[str] | None = None,
) -> ChatCompletion:
    return await client.chat.completions.create(
        model=SERVED,
        messages=[{"role": "user", "content": PROMPT}],
        temperature=0,
        seed=7,
        max_tokens=openai.omit if max_tokens is None else max_tokens,
        max_completion_tokens=openai.omit if max_completion_tokens is None else max_completion_tokens,
        stop=openai.omit if stop is None else stop,
    )


async def test_models_lists_the_served_name(client: openai.AsyncOpenAI) -> None:
    models = await client.models.list()
    assert [m.id for m in models.data] == [SERVED]


async def test_plain_chat_answers_with_text_and_usage(client: openai.AsyncOpenAI) -> None:
    reply = await ask(client, max_tokens=40)
    choice = reply.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert len(choice.message.content.split()) >= 2
    assert choice.finish_reason in ("stop", "length")
    assert reply.model == SERVED
    assert reply.usage is not None
    assert reply.usage.prompt_tokens > 5
    assert 0 < reply.usage.completion_tokens <= 40
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


async def test_streaming_chunks_then_usage_then_done(client: openai.AsyncOpenAI, engine: EngineProcess) -> None:
    stream = await client.chat.completions.create(
        model=SERVED,
        messages=[{"role": "user", "content": PROMPT}],
        temperature=0,
        seed=7,
        max_tokens=30,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) >= 2
    reasons = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert reasons in (["stop"], ["length"])
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert 0 < last.usage.completion_tokens <= 30
    assert all(c.usage is None for c in chunks[:-1])
    plain = await ask(client, max_tokens=30)
    assert text == plain.choices[0].message.content  # greedy: the same answer, streamed or not
    # On the wire: every event is data: JSON, and the stream ends with data: [DONE].
    body = {"model": SERVED, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 5, "stream": True}
    async with aiohttp.ClientSession() as http, http.post(f"{engine.base_url}/chat/completions", json=body) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        raw = (await resp.read()).decode()
    events = [e for e in raw.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert all(json.loads(e.removeprefix("data: "))["object"] == "chat.completion.chunk" for e in events[:-1])
    assert "usage" not in json.loads(events[-2].removeprefix("data: "))  # not asked for


async def test_max_tokens_caps_the_answer(client: openai.AsyncOpenAI) -> None:
    reply = await ask(client, max_tokens=3)
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 3
    assert reply.choices[0].finish_reason == "length"
    capped = await ask(client, max_completion_tokens=2)
    assert capped.usage is not None
    assert capped.usage.completion_tokens == 2


async def test_stop_sequence_ends_the_answer_before_it(client: openai.AsyncOpenAI) -> None:
    full = (await ask(client, max_tokens=40)).choices[0].message.content or ""
    words = full.split()
    assert len(words) >= 4, full
    stop = words[2]
    cut = await ask(client, max_tokens=40, stop=[stop])
    text = cut.choices[0].message.content or ""
    assert cut.choices[0].finish_reason == "stop"
    assert stop not in text
    assert full.startswith(text)
    assert len(text) < full.index(stop) + 1


async def test_a_full_queue_is_refused_at_once_with_429(engine: EngineProcess) -> None:
    """One instance and a queue of one: of five simultaneous requests, one runs, one waits, three are refused."""
    body = {"model": SERVED, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 48, "temperature": 0}
    loop = asyncio.get_running_loop()

    async def post(http: aiohttp.ClientSession) -> tuple[int, float, str | None, dict[str, object]]:
        started = loop.time()
        async with http.post(f"{engine.base_url}/chat/completions", json=body) as resp:
            payload = await resp.json()
            return resp.status, loop.time() - started, resp.headers.get("Retry-After"), payload

    async with aiohttp.ClientSession() as http:
        results = await asyncio.gather(*(post(http) for _ in range(5)))
    statuses = sorted(status for status, *_ in results)
    assert statuses == [200, 200, 429, 429, 429]
    for status, took, retry_after, payload in results:
        if status == 429:
            assert took < 0.5  # refused at once, not after waiting
            assert retry_after == "1"
            error = payload["error"]
            assert isinstance(error, dict)
            assert error["code"] == "rate_limit_exceeded"
    assert engine.health()["busy"] == 0


async def test_the_sdk_sees_a_rate_limit_error(client: openai.AsyncOpenAI) -> None:
    results = await asyncio.gather(*(ask(client, max_tokens=64) for _ in range(4)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert len(refused) == 2, results


async def test_unknown_model_and_bad_requests_are_openai_errors(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        await client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    assert "smol" in str(missing.value)
    with pytest.raises(openai.BadRequestError) as bad:
        await client.chat.completions.create(model=SERVED, messages=[{"role": "user", "content": "hi"}], max_tokens=0)
    assert bad.value.body is not None
    assert "max_tokens" in json.dumps(bad.value.body)
    image: Any = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,"}}]}]
    with pytest.raises(openai.BadRequestError) as parts:
        await client.chat.completions.create(model=SERVED, messages=image)
    assert "messages[0].content[0].type" in json.dumps(parts.value.body)


async def test_embeddings_without_the_extra_say_how_to_get_them(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as unavailable:
        await client.embeddings.create(model="all-MiniLM-L6-v2", input="hello")
    assert unavailable.value.status_code == 501
    assert "regiongate[embeddings]" in str(unavailable.value)


async def test_a_client_that_leaves_stops_its_generation(engine: EngineProcess) -> None:
    body = {"model": SERVED, "messages": [{"role": "user", "content": "Tell a very long story."}], "stream": True}
    body |= {"max_tokens": 1500, "temperature": 0.8}
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{engine.base_url}/chat/completions", json=body)
        await resp.content.readuntil(b"\n\n")
        await resp.content.readuntil(b"\n\n")
        assert engine.health()["busy"] == 1
        resp.close()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0
    while engine.health()["busy"] != 0 and loop.time() < deadline:  # noqa: ASYNC110 - the engine's counter
        await asyncio.sleep(0.05)
    assert engine.health()["busy"] == 0
