"""HTTP/1.1 to one backend: keep-alive connections pooled, responses parsed by llhttp (``httptools``).

The gateway's requests to a backend are all alike: a POST of a JSON body to a fixed path, answered by JSON or by
server-sent events. aiohttp's client spends on each of them as much CPU as the rest of the gateway together (cookie
jars, header multidicts, tracing hooks, per-request URL joins); here a request is one ``writelines`` of a head made
once per endpoint and the body, and a response is whatever llhttp reports: status, two headers, body chunks.

Failures are raised as the upstream errors of :mod:`regiongate.errors` by type, never by message: a connection that
cannot be made or that drops is an :class:`UpstreamError`; silence longer than ``silence`` seconds (before the
status line or between chunks) is an :class:`UpstreamTimeout`; bytes that are not HTTP are an
:class:`UpstreamError` too.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast

import httptools

from regiongate.errors import UpstreamError, UpstreamTimeout

# Above this many unread body bytes the socket is no longer read: a slow client must not make a fast backend's
# answer pile up in the gateway's memory.
_HIGH_WATER = 256 * 1024
# A status line and headers longer than this are refused (llhttp sets no limit of its own).
_MAX_HEAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a backend listens: scheme, host and port of its base URL, and the path its endpoints hang off."""

    host: str
    port: int
    tls: bool
    base_path: str
    authorization: str | None = None  # a header value, from credentials in the base URL

    @property
    def authority(self) -> str:
        default = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"

    def head(self, method: str, endpoint: str, content_type: str | None) -> bytes:
        """A request head, less its Content-Length, built once per endpoint."""
        lines = [
            f"{method} {self.base_path}/{endpoint} HTTP/1.1",
            f"Host: {self.authority}",
            "Accept-Encoding: identity",
        ]
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        if self.authorization is not None:
            lines.append(f"Authorization: {self.authorization}")
        return ("\r\n".join(lines) + "\r\n").encode("ascii")


