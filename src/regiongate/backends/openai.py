"""Adapter for OpenAI-compatible servers: vLLM, SGLang, llama.cpp server, Ollama's /v1, TGI, the embedded engine.

One pooled aiohttp session per backend. aiohttp's exceptions and the backend's status codes are mapped here, by
type, to the upstream errors of :mod:`regiongate.errors`; the rest of the gateway never sees aiohttp errors.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import msgspec
from yarl import URL

from regiongate.backends.protocol import Endpoint
from regiongate.errors import UpstreamError, UpstreamOverloaded, UpstreamRejected, UpstreamTimeout

# Client errors a backend may rightly blame on the request itself; anything else in 4xx means the backend or the
# topology is wrong (e.g. 404: the topology says it serves the model) and another candidate should be tried.
_RELAYED_CLIENT_STATUSES = frozenset({400, 413, 422})
_ERROR_BODY_LIMIT = 64 * 1024
# Bodies above this (media) go as a BytesIO, which aiohttp writes in chunks, yielding to the loop between them (it
# warns about larger raw bytes).
_LARGE_BODY = 1024 * 1024


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


def map_client_exception(exc: BaseException, backend_id: str) -> UpstreamError:
    """aiohttp/asyncio failures → upstream errors, by type."""
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return UpstreamTimeout(f"backend {backend_id} timed out")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamError(f"backend {backend_id} is unreachable")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientOSError):
        return UpstreamError(f"backend {backend_id} dropped the connection")
    return UpstreamError(f"backend {backend_id} failed ({type(exc).__name__})")


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
    __slots__ = ("_backend_id", "_response", "content_type", "status")

    def __init__(self, response: aiohttp.ClientResponse, backend_id: str) -> None:
        self._response = response
        self._backend_id = backend_id
        self.status = response.status
        self.content_type = response.headers.get("Content-Type", "application/json")

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise map_client_exception(exc, self._backend_id) from exc
        finally:
            self._response.release()

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_any():
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise map_client_exception(exc, self._backend_id) from exc
        finally:
            self._response.release()

    def close(self) -> None:
        self._response.close()


class OpenAIUpstream:
    def __init__(self, backend_id: str, base_url: str, *, timeouts: Timeouts, max_connections: int = 256) -> None:
        self.backend_id = backend_id
        self._base = base_url.rstrip("/")
        # Parsed once: aiohttp would otherwise parse the URL string on every request.
        self._urls = {endpoint: URL(f"{self._base}/{endpoint.value}") for endpoint in Endpoint}
        self._timeouts = timeouts
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created lazily so it binds to the running loop; one pool per backend keeps connections warm.
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=60)
            # One socket-read deadline bounds every wait for the backend's next byte, the status line included (a
            # non-streamed answer's headers come only when generation is done). aiohttp keeps that timer anyway, so
            # a separate per-request deadline would only add a second timer to every request.
            silence = max(self._timeouts.first_byte, self._timeouts.read)
            timeout = aiohttp.ClientTimeout(total=None, connect=self._timeouts.connect, sock_read=silence)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                trust_env=False,
                auto_decompress=True,
                headers={"Content-Type": "application/json"},  # the only header sent: every body is JSON
            )
        return self._session

    async def send(self, endpoint: Endpoint, body: bytes) -> OpenAIReply:
        try:
            data = io.BytesIO(body) if len(body) > _LARGE_BODY else body
            response = await self._client().post(self._urls[endpoint], data=data)
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise map_client_exception(exc, self.backend_id) from exc
        if response.status >= 300:
            try:
                raw = await response.content.read(_ERROR_BODY_LIMIT)
            except (TimeoutError, aiohttp.ClientError):
                raw = b""
            finally:
                response.release()
            raise map_status(response.status, raw, self.backend_id)
        return OpenAIReply(response, self.backend_id)

    async def probe(self) -> bool:
        try:
            async with asyncio.timeout(self._timeouts.connect + 2.0):
                response = await self._client().get(f"{self._base}/models")
                async with response:
                    await response.read()
                    return response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            return False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
