"""The fake backend, seen through the official OpenAI SDK (what it must parse) and raw HTTP (how it misbehaves)."""

from __future__ import annotations

import asyncio
import math
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import msgspec
import openai
import pytest
from openai.types.chat import ChatCompletionChunk

from regiongate.backends.fake import Behaviour, FakeBackend

HELLO = "hello there general kenobi"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBackend]:
    backend = FakeBackend(name="fra-1-ppu")
    await backend.start("127.0.0.1", 0)
    yield backend
    await backend.stop()


@pytest.fixture
async def client(fake: FakeBackend) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=fake.url, api_key="sk-test", max_retries=0, timeout=5.0) as sdk:
        yield sdk


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def stream_chunks(
    client: openai.AsyncOpenAI, *, include_usage: bool = False, max_tokens: int | None = None
) -> list[ChatCompletionChunk]:
    stream = await client.chat.completions.create(
        model="qwen",
        messages=[{"role": "user", "content": HELLO}],
        stream=True,
        stream_options={"include_usage": True} if include_usage else openai.omit,
        max_tokens=max_tokens if max_tokens is not None else openai.omit,
    )
    chunks: list[ChatCompletionChunk] = []
    async with stream:
        async for chunk in stream:
            chunks.append(chunk)
    return chunks


async def sse_events(response: aiohttp.ClientResponse, into: list[bytes]) -> None:
    async for line in response.content:
        if line.startswith(b"data: "):
            into.append(line)


# --- speaking OpenAI -------------------------------------------------------------------------------------------------


async def test_chat_is_parsed_by_the_sdk(fake: FakeBackend, client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(
        model="Qwen/Qwen3-Omni",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": HELLO}],
    )
    assert reply.object == "chat.completion"
    assert reply.id.startswith("chatcmpl-")
    assert reply.model == "Qwen/Qwen3-Omni"
    assert abs(reply.created - time.time()) < 5
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == f"[fra-1-ppu] {HELLO}"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (6, 5, 11)
    assert fake.requests == 1
    assert fake.last_path == "/v1/chat/completions"
    assert fake.last_body["model"] == "Qwen/Qwen3-Omni"
    assert fake.last_headers["authorization"] == "Bearer sk-test"


async def test_ids_are_unique_and_replies_deterministic(client: openai.AsyncOpenAI) -> None:
    first, second = [
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "same"}]) for _ in "ab"
    ]
    assert first.id != second.id
    assert first.choices[0].message.content == second.choices[0].message.content == "[fra-1-ppu] same"


async def test_chat_echoes_the_last_user_text_of_multipart_content(client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(
        model="m",
        messages=[
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "an answer"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "text", "text": "in this picture"},
                ],
            },
        ],
    )
    assert reply.choices[0].message.content == "[fra-1-ppu] what is in this picture"


async def test_max_tokens_truncates_with_finish_reason_length(client: openai.AsyncOpenAI) -> None:
    reply = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": HELLO}], max_tokens=2)
    assert reply.choices[0].message.content == "[fra-1-ppu] hello "
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None
    assert reply.usage.completion_tokens == 2


async def test_stream_with_include_usage(client: openai.AsyncOpenAI) -> None:
    chunks = await stream_chunks(client, include_usage=True)
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"[fra-1-ppu] {HELLO}"
    *body, last = chunks
    assert body[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in body)
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (4, 5, 9)


async def test_stream_without_usage_and_with_max_tokens(client: openai.AsyncOpenAI) -> None:
    chunks = await stream_chunks(client, max_tokens=3)
    assert all(c.usage is None and c.choices for c in chunks)
    assert len(chunks) == 1 + 3  # the role chunk, then one chunk per token
    assert chunks[-1].choices[0].finish_reason == "length"


async def test_stream_is_raw_sse_ending_in_done(fake: FakeBackend, http: aiohttp.ClientSession) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with http.post(fake.url + "/chat/completions", json=body) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        raw = await response.read()
    events = raw.split(b"\n\n")
    assert events[-2:] == [b"data: [DONE]", b""]
    assert all(e.startswith(b"data: {") for e in events[:-2])


