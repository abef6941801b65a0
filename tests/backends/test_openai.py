"""The OpenAI adapter over scripted servers: statuses mapped by type, and when a request may go a second time."""

from __future__ import annotations

import asyncio

import pytest

from regiongate.backends.openai import OpenAIUpstream, Timeouts
from regiongate.backends.protocol import Endpoint
from regiongate.errors import UpstreamError, UpstreamOverloaded, UpstreamRejected, UpstreamTimeout
from tests.backends.scripted import Serve, ok


def upstream_for(port: int, *, silence: float = 5.0) -> OpenAIUpstream:
    timeouts = Timeouts(connect=2.0, first_byte=silence, read=silence)
    return OpenAIUpstream("b1", f"http://127.0.0.1:{port}/v1/", timeouts=timeouts)


async def test_a_kept_alive_connection_closed_unanswered_on_reuse_is_retried_once_on_a_new_one(serve: Serve) -> None:
    async def second_hangs_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 2:
            writer.close()  # as a backend closing an idle connection just as the request arrived
            return
        writer.write(ok(b'{"n": %d}' % n))
        await writer.drain()

    server = await serve(second_hangs_up)
    upstream = upstream_for(server.port)
    assert await (await upstream.send(Endpoint.CHAT, b"{}")).read() == b'{"n": 1}'
    assert await (await upstream.send(Endpoint.CHAT, b"{}")).read() == b'{"n": 3}'
    assert (server.connections, server.requests) == (2, 3)
    await upstream.close()


async def test_a_new_connection_closed_unanswered_is_a_failure_not_a_retry(serve: Serve) -> None:
    async def hang_up(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.close()

    server = await serve(hang_up)
    upstream = upstream_for(server.port)
    with pytest.raises(UpstreamError, match="dropped"):
        await upstream.send(Endpoint.CHAT, b"{}")
    assert server.requests == 1
    await upstream.close()


async def test_a_reused_connection_that_times_out_is_not_retried(serve: Serve) -> None:
    async def then_silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n > 1:
            await asyncio.sleep(5)
        writer.write(ok(b"{}"))
        await writer.drain()

    server = await serve(then_silent)
    upstream = upstream_for(server.port, silence=0.3)
    assert await (await upstream.send(Endpoint.CHAT, b"{}")).read() == b"{}"
    with pytest.raises(UpstreamTimeout):
        await upstream.send(Endpoint.CHAT, b"{}")
    assert server.requests == 2
    await upstream.close()


@pytest.mark.parametrize(
    ("status", "error", "message"),
    [
        (400, UpstreamRejected, "bad messages"),
        (429, UpstreamOverloaded, "overloaded: bad messages"),
        (504, UpstreamTimeout, "timed out: bad messages"),
        (500, UpstreamError, "answered 500: bad messages"),
        (404, UpstreamError, "answered 404"),
    ],
)
async def test_statuses_are_mapped_by_type(serve: Serve, status: int, error: type[Exception], message: str) -> None:
    async def refuse(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        body = b'{"error": {"message": "bad messages"}}'
        writer.write(b"HTTP/1.1 %d No\r\nContent-Length: %d\r\n\r\n%s" % (status, len(body), body))
        await writer.drain()

    upstream = upstream_for((await serve(refuse)).port)
    with pytest.raises(error, match=message) as raised:
        await upstream.send(Endpoint.EMBEDDINGS, b"{}")
    assert type(raised.value) is error
    await upstream.close()


async def test_an_error_body_is_read_only_up_to_its_limit(serve: Serve) -> None:
    async def huge_error(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 500 No\r\nContent-Length: 100000000\r\n\r\n" + b"x" * 200_000)
        await writer.drain()
        await asyncio.sleep(5)  # the rest never comes: the adapter must not wait for it

    upstream = upstream_for((await serve(huge_error)).port)
    with pytest.raises(UpstreamError, match="answered 500: HTTP 500"):
        await asyncio.wait_for(upstream.send(Endpoint.CHAT, b"{}"), 2.0)
    await upstream.close()


async def test_probe_is_a_get_of_the_model_list(serve: Serve) -> None:
    async def models(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(ok(b'{"data": []}'))
        await writer.drain()

    server = await serve(models)
    upstream = upstream_for(server.port)
    assert await upstream.probe()
    assert server.heads[0].startswith(b"GET /v1/models HTTP/1.1\r\n")
    await upstream.close()
    assert not await upstream_for(1).probe()


def test_a_base_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="not an http"):
        OpenAIUpstream("b1", "ftp://example.org/v1", timeouts=Timeouts())


async def test_credentials_in_the_base_url_go_as_basic_authorization(serve: Serve) -> None:
    async def models(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(ok(b"{}"))
        await writer.drain()

    server = await serve(models)
    timeouts = Timeouts(connect=2.0, first_byte=5.0, read=5.0)
    upstream = OpenAIUpstream("b1", f"http://ops:s%3Acret@127.0.0.1:{server.port}/v1", timeouts=timeouts)
    assert await (await upstream.send(Endpoint.CHAT, b"{}")).read() == b"{}"
    assert b"Authorization: Basic b3BzOnM6Y3JldA==\r\n" in server.heads[0]  # base64 of "ops:s:cret"
    await upstream.close()


def test_an_international_host_name_goes_out_in_its_idna_form() -> None:
    upstream = OpenAIUpstream("b1", "http://bücher.example:8080/v1", timeouts=Timeouts())
    assert b"Host: xn--bcher-kva.example:8080\r\n" in upstream._heads[Endpoint.CHAT]
