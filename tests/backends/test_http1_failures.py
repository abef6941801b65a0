"""The backends' HTTP/1.1 client where a review found it wrong: slots held by failed connects, unbounded waits and
headers, the gateway's own backpressure taken for a backend's silence, truncated bodies, stale closes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import cast

import pytest

from regiongate.backends.http1 import _HIGH_WATER, Origin, Pool
from regiongate.backends.openai import OpenAIUpstream, Timeouts
from regiongate.backends.protocol import Endpoint
from regiongate.errors import UpstreamError, UpstreamTimeout
from tests.backends.scripted import Scripted, Serve, ok
from tests.backends.test_http1 import answer_json, exchange, pool_for


async def test_a_connect_cancelled_midway_does_not_hold_a_pool_slot_forever() -> None:
    # A backend that accepts TCP but never completes the TLS handshake (hung process): the connect is pending when
    # the request is cancelled (its client went away). The slot it counted in `_open` must be given back.
    accepted: list[asyncio.StreamWriter] = []
    server = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Pool("b1", Origin("127.0.0.1", port, True, "/v1"), connect=0.5, silence=2.0, limit=1)
    pending = asyncio.ensure_future(pool.connection())
    await asyncio.sleep(0.2)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    # The next request should try to connect and time out after `connect` (0.5 s): it must not wait for a slot that
    # nothing will ever free.
    try:
        with pytest.raises(UpstreamTimeout, match="timed out"):  # connecting, not "has no free connection"
            await asyncio.wait_for(pool.connection(), 3.0)
    finally:
        pool.close()
        server.close()
        for writer in accepted:
            writer.close()


async def test_a_connect_that_fails_with_a_non_os_error_is_an_upstream_error_and_frees_its_slot() -> None:
    # A host name whose IDNA encoding fails (a label over 63 characters): getaddrinfo raises UnicodeError.
    pool = Pool("b1", Origin("a" * 64 + ".example", 80, False, "/v1"), connect=1.0, silence=1.0, limit=1)
    try:
        with pytest.raises(UpstreamError):
            await asyncio.wait_for(pool.connection(), 3.0)
    finally:
        leaked = len(pool._open)
        pool.close()
    assert leaked == 0


async def test_waiting_for_a_pool_slot_is_bounded_like_aiohttps_connect_timeout(serve: Serve) -> None:
    # aiohttp's ClientTimeout.connect also bounded the wait for a free pooled connection; here it is unbounded.
    server = await serve(answer_json)
    pool = Pool("b1", Origin("127.0.0.1", server.port, False, "/v1"), connect=0.3, silence=5.0, limit=1)
    held = await exchange(pool)
    try:
        with pytest.raises(UpstreamTimeout):
            await asyncio.wait_for(pool.connection(), 2.0)
    finally:
        held.abort()
        pool.close()


async def test_a_backend_that_never_ends_its_headers_is_refused(serve: Serve) -> None:
    stop = asyncio.Event()

    async def endless_header(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nX-Long: ")
        while not stop.is_set():  # 1.6 MB/s of one header value, never ending; never silent
            writer.write(b"a" * 16384)
            await writer.drain()
            await asyncio.sleep(0.01)

    pool = pool_for(await serve(endless_header))
    try:
        with pytest.raises(UpstreamError):  # aiohttp refused lines over 8190 bytes (LineTooLong)
            await asyncio.wait_for(exchange(pool), 2.0)
    finally:
        stop.set()
        pool.close()


async def test_the_gateways_own_backpressure_is_not_taken_for_backend_silence(serve: Serve) -> None:
    big = b"x" * (4 * 1024 * 1024)

    async def eager(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(ok(big))  # the backend sends as fast as it is let: it is never silent by choice
        await writer.drain()

    pool = pool_for(await serve(eager), silence=0.3)
    conn = await exchange(pool)
    await asyncio.sleep(0.8)  # a slow client: the gateway has paused reading (high water) for longer than `silence`
    try:
        assert await asyncio.wait_for(conn.read(), 5.0) == big
    finally:
        conn.abort()
        pool.close()


async def test_a_connection_delimited_body_cut_short_by_the_silence_timer_is_not_a_complete_body(serve: Serve) -> None:
    async def http10_stalls(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"part": ')
        await writer.drain()
        await asyncio.sleep(3)  # stalls mid-body
        writer.write(b"1}")
        await writer.drain()
        writer.close()

    pool = pool_for(await serve(http10_stalls), silence=0.3)
    conn = await exchange(pool)
    await asyncio.sleep(0.8)  # the consumer is busy elsewhere when the silence timer fires
    try:
        with pytest.raises(UpstreamTimeout):  # not the partial body as if it were whole
            await asyncio.wait_for(conn.read(), 5.0)
    finally:
        conn.abort()
        pool.close()


async def test_a_stream_closed_early_does_not_put_a_paused_connection_back(serve: Serve) -> None:
    head_part = b"h" * 1000
    tail = b"t" * (_HIGH_WATER + 1)  # crosses the high-water mark only with its last byte: paused and complete
    tail_now = asyncio.Event()

    async def two_parts(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n == 1:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n"
                % (len(head_part) + len(tail))
                + head_part
            )
            await writer.drain()
            await tail_now.wait()
            writer.write(tail)
        else:
            writer.write(ok(b'{"n": %d}' % n))
        await writer.drain()

    server = await serve(two_parts)
    upstream = OpenAIUpstream(
        "b1", f"http://127.0.0.1:{server.port}/v1", timeouts=Timeouts(connect=2.0, first_byte=5.0, read=5.0)
    )
    try:
        reply = await upstream.send(Endpoint.CHAT, b"{}")
        chunks = cast(AsyncGenerator[bytes, None], reply.chunks())
        got = 0
        while got < len(head_part):
            got += len(await anext(chunks))
        tail_now.set()
        await asyncio.sleep(0.3)  # the whole tail arrives; reading is paused as it does
        await chunks.aclose()  # the consumer stops early (break / generator closed): release() runs
        again = await asyncio.wait_for(upstream.send(Endpoint.CHAT, b"{}"), 2.0)
        assert await asyncio.wait_for(again.read(), 2.0) == b'{"n": 2}'
    finally:
        await upstream.close()


async def test_closing_a_reply_already_read_does_not_touch_the_next_request_on_its_connection(serve: Serve) -> None:
    async def slow_second(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        if n > 1:
            await asyncio.sleep(0.3)  # the backend is working on request 2
        writer.write(ok(b'{"n": %d}' % n))
        await writer.drain()

    server: Scripted = await serve(slow_second)
    upstream = OpenAIUpstream(
        "b1", f"http://127.0.0.1:{server.port}/v1", timeouts=Timeouts(connect=2.0, first_byte=5.0, read=5.0)
    )
    try:
        first = await upstream.send(Endpoint.CHAT, b"{}")
        assert await first.read() == b'{"n": 1}'
        second = asyncio.ensure_future(upstream.send(Endpoint.CHAT, b"{}"))  # reuses the kept-alive connection
        await asyncio.sleep(0.1)  # request 2 has reached the backend
        first.close()  # a stale close() on the first reply (with aiohttp a no-op once released)
        reply = await asyncio.wait_for(second, 3.0)
        await reply.read()
        # Request 2 must have been sent once: the backend's application had it, so it must not be replayed.
        assert server.requests == 2
    finally:
        await upstream.close()


async def test_closing_the_pool_turns_away_every_waiter(serve: Serve) -> None:
    pool = pool_for(await serve(answer_json), limit=1)
    held = await exchange(pool)
    waiters = [asyncio.ensure_future(pool.connection()) for _ in range(3)]
    await asyncio.sleep(0.05)
    pool.close()
    outcomes = await asyncio.wait_for(asyncio.gather(*waiters, return_exceptions=True), 2.0)
    assert all(isinstance(o, UpstreamError) and "closing" in str(o) for o in outcomes), outcomes
    assert held.closed


async def test_an_upgrade_answer_is_an_upstream_error(serve: Serve) -> None:
    async def upgrade(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00")
        await writer.drain()

    pool = pool_for(await serve(upgrade))
    with pytest.raises(UpstreamError, match="not HTTP"):  # refused by the client, not a parser error escaping the loop
        await asyncio.wait_for(exchange(pool), 3.0)
    pool.close()