async def test_embeddings_base64_by_default_and_float(fake: FakeBackend, client: openai.AsyncOpenAI) -> None:
    packed = await client.embeddings.create(model="bge", input=["alpha", "beta"])
    assert fake.last_body["encoding_format"] == "base64"  # the SDK's default
    plain = await client.embeddings.create(model="bge", input=["alpha", "beta"], encoding_format="float")
    assert [d.index for d in packed.data] == [0, 1]
    for a, b in zip(packed.data, plain.data, strict=True):
        assert len(a.embedding) == 16
        assert a.embedding == pytest.approx(b.embedding, abs=1e-6)
        assert math.isclose(math.fsum(v * v for v in b.embedding), 1.0, rel_tol=1e-9)
    assert plain.data[0].embedding != plain.data[1].embedding
    assert plain.model == "bge"
    assert plain.object == "list"
    assert plain.usage.prompt_tokens == plain.usage.total_tokens == 2


async def test_embeddings_are_deterministic_for_strings_and_tokens(client: openai.AsyncOpenAI) -> None:
    one = await client.embeddings.create(model="bge", input="alpha", encoding_format="float", dimensions=4)
    again = await client.embeddings.create(model="bge", input=["alpha"], encoding_format="float", dimensions=4)
    tokens = await client.embeddings.create(model="bge", input=[[1, 2, 3]], encoding_format="float")
    assert len(one.data) == 1
    assert len(one.data[0].embedding) == 4
    assert one.data[0].embedding == again.data[0].embedding
    assert len(tokens.data) == 1


async def test_models_list(fake: FakeBackend, client: openai.AsyncOpenAI) -> None:
    models = [m.id async for m in client.models.list()]
    assert models == ["fake"]
    assert (fake.requests, fake.probes) == (0, 1)  # probes are counted apart, so health checks never muddle tests


async def test_restricted_models_and_unknown_model_is_404() -> None:
    backend = FakeBackend(name="strict", models=["a", "b"])
    url = await backend.start()
    try:
        async with openai.AsyncOpenAI(base_url=url, api_key="k", max_retries=0) as sdk:
            assert [m.id async for m in sdk.models.list()] == ["a", "b"]
            with pytest.raises(openai.NotFoundError) as caught:
                await sdk.chat.completions.create(model="c", messages=[{"role": "user", "content": "x"}])
            assert caught.value.code == "model_not_found"
    finally:
        await backend.stop()


async def test_api_key_is_enforced_when_set() -> None:
    backend = FakeBackend(name="locked", api_key="s3cret")
    url = await backend.start()
    try:
        async with openai.AsyncOpenAI(base_url=url, api_key="wrong", max_retries=0) as sdk:
            with pytest.raises(openai.AuthenticationError):
                await sdk.models.list()
        async with openai.AsyncOpenAI(base_url=url, api_key="s3cret", max_retries=0) as sdk:
            assert [m.id async for m in sdk.models.list()] == ["fake"]
    finally:
        await backend.stop()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"messages": []}',
        b'{"model": "m", "messages": []}',
        b'{"model": "m", "messages": [1]}',
        b'{"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0}',
    ],
)
async def test_malformed_chat_requests_are_400(fake: FakeBackend, http: aiohttp.ClientSession, body: bytes) -> None:
    async with http.post(fake.url + "/chat/completions", data=body) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    assert fake.requests == 1


# --- misbehaving -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (400, openai.BadRequestError, "invalid_request_error"),
        (429, openai.RateLimitError, "requests"),
        (500, openai.InternalServerError, "server_error"),
        (502, openai.InternalServerError, "server_error"),
        (503, openai.InternalServerError, "server_error"),
    ],
)
async def test_fail_with_status(
    fake: FakeBackend, client: openai.AsyncOpenAI, status: int, error: type[openai.APIStatusError], kind: str
) -> None:
    fake.behaviour = Behaviour(mode="fail", status=status, message="boom", retry_after=2)
    for stream in (False, True):
        with pytest.raises(error) as caught:
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], stream=stream)
        assert caught.value.status_code == status
        assert caught.value.message.endswith("boom")
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["type"] == kind
        assert caught.value.response.headers["retry-after"] == "2"
    with pytest.raises(error):
        await client.embeddings.create(model="m", input="x")
    assert fake.requests == 3


