"""A local media server on 127.0.0.1 and fetchers that may reach it only as ``media.example:<its port>``.

Tests never touch real DNS or any host but 127.0.0.1: names are answered by :class:`FakeResolver`, and the only
non-public address any policy here permits is 127.0.0.1, bound to the name ``media.example`` and the server's port.
So a redirect to ``http://127.0.0.1:<port>/`` (an IP literal, no name) or to another port is still refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler

from regiongate.media.addresses import AddressPolicy, IPAddress, NetworkPermit
from regiongate.media.fetch import FetchLimits, SafeFetcher

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 56
LOOPBACK = ip_address("127.0.0.1")


class FakeResolver:
    """Answers from a table; a name with several answers gives them in turn (the last one repeats). Records calls."""

    def __init__(self, table: Mapping[str, Sequence[Sequence[str]]]) -> None:
        self._table = {name: [[ip_address(a) for a in answer] for answer in answers] for name, answers in table.items()}
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append((host, port))
        answers = self._table.get(host)
        if not answers:
            raise OSError(f"no such name {host!r}")
        return answers[min(len(self.calls_for(host)) - 1, len(answers) - 1)]

    def calls_for(self, host: str) -> list[tuple[str, int]]:
        return [call for call in self.calls if call[0] == host]


@dataclass(frozen=True)
class Seen:
    path: str
    host: str
    headers: dict[str, str]


@dataclass
class MediaServer:
    server: TestServer
    requests: list[Seen] = field(default_factory=list)

    @property
    def port(self) -> int:
        port = self.server.port
        assert port is not None
        return port

    def url(self, path: str) -> str:
        return f"http://media.example:{self.port}{path}"

    def policy(self, *, enabled: bool = True, allowed_hosts: frozenset[str] = frozenset()) -> AddressPolicy:
        permit = NetworkPermit(ip_network("127.0.0.1/32"), hostname="media.example", port=self.port)
        return AddressPolicy(enabled=enabled, allowed_hosts=allowed_hosts, permits=(permit,))

    def fetcher(
        self,
        resolver: FakeResolver | None = None,
        limits: FetchLimits | None = None,
        *,
        enabled: bool = True,
        allowed_hosts: frozenset[str] = frozenset(),
    ) -> SafeFetcher:
        resolver = resolver or FakeResolver({"media.example": [["127.0.0.1"]]})
        policy = self.policy(enabled=enabled, allowed_hosts=allowed_hosts)
        return SafeFetcher(policy, limits or FetchLimits(timeout=5), resolver=resolver)


def _app(requests: list[Seen]) -> web.Application:
    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        requests.append(Seen(request.path, request.host, dict(request.headers)))
        return await handler(request)

    app = web.Application(middlewares=[record])
    app.router.add_get("/png", _png)
    app.router.add_get("/html-as-png", _html_as_png)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/loop", _loop)
    app.router.add_get("/chain/{n}", _chain)
    app.router.add_get("/stream/{size}", _stream)
    app.router.add_get("/declared/{size}", _declared)
    app.router.add_get("/slow", _slow)
    app.router.add_get("/gzip", _gzip)
    app.router.add_get("/missing", _missing)
    app.router.add_get("/set-cookie", _set_cookie)
    return app


async def _png(request: web.Request) -> web.Response:
    # A lying Content-Type: the fetcher must go by the bytes.
    return web.Response(body=PNG, content_type="text/html")


async def _html_as_png(request: web.Request) -> web.Response:
    return web.Response(body=b"<html><script>alert(1)</script></html>", content_type="image/png")


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound(request.query["to"])


async def _loop(request: web.Request) -> web.Response:
    raise web.HTTPFound("/loop")


async def _chain(request: web.Request) -> web.Response:
    n = int(request.match_info["n"])
    if n == 0:
        return web.Response(body=PNG)
    raise web.HTTPTemporaryRedirect(f"/chain/{n - 1}")


async def _stream(request: web.Request) -> web.StreamResponse:
    """``size`` bytes of PNG-led data, chunked: no Content-Length warns the client."""
    size = int(request.match_info["size"])
    response = web.StreamResponse()
    response.enable_chunked_encoding()
    await response.prepare(request)
    try:
        await response.write(PNG)
        for offset in range(len(PNG), size, 1024):
            await response.write(b"\x00" * min(1024, size - offset))
        await response.write_eof()
    except ConnectionError:
        pass  # the client stopped reading at its cap
    return response


async def _declared(request: web.Request) -> web.Response:
    size = int(request.match_info["size"])
    return web.Response(body=PNG + b"\x00" * (size - len(PNG)))


async def _slow(request: web.Request) -> web.StreamResponse:
    """Headers at once, then a byte every 50 ms for up to 5 s: only a total time cap stops it."""
    response = web.StreamResponse()
    response.content_length = 1000
    await response.prepare(request)
    try:
        for _ in range(100):
            await response.write(b"\x00")
            await asyncio.sleep(0.05)
    except ConnectionError:
        pass
    return response


async def _gzip(request: web.Request) -> web.Response:
    return web.Response(body=b"\x1f\x8b\x08\x00", headers={"Content-Encoding": "gzip"})


async def _missing(request: web.Request) -> web.Response:
    raise web.HTTPNotFound()


async def _set_cookie(request: web.Request) -> web.Response:
    response = web.HTTPFound("/png")
    response.set_cookie("session", "secret")
    raise response


@pytest.fixture
async def media_server() -> AsyncIterator[MediaServer]:
    requests: list[Seen] = []
    server = TestServer(_app(requests), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield MediaServer(server, requests)
    finally:
        await server.close()
