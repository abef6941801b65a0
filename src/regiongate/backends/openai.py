"""Adapter for OpenAI-compatible servers: vLLM, SGLang, llama.cpp server, Ollama's /v1, TGI, the embedded engine.

One pool of keep-alive HTTP/1.1 connections per backend (:mod:`regiongate.backends.http1`, which raises the upstream
errors of :mod:`regiongate.errors` by type); the backend's status codes are mapped here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import msgspec
from aiohttp import BasicAuth
from yarl import URL

from regiongate.backends.http1 import Connection, Origin, Pool
from regiongate.backends.protocol import Endpoint
from regiongate.errors import UpstreamError, UpstreamOverloaded, UpstreamRejected, UpstreamTimeout

# Client errors a backend may rightly blame on the request itself; anything else in 4xx means the backend or the
# topology is wrong (e.g. 404: the topology says it serves the model) and another candidate should be tried.
_RELAYED_CLIENT_STATUSES = frozenset({400, 413, 422})
_ERROR_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 3.0  # seconds to establish a connection
    first_byte: float = 120.0  # seconds of silence allowed before the status line (prefill, a non-streamed answer)
    read: float = 60.0  # seconds of silence allowed between chunks; the adapter enforces max(first_byte, read)


class _ErrorBody(msgspec.Struct):
    message: str = ""


class _ErrorEnvelope(msgspec.Struct):
    error: _ErrorBody | str | None = None
    message: str | None = None


def _upstream_message(raw: bytes, status: int) -> str:
    try:
        env = msgspec.json.decode(raw, type=_ErrorEnvelope)
    except msgspec.DecodeError:
        return f"HTTP {status}"
    if isinstance(env.error, _ErrorBody) and env.error.message:
        return env.error.message
    if isinstance(env.error, str):
        return env.error
    return env.message or f"HTTP {status}"


def map_status(status: int, raw: bytes, backend_id: str) -> UpstreamError | UpstreamRejected:
    message = _upstream_message(raw, status)
    if status in _RELAYED_CLIENT_STATUSES:
        return UpstreamRejected(message, status=status)
    if status == 429:
        return UpstreamOverloaded(f"backend {backend_id} is overloaded: {message}")
    if status == 504:
        return UpstreamTimeout(f"backend {backend_id} timed out: {message}")
    return UpstreamError(f"backend {backend_id} answered {status}: {message}")


class OpenAIReply:
    __slots__ = ("_backend_id", "_conn", "content_type", "status")

    def __init__(self, conn: Connection, backend_id: str) -> None:
        self._conn: Connection | None = conn  # None once given back: the connection may carry another request now
        self._backend_id = backend_id
        self.status = conn.status
        self.content_type = conn.content_type

    async def read(self) -> bytes:
        conn = self._taken()
        try:
            return await conn.read()
        finally:
            conn.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        conn = self._taken()
        try:
            async for chunk in conn.chunks():
                yield chunk
        finally:
            conn.release()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.abort()
            self._conn = None

    def _taken(self) -> Connection:
        if self._conn is None:
            raise UpstreamError(f"backend {self._backend_id}: this reply was already read or closed")
        conn, self._conn = self._conn, None
        return conn


async def _ask(conn: Connection, head: bytes, body: bytes) -> Connection:
    """Send a request on ``conn`` and wait for its status and headers; the connection is dropped on any failure."""
    try:
        conn.send(head, body)
        await conn.headers()
    except BaseException:
        conn.abort()
        raise
    return conn


class OpenAIUpstream:
    def __init__(self, backend_id: str, base_url: str, *, timeouts: Timeouts, max_connections: int = 256) -> None:
        self.backend_id = backend_id
        url = URL(base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.host or url.port is None:
            raise ValueError(f"backend {backend_id}: {base_url!r} is not an http(s) URL")
        credentials = BasicAuth.from_url(url)  # user:password in the base URL, as aiohttp's client sent them
        authorization = credentials.encode() if credentials is not None else None
        # raw_host: the name as it goes on the wire (IDNA for international names), for Host and for connecting.
        host = url.raw_host or url.host
        self._origin = Origin(host, url.port, url.scheme == "https", url.raw_path.rstrip("/"), authorization)
        # Built once: a request is this head, its Content-Length and its body.
        self._heads = {e: self._origin.head("POST", e.value, "application/json") for e in Endpoint}
        self._probe_head = self._origin.head("GET", "models", None)
        self._timeouts = timeouts
        self._max_connections = max_connections
        self._pool: Pool | None = None

    def _connections(self) -> Pool:
        # Created lazily so it binds to the running loop; one pool per backend keeps connections warm.
        if self._pool is None:
            # One deadline on silence bounds every wait for the backend's next byte, the status line included (a
            # non-streamed answer's headers come only when generation is done).
            silence = max(self._timeouts.first_byte, self._timeouts.read)
            self._pool = Pool(
                self.backend_id,
                self._origin,
                connect=self._timeouts.connect,
                silence=silence,
                limit=self._max_connections,
            )
        return self._pool

    async def _exchange(self, head: bytes, body: bytes) -> Connection:
        pool = self._connections()
        conn = await pool.connection()
        try:
            return await _ask(conn, head, body)
        except UpstreamError:
            if not conn.stale:
                raise
        # The backend had closed this kept-alive connection just as it was reused: the request never reached its
        # application, so it goes once more, over a new connection to the same backend.
        return await _ask(await pool.fresh(), head, body)

    async def send(self, endpoint: Endpoint, body: bytes) -> OpenAIReply:
        conn = await self._exchange(self._heads[endpoint], body)
        if conn.status >= 300:
            try:
                raw = await conn.read(_ERROR_BODY_LIMIT)
            except UpstreamError:
                raw = b""
            finally:
                conn.abort()
            raise map_status(conn.status, raw, self.backend_id)
        return OpenAIReply(conn, self.backend_id)

    async def probe(self) -> bool:
        try:
            async with asyncio.timeout(self._timeouts.connect + 2.0):
                conn = await self._exchange(self._probe_head, b"")
                try:
                    await conn.read()
                finally:
                    conn.release()
                return conn.status == 200
        except (TimeoutError, UpstreamError):
            return False

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