async def test_fail_has_a_default_message_and_no_retry_after(fake: FakeBackend, http: aiohttp.ClientSession) -> None:
    fake.behaviour = Behaviour(mode="fail", status=503)
    async with http.get(fake.url + "/models") as response:
        assert response.status == 503
        assert "Retry-After" not in response.headers
        body = await response.json()
    assert body == {
        "error": {
            "message": "fra-1-ppu: simulated failure",
            "type": "server_error",
            "param": None,
            "code": "service_unavailable",
        }
    }


async def test_times_reverts_to_normal(fake: FakeBackend, client: openai.AsyncOpenAI) -> None:
    fake.behaviour = Behaviour(mode="fail", status=503, times=2)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    reply = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert reply.choices[0].message.content == "[fra-1-ppu] x"
    assert fake.behaviour == Behaviour()
    assert fake.requests == 3


async def test_times_counts_inference_requests_not_probes(fake: FakeBackend, client: openai.AsyncOpenAI) -> None:
    fake.behaviour = Behaviour(mode="fail", status=503, times=1)
    for _ in range(3):  # a health checker's probes see the behaviour but do not use it up
        with pytest.raises(openai.InternalServerError):
            await client.models.list()
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert fake.behaviour == Behaviour()


async def test_drop_before_headers(fake: FakeBackend, client: openai.AsyncOpenAI, http: aiohttp.ClientSession) -> None:
    fake.behaviour = Behaviour(mode="drop")
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        async with http.post(fake.url + "/embeddings", json={"model": "m", "input": "x"}):
            pass
    assert fake.requests == 2  # it reached the backend, then the backend hung up


@pytest.mark.parametrize("after", [0, 1, 3])
async def test_drop_mid_stream_after_n_events(fake: FakeBackend, http: aiohttp.ClientSession, after: int) -> None:
    fake.behaviour = Behaviour(mode="drop_mid_stream", after_chunks=after)
    body = {"model": "m", "messages": [{"role": "user", "content": HELLO}], "stream": True}
    events: list[bytes] = []
    async with http.post(fake.url + "/chat/completions", json=body) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await sse_events(response, events)
    assert len(events) == after
    assert b"data: [DONE]\n" not in events


async def test_drop_mid_stream_never_sends_done_even_when_n_is_large(
    fake: FakeBackend, client: openai.AsyncOpenAI
) -> None:
    fake.behaviour = Behaviour(mode="drop_mid_stream", after_chunks=1000)
    with pytest.raises(openai.APIConnectionError):
        await stream_chunks(client)
    raw: list[bytes] = []
    async with aiohttp.ClientSession() as http:
        body = {"model": "m", "messages": [{"role": "user", "content": HELLO}], "stream": True}
        async with http.post(fake.url + "/chat/completions", json=body) as response:
            with pytest.raises(aiohttp.ClientPayloadError):
                await sse_events(response, raw)
    assert len(raw) == 1 + 5  # every chunk arrived, then the connection closed before [DONE]


async def test_drop_mid_body_when_not_streaming(
    fake: FakeBackend, client: openai.AsyncOpenAI, http: aiohttp.ClientSession
) -> None:
    fake.behaviour = Behaviour(mode="drop_mid_stream")
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    async with http.post(fake.url + "/embeddings", json={"model": "m", "input": "x"}) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


async def test_garbage_body(fake: FakeBackend, client: openai.AsyncOpenAI, http: aiohttp.ClientSession) -> None:
    fake.behaviour = Behaviour(mode="garbage")
    async with http.post(fake.url + "/chat/completions", json={"model": "m", "messages": [{"role": "user"}]}) as r:
        assert r.status == 200
        with pytest.raises(msgspec.DecodeError):
            msgspec.json.decode(await r.read())
    with pytest.raises(ValueError, match="Expecting value"):  # the SDK's json.loads gives up
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])


async def test_garbage_sse(fake: FakeBackend, client: openai.AsyncOpenAI) -> None:
    fake.behaviour = Behaviour(mode="garbage")
    with pytest.raises(ValueError, match="Expecting"):
        await stream_chunks(client)