class Connection(asyncio.Protocol):
    """One keep-alive connection, carrying one exchange at a time."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._loop = pool.loop
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._last = 0.0
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._busy = False
        self.reused = False
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.content_type = "application/json"
        self._encoded = False
        self._headers_done = False
        self._complete = False
        self._delimited = False  # by Content-Length or chunked coding; otherwise the body ends when the socket does
        self._keep_alive = False
        self._unanswered = False
        self._informational = False
        self._head_bytes = 0
        self._error: UpstreamError | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not a subclass of asyncio.Transport, so no isinstance check).
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._busy:  # nothing was asked on this connection: whatever this is, it cannot be trusted
            self.abort()
            return
        self._last = self._loop.time()
        if not self._headers_done:
            if self._head_bytes > _MAX_HEAD:
                self._fail(UpstreamError(f"backend {self._pool.backend_id} sent headers longer than {_MAX_HEAD} bytes"))
                self._wake()
                return
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self._fail(UpstreamError(f"backend {self._pool.backend_id} sent a reply that is not HTTP"))
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._pool.forget(self)
        if self._headers_done and not self._delimited and not self._complete and exc is None and self._error is None:
            self._complete = True  # a body delimited by the end of the connection (HTTP/1.0 style) has ended
        if not self._complete and self._error is None:
            self._error = UpstreamError(f"backend {self._pool.backend_id} dropped the connection")
            self._unanswered = self._busy and self._head_bytes == 0  # not a byte of an answer came
        self._cancel_timer()
        self._wake()

    # -- httptools callbacks -----------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:  # a second answer to one request: the connection is out of step, never to be reused
            self._keep_alive = False
            return
        self.content_type = "application/json"
        self._delimited = self._encoded = False

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._complete:
            return
        lowered = name.lower()
        if lowered == b"content-type":
            self.content_type = value.decode("latin-1").split(";", 1)[0].strip() or "application/json"
        elif lowered == b"content-length" or (lowered == b"transfer-encoding" and b"chunked" in value.lower()):
            self._delimited = True
        elif lowered == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
            self._encoded = True

    def on_headers_complete(self) -> None:
        if self._complete:
            return
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # informational (100 Continue, 103 Early Hints): the answer is still to come
            self._informational = True
            return
        self.status = status
        self._headers_done = True
        if self._encoded:  # asked for identity; decoding what was not asked for is not this client's job
            self._fail(UpstreamError(f"backend {self._pool.backend_id} sent an encoded body it was not asked for"))

    def on_body(self, body: bytes) -> None:
        if self._complete:
            return
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        if self._complete:
            return
        self._complete = True
        self._keep_alive = self._parser.should_keep_alive()

    # -- the exchange ------------------------------------------------------------------------------------------

    def send(self, head: bytes, body: bytes) -> None:
        """Write a request: ``head`` (from :meth:`Origin.head`) and ``body``."""
        if self._transport is None:  # lost between leaving the pool and this request
            raise UpstreamError(f"backend {self._pool.backend_id} dropped the connection")
        self._reset()
        self._busy = True
        self._last = self._loop.time()
        self._timer = self._loop.call_at(self._last + self._pool.silence, self._check_silence)
        self._transport.writelines((head, b"Content-Length: %d\r\n\r\n" % len(body), body))

    async def headers(self) -> None:
        """Wait for the status line and headers."""
        while not self._headers_done:
            await self._next_event()

    async def read(self, limit: int | None = None) -> bytes:
        """The whole body, or its first ``limit`` bytes or more."""
        parts: list[bytes] = []
        size = 0
        while True:
            if self._chunks:
                parts.append(chunk := self._take())
                size += len(chunk)
            if self._complete or (limit is not None and size >= limit):
                break
            await self._next_event()
        body = b"".join(parts)
        return body if limit is None else body[:limit]

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        while True:
            if self._chunks:
                yield self._take()
            elif self._complete:
                return
            else:
                await self._next_event()

    def release(self) -> None:
        """Back to the pool if the exchange ended cleanly and both sides keep the connection; closed otherwise."""
        self._cancel_timer()
        self._busy = False
        if self._complete and self._keep_alive and self._error is None and self._transport is not None:
            self._chunks.clear()
            self._buffered = 0
            if self._paused:  # ended with its last chunks unread: the next exchange must be read
                self._paused = False
                self._transport.resume_reading()
            self._pool.put_back(self)
        else:
            self.abort()

    def abort(self) -> None:
        self._cancel_timer()
        self._complete = False
        if self._error is None:  # given up by the gateway: neither a finished body nor a backend's hang-up
            self._error = UpstreamError(f"backend {self._pool.backend_id}: the exchange was abandoned")
        if self._transport is not None:
            self._transport.abort()
        self._pool.forget(self)

    @property
    def closed(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    @property
    def stale(self) -> bool:
        """Whether this was a kept-alive connection the backend closed as it was reused, before answering: the
        request cannot have reached the backend's application (it closes idle connections, not ones it reads)."""
        return self.reused and self._unanswered

    # -- internals ---------------------------------------------------------------------------------------------

    def _take(self) -> bytes:
        chunks = self._chunks
        chunk = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._buffered = 0
        if self._paused and self._transport is not None:
            self._paused = False
            self._last = self._loop.time()  # silence is counted from when reading resumes
            self._transport.resume_reading()
        return chunk

    def _take_error(self) -> None:
        if self._error is not None:
            raise self._error

    async def _next_event(self) -> None:
        self._take_error()
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None
        self._take_error()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: UpstreamError) -> None:
        if self._error is None:
            self._error = error
        if self._transport is not None:
            self._transport.abort()

    def _check_silence(self) -> None:
        # One timer per exchange, moved on only when it fires: cheaper than rescheduling it on every read.
        if self._paused:  # the gateway stopped reading (its client is slow): that is not the backend's silence
            self._last = self._loop.time()
        due = self._last + self._pool.silence
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._check_silence)
            return
        self._timer = None
        self._fail(UpstreamTimeout(f"backend {self._pool.backend_id} timed out"))
        self._wake()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Pool:
    """Keep-alive connections to one backend, at most ``limit`` open at once (more requests wait their turn)."""

    def __init__(self, backend_id: str, origin: Origin, *, connect: float, silence: float, limit: int = 256) -> None:
        self.backend_id = backend_id
        self.origin = origin
        self.silence = silence
        self._connect_timeout = connect
        self._limit = limit
        self._idle: list[Connection] = []
        self._open: set[Connection] = set()
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if origin.tls else None
        self._closed = False
        self.loop = asyncio.get_running_loop()

    async def connection(self) -> Connection:
        """An idle connection (most recently used first), or a new one; waiting for a free one at most the connect
        timeout, as for a connection being made."""
        if self._closed:
            raise UpstreamError(f"backend {self.backend_id}: the gateway is closing its connections")
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                conn.reused = True
                return conn
        if len(self._open) >= self._limit:
            try:
                async with asyncio.timeout(self._connect_timeout):
                    await self._turn()
            except TimeoutError:
                raise UpstreamTimeout(f"backend {self.backend_id} has no free connection") from None
            if self._idle:
                return await self.connection()
        return await self._connect()

    async def _turn(self) -> None:
        while len(self._open) >= self._limit and not self._idle:
            turn = self.loop.create_future()
            self._waiting.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():
                    self._next_turn()  # the turn given to this waiter goes to the next one
                raise
            if self._closed:
                raise UpstreamError(f"backend {self.backend_id}: the gateway is closing its connections")

    async def fresh(self) -> Connection:
        """A new connection, in place of a kept-alive one that turned out dead."""
        return await self._connect()

    async def _connect(self) -> Connection:
        conn = Connection(self)
        self._open.add(conn)  # counted while it connects, so the limit holds for connections being made too
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self.loop.create_connection(
                    lambda: conn,
                    self.origin.host,
                    self.origin.port,
                    ssl=self._ssl,
                    server_hostname=self.origin.host if self._ssl is not None else None,
                )
        except TimeoutError:
            self.forget(conn)
            raise UpstreamTimeout(f"backend {self.backend_id} timed out") from None
        except ssl.SSLCertVerificationError:
            self.forget(conn)
            raise UpstreamError(f"backend {self.backend_id} has a TLS certificate that cannot be verified") from None
        except (OSError, ValueError):  # ValueError: a host name getaddrinfo cannot encode (UnicodeError)
            self.forget(conn)
            raise UpstreamError(f"backend {self.backend_id} is unreachable") from None
        except BaseException:  # cancelled while connecting: the slot must not stay taken
            self.forget(conn)
            conn.abort()
            raise
        return conn

    def put_back(self, conn: Connection) -> None:
        self._idle.append(conn)
        self._next_turn()

    def forget(self, conn: Connection) -> None:
        if conn in self._open:
            self._open.discard(conn)
            if conn in self._idle:
                self._idle.remove(conn)
            self._next_turn()

    def _next_turn(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)
                return

    def close(self) -> None:
        self._closed = True
        for conn in list(self._open):
            conn.abort()
        self._idle.clear()
        while self._waiting:  # every waiter learns the pool is closed, not only as many as there were connections
            self._next_turn()
