"""Fetch media URLs in-region without letting a client reach private addresses (SSRF).

Each hop: check the URL (:mod:`regiongate.media.urls`), resolve the name once, refuse if *any* address is not
public, then connect to exactly those addresses: aiohttp is given a resolver that can only answer the checked
addresses for the checked name, so there is no second lookup for a DNS-rebinding server to answer differently.
The Host header and TLS SNI stay the original name. Redirects are followed by hand so every hop is re-checked.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from regiongate.media.addresses import AddressPolicy, IPAddress
from regiongate.media.data_url import decode_data_url, identify, is_data_url
from regiongate.media.errors import FetchError, FetchFailed, FetchTimeout, FetchTooLarge
from regiongate.media.sniff import Media
from regiongate.media.urls import Target, check_addresses, check_url
from regiongate.topology.records import Modality

Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
"""Resolve ``(hostname, port)`` to addresses. Injectable so tests never touch real DNS."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_OK = frozenset({200, 203})
_CHUNK = 64 * 1024
_HEADERS = {"User-Agent": "regiongate-media-fetcher", "Accept": "*/*", "Accept-Encoding": "identity"}


@dataclass(frozen=True, slots=True)
class FetchLimits:
    max_bytes: int = 20 * 1024 * 1024
    timeout: float = 15.0  # seconds for the whole fetch: every lookup, hop and byte
    max_redirects: int = 3


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Resolve with the event loop's ``getaddrinfo``, as an absolute name (trailing dot) so the resolver's search
    list cannot turn it into an internal name."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host + ".", port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [ip_address(sockaddr[0]) for _, _, _, _, sockaddr in infos]


class _PinnedResolver(AbstractResolver):
    """aiohttp's resolver for one fetch: answers only the name just checked, with only its checked addresses."""

    def __init__(self) -> None:
        self._host = ""
        self._addresses: tuple[IPAddress, ...] = ()

    def pin(self, host: str, addresses: tuple[IPAddress, ...]) -> None:
        self._host, self._addresses = host, addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host != self._host:
            # Fail closed if aiohttp ever asks about a name we did not check.
            raise OSError(f"{host!r} was not checked")
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET if address.version == 4 else socket.AF_INET6,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in self._addresses
            if family in (socket.AF_UNSPEC, socket.AF_INET if address.version == 4 else socket.AF_INET6)
        ]

    async def close(self) -> None:
        return None


class SafeFetcher:
    """Fetches http(s) and decodes data: media URLs under an :class:`AddressPolicy`. Stateless between fetches."""

    def __init__(
        self,
        policy: AddressPolicy | None = None,
        limits: FetchLimits | None = None,
        *,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.policy = policy or AddressPolicy()
        self.limits = limits or FetchLimits()
        self._resolve = resolver

    async def fetch(self, url: str, *, param: str | None = None, expect: Modality | None = None) -> Media:
        """Return the media at ``url``. Every failure is a :class:`FetchError` (400 ``invalid_media``) carrying
        ``param``, the content part's path such as ``messages[0].content[2]``."""
        try:
            if is_data_url(url):
                return decode_data_url(url, max_bytes=self.limits.max_bytes, expect=expect)
            data, final = await self._fetch_with_deadline(url)
            return identify(data, url=final, expect=expect)
        except FetchError as error:
            error.param = error.param or param
            raise

    async def _fetch_with_deadline(self, url: str) -> tuple[bytes, str]:
        try:
            async with asyncio.timeout(self.limits.timeout):
                return await self._fetch_http(url)
        except TimeoutError:
            raise FetchTimeout(detail=url) from None

    async def _fetch_http(self, url: str) -> tuple[bytes, str]:
        target = check_url(url, self.policy)
        resolver = _PinnedResolver()
        # A fresh connector per fetch with no DNS cache and no keep-alive: nothing checked for an earlier fetch
        # or hop can be reused for this one.
        connector = aiohttp.TCPConnector(resolver=resolver, use_dns_cache=False, force_close=True)
        async with aiohttp.ClientSession(
            connector=connector,
            trust_env=False,  # never route through proxies named in the environment
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # the byte cap must count the bytes we hold, not a compressed stream
            timeout=aiohttp.ClientTimeout(total=self.limits.timeout),
        ) as session:
            for _ in range(self.limits.max_redirects + 1):
                resolver.pin(target.host.text, await self._checked_addresses(target))
                result = await self._request(session, target)
                if isinstance(result, bytes):
                    return result, str(target.url)
                target = check_url(str(result), self.policy, previous=target)
        raise FetchFailed("too_many_redirects", detail=str(target.url))

    async def _checked_addresses(self, target: Target) -> tuple[IPAddress, ...]:
        if target.host.address is not None:
            return check_addresses(target, (target.host.address,), self.policy)
        hostname = target.host.text
        try:
            addresses = await self._resolve(hostname, target.port)
        except OSError as error:
            raise FetchFailed("dns", detail=f"{hostname}: {error}") from None
        if not addresses:
            raise FetchFailed("dns", detail=f"{hostname}: no addresses")
        return check_addresses(target, addresses, self.policy)

    async def _request(self, session: aiohttp.ClientSession, target: Target) -> bytes | URL:
        """The body of a successful response, or the absolute URL a redirect points to."""
        try:
            async with session.get(target.url, allow_redirects=False, headers=_HEADERS) as response:
                if response.status in _REDIRECTS:
                    return _location(response, target)
                if response.status not in _OK:
                    raise FetchFailed("http_status", detail=f"{target.url}: {response.status}")
                return await _read_capped(response, self.limits.max_bytes)
        except TimeoutError:
            raise  # aiohttp's timeouts are also ClientErrors; keep them timeouts
        except (aiohttp.ClientError, OSError) as error:
            raise FetchFailed("connection", detail=f"{target.url}: {error!r}") from None


def _location(response: aiohttp.ClientResponse, target: Target) -> URL:
    location = response.headers.get("Location")
    if not location:
        raise FetchFailed("bad_redirect", detail=f"{target.url}: {response.status} without Location")
    try:
        return target.url.join(URL(location))
    except ValueError:
        raise FetchFailed("bad_redirect", detail=f"{target.url}: Location {location!r}") from None


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    """Read the body, stopping as soon as it passes ``max_bytes``: never hold more than the cap plus one chunk."""
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding != "identity":
        raise FetchFailed("content_encoding", detail=encoding)
    if response.content_length is not None and response.content_length > max_bytes:
        raise FetchTooLarge(detail=f"Content-Length {response.content_length}")
    body = bytearray()
    while chunk := await response.content.read(min(_CHUNK, max_bytes + 1 - len(body))):
        body += chunk
        if len(body) > max_bytes:
            raise FetchTooLarge(detail=f"more than {max_bytes} bytes")
    return bytes(body)