async def test_slow_delays_headers_and_chunks(fake: FakeBackend, client: openai.AsyncOpenAI) -> None:
    fake.behaviour = Behaviour(mode="slow", delay=0.2)
    started = time.monotonic()
    await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert time.monotonic() - started >= 0.2
    fake.behaviour = Behaviour(mode="slow", chunk_delay=0.05)
    started = time.monotonic()
    chunks = await stream_chunks(client)
    assert len(chunks) == 6
    assert time.monotonic() - started >= 0.05 * 6  # 6 chunks and [DONE]: six gaps


async def test_hang_times_the_client_out(fake: FakeBackend) -> None:
    fake.behaviour = Behaviour(mode="hang")
    async with openai.AsyncOpenAI(base_url=fake.url, api_key="k", max_retries=0, timeout=0.3) as sdk:
        with pytest.raises(openai.APITimeoutError):
            await sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert fake.requests == 1


async def test_stop_ends_hanging_and_slow_requests_promptly() -> None:
    backend = FakeBackend(name="stuck", behaviour=Behaviour(delay=60))
    url = await backend.start()
    async with openai.AsyncOpenAI(base_url=url, api_key="k", max_retries=0, timeout=30.0) as sdk:
        ask = sdk.chat.completions.create
        slow = asyncio.create_task(ask(model="m", messages=[{"role": "user", "content": "x"}]))
        await until(lambda: backend.requests == 1)
        backend.behaviour = Behaviour(mode="hang")
        hanging = asyncio.create_task(ask(model="m", messages=[{"role": "user", "content": "x"}]))
        await until(lambda: backend.requests == 2)
        started = time.monotonic()
        await backend.stop()
        assert time.monotonic() - started < 2.0
        for task in (slow, hanging):
            with pytest.raises(openai.APIConnectionError):
                await task


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():  # noqa: ASYNC110 - the condition is the fake's counter, there is no event to wait on
            await asyncio.sleep(0.01)


# --- steering over HTTP and as a process ------------------------------------------------------------------------------


async def test_http_control(fake: FakeBackend, client: openai.AsyncOpenAI, http: aiohttp.ClientSession) -> None:
    control = fake.url.removesuffix("/v1") + "/_fake"
    async with http.post(control + "/behaviour", json={"mode": "fail", "status": 502}) as r:
        assert r.status == 200
        assert (await r.json())["behaviour"]["status"] == 502
    assert fake.behaviour == Behaviour(mode="fail", status=502)
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    async with http.get(control + "/stats") as r:
        stats = await r.json()
    assert stats["name"] == "fra-1-ppu"
    assert stats["requests"] == 1
    assert stats["last_path"] == "/v1/chat/completions"
    assert stats["last_body"]["model"] == "m"
    assert stats["last_headers"]["Authorization"] == "Bearer sk-test"
    for bad in ({"mode": "explode"}, {"mode": "fail", "status": 200}, {"typo": 1}, {"delay": -1}):
        async with http.post(control + "/behaviour", json=bad) as r:
            assert r.status == 400
    async with http.post(control + "/reset") as r:
        stats = await r.json()
    assert (stats["requests"], stats["probes"], stats["last_body"]) == (0, 0, None)
    assert fake.requests == 0
    assert fake.behaviour.status == 502


async def test_runs_as_a_process() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "regiongate.backends.fake",
        "--port",
        "0",
        "--name",
        "proc-1",
        "--model",
        "m",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        url = line.rsplit(" ", 1)[-1].strip()
        assert line.startswith("fake backend proc-1 listening on http://127.0.0.1:")
        assert url.endswith("/v1")
        async with openai.AsyncOpenAI(base_url=url, api_key="k", max_retries=0) as sdk:
            reply = await sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "ping"}])
            assert reply.choices[0].message.content == "[proc-1] ping"
            async with aiohttp.ClientSession() as http:
                await (await http.post(url[:-3] + "/_fake/behaviour", json={"mode": "fail", "status": 429})).read()
            with pytest.raises(openai.RateLimitError):
                await sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": "ping"}])
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0
