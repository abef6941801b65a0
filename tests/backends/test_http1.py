"""The backends' HTTP/1.1 client against scripted servers: what it reuses, what it refuses, how it fails."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from regiongate.backends.http1 import Connection, Origin, Pool
from regiongate.errors import UpstreamError, UpstreamTimeout
from tests.backends.scripted import Scripted, Serve, ok


def pool_for(server: Scripted, *, silence: float = 5.0, limit: int = 8) -> Pool:
    return Pool("b1", Origin("127.0.0.1", server.port, False, "/v1"), connect=2.0, silence=silence, limit=limit)


async def exchange(pool: Pool, body: bytes = b"{}") -> Connection:
    conn = await pool.connection()
    conn.send(pool.origin.head("POST", "chat/completions", "application/json"), body)
    await conn.headers()
    return conn


async def answer_json(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
    writer.write(ok(b'{"n": %d}' % n))
    await writer.drain()


async def test_a_request_is_its_head_and_body_and_a_kept_alive_connection_is_reused(serve: Serve) -> None:
    server = await serve(answer_json)
    pool = pool_for(server)
    for n in (1, 2, 3):
        conn = await exchange(pool, b'{"model": "m"}')
        assert (conn.status, conn.content_type) == (200, "application/json")
        assert await conn.read() == b'{"n": %d}' % n
        conn.release()
    assert (server.connections, server.requests) == (1, 3)
    assert server.heads[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % server.port)
    assert b"Content-Length: 14\r\n" in server.heads[0]
    pool.close()


async def test_streamed_chunks_arrive_before_the_body_ends(serve: Serve) -> None:
    go_on = asyncio.Event()

    async def stream(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        writer.write(b"6\r\ndata: \r\n")
        await writer.drain()
        await go_on.wait()
        writer.write(b"3\r\n1\n\n\r\n0\r\n\r\n")
        await writer.drain()

    server = await serve(stream)
    pool = pool_for(server)
    conn = await exchange(pool)
    assert conn.content_type == "text/event-stream"
    chunks = aiter(conn.chunks())
    assert await anext(chunks) == b"data: "  # the server is still holding back the rest
    go_on.set()
    assert [c async for c in chunks] == [b"1\n\n"]
    conn.release()
    again = await exchange(pool)
    assert again is conn  # a chunked body ended cleanly keeps its connection
    again.abort()
    pool.close()


async def test_a_body_delimited_by_the_connection_ends_with_it(serve: Serve) -> None:
    async def http10(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"old": true}')
        await writer.drain()
        writer.close()

    server = await serve(http10)
    pool = pool_for(server)
    conn = await exchange(pool)
    assert await conn.read() == b'{"old": true}'
    conn.release()
    assert conn.closed
    pool.close()


async def test_a_connection_the_backend_closes_is_not_reused(serve: Serve) -> None:
    async def once(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(ok(b"{}", b"Connection: close\r\n"))
        await writer.drain()

    server = await serve(once)
    pool = pool_for(server)
    for _ in range(2):
        conn = await exchange(pool)
        assert await conn.read() == b"{}"
        conn.release()
    assert server.connections == 2
    pool.close()


async def test_a_kept_alive_connection_closed_while_idle_is_replaced(serve: Serve) -> None:
    async def answer_then_hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(ok(b"{}"))  # says keep-alive, then closes anyway (a backend's idle timeout)
        await writer.drain()
        writer.close()

    server = await serve(answer_then_hang_up)
    pool = pool_for(server)
    conn = await exchange(pool)
    await conn.read()
    conn.release()
    await asyncio.sleep(0.05)  # the close reaches the pool
    second = await exchange(pool)
    assert second is not conn
    assert await second.read() == b"{}"
    second.release()
    assert server.requests == 2
    pool.close()


async def test_garbage_drops_and_silence_are_upstream_errors(serve: Serve) -> None:
    async def garbage(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"\x00\x01 this is not http\r\n\r\n")
        await writer.drain()

    async def drop_mid_body(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"par')
        await writer.drain()
        writer.close()

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await asyncio.sleep(5)

    with pytest.raises(UpstreamError, match="not HTTP"):
        await exchange(pool_for(await serve(garbage)))
    conn = await exchange(pool_for(await serve(drop_mid_body)))
    with pytest.raises(UpstreamError, match="dropped"):
        await conn.read()
    with pytest.raises(UpstreamTimeout):
        await asyncio.wait_for(exchange(pool_for(await serve(silent), silence=0.2)), 5.0)


async def test_silence_between_chunks_times_out_but_steady_chunks_do_not(serve: Serve) -> None:
    async def trickle(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _tick in range(6):  # 0.6 s in all, never 0.3 s of silence
            writer.write(b"1\r\nx\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)
        if n == 1:
            writer.write(b"0\r\n\r\n")
        else:
            await asyncio.sleep(1)
        await writer.drain()

    server = await serve(trickle)
    pool = pool_for(server, silence=0.3)
    conn = await exchange(pool)
    assert b"".join([c async for c in conn.chunks()]) == b"x" * 6
    conn.release()
    conn = await exchange(pool)

    async def drain() -> None:
        async for _ in conn.chunks():
            pass

    with pytest.raises(UpstreamTimeout):
        await asyncio.wait_for(drain(), 5.0)  # TimeoutError (not UpstreamTimeout) if the silence went unnoticed
    pool.close()


async def test_an_unreachable_backend_is_an_upstream_error() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    pool = Pool("b1", Origin("127.0.0.1", port, False, "/v1"), connect=1.0, silence=1.0)
    with pytest.raises(UpstreamError, match="unreachable"):
        await pool.connection()


async def test_an_encoded_body_that_was_not_asked_for_is_refused(serve: Serve) -> None:
    async def gzip(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(ok(b"\x1f\x8b", b"Content-Encoding: gzip\r\n"))
        await writer.drain()

    server = await serve(gzip)
    with pytest.raises(UpstreamError, match="encoded"):
        await exchange(pool_for(server))
    assert b"Accept-Encoding: identity" in server.heads[0]


async def test_an_unread_answer_stops_being_read_and_a_read_one_resumes(serve: Serve) -> None:
    big = b"x" * (32 * 1024 * 1024)
    written = asyncio.Event()

    async def large(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(ok(big))
        await writer.drain()
        written.set()

    pool = pool_for(await serve(large))
    conn = await exchange(pool)
    await asyncio.sleep(0.5)
    # Nobody reads the body yet: the gateway holds a bounded part of it, the rest waits in the backend.
    assert not written.is_set()
    assert await asyncio.wait_for(conn.read(), 20.0) == big
    assert written.is_set()
    conn.release()
    conn = await exchange(pool)
    assert len(await conn.read(64 * 1024)) == 64 * 1024  # an error body: only its head is read
    conn.abort()
    pool.close()


async def test_bytes_on_an_idle_connection_drop_it_and_are_never_taken_for_an_answer(serve: Serve) -> None:
    async def answer_twice(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(ok(b'{"n": %d}' % n))
        await writer.drain()
        if n == 1:
            await asyncio.sleep(0.05)
            writer.write(ok(b'{"unasked": true}'))  # a desynchronised backend: an answer nobody asked for
            await writer.drain()

    server = await serve(answer_twice)
    pool = pool_for(server)
    conn = await exchange(pool)
    assert await conn.read() == b'{"n": 1}'
    conn.release()
    await asyncio.sleep(0.2)
    second = await exchange(pool)
    assert await second.read() == b'{"n": 2}'
    second.release()
    assert server.connections == 2


async def test_at_most_limit_connections_and_every_request_gets_its_turn(serve: Serve) -> None:
    async def slow(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await asyncio.sleep(0.05)
        writer.write(ok(b"{}"))
        await writer.drain()

    server = await serve(slow)
    pool = pool_for(server, limit=2)

    async def one() -> bytes:
        conn = await exchange(pool)
        try:
            return await conn.read()
        finally:
            conn.release()

    waiting = asyncio.ensure_future(pool.connection())  # a waiter that is cancelled must not swallow a turn
    assert await asyncio.gather(*(one() for _ in range(7))) == [b"{}"] * 7
    waiting.cancel()
    assert server.connections <= 2
    pool.close()


async def test_a_cancelled_waiter_passes_its_turn_on(serve: Serve) -> None:
    server = await serve(answer_json)
    pool = pool_for(server, limit=1)
    held = await exchange(pool)
    first = asyncio.ensure_future(pool.connection())
    second = asyncio.ensure_future(pool.connection())
    await asyncio.sleep(0)
    await held.read()
    held.release()  # the turn goes to `first` ...
    first.cancel()  # ... which is cancelled before it runs
    conn = await asyncio.wait_for(second, 2.0)
    assert conn is held
    pool.close()


async def test_https_backends_are_verified_and_reached(
    serve: Serve, tls: tuple[ssl.SSLContext, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server_context, ca_file = tls
    server = await asyncio.start_server(
        lambda r, w: Scripted(answer_json)._serve(r, w), "127.0.0.1", 0, ssl=server_context
    )
    port = server.sockets[0].getsockname()[1]
    origin = Origin("localhost", port, True, "/v1")
    with pytest.raises(UpstreamError, match="cannot be verified"):  # a certificate no trusted authority signed
        await Pool("b1", origin, connect=2.0, silence=2.0).connection()
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)
    pool = Pool("b1", origin, connect=2.0, silence=2.0)
    conn = await exchange(pool)
    assert await conn.read() == b'{"n": 1}'
    conn.release()
    pool.close()
    server.close()


@pytest.fixture
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (cert_file := folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (key_file := folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, str(cert_file)


async def test_informational_answers_are_skipped_for_the_real_one(serve: Serve) -> None:
    async def hints_first(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(b"HTTP/1.1 103 Early Hints\r\nContent-Type: text/plain\r\nLink: </x>\r\n\r\n")
        await writer.drain()
        writer.write(ok(b'{"n": %d}' % n))
        await writer.drain()

    pool = pool_for(await serve(hints_first))
    conn = await exchange(pool)
    assert (conn.status, conn.content_type) == (200, "application/json")
    assert await conn.read() == b'{"n": 1}'
    conn.release()
    pool.close()


async def test_a_second_answer_to_one_request_is_ignored_and_its_connection_dropped(serve: Serve) -> None:
    async def answer_twice_at_once(_: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        writer.write(ok(b'{"n": %d}' % n) + ok(b'{"smuggled": true}'))
        await writer.drain()

    server = await serve(answer_twice_at_once)
    pool = pool_for(server)
    for n in (1, 2):
        conn = await exchange(pool)
        assert await conn.read() == b'{"n": %d}' % n
        conn.release()
    assert server.connections == 2
    pool.close()
