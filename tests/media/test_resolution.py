"""Resolution and pinning: every answer is checked, there is exactly one lookup, and the socket goes to it.

Connections to "public" addresses are intercepted at aiohttp's socket-opening step (``_wrap_create_connection``),
which records where aiohttp would connect and with which TLS server name, then fails: no packet leaves the host.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from regiongate.media.addresses import AddressPolicy
from regiongate.media.errors import FetchFailed, FetchRefused
from regiongate.media.fetch import SafeFetcher, system_resolver
from tests.media.conftest import FakeResolver, MediaServer


@dataclass
class Connects:
    """What aiohttp tried to connect to: ``(host, port)`` per attempt, and the TLS server names."""

    addresses: list[list[tuple[str, int]]] = field(default_factory=list)
    server_hostnames: list[str | None] = field(default_factory=list)


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> Connects:
    seen = Connects()

    async def intercept(self: aiohttp.TCPConnector, *args: Any, addr_infos: list[Any], **kwargs: Any) -> Any:
        seen.addresses.append([info[4][:2] for info in addr_infos])
        seen.server_hostnames.append(kwargs.get("server_hostname"))
        raise OSError("intercepted by the test: no real connection")

    monkeypatch.setattr(aiohttp.TCPConnector, "_wrap_create_connection", intercept)
    return seen


def _fetcher(resolver: FakeResolver, policy: AddressPolicy | None = None) -> SafeFetcher:
    return SafeFetcher(policy, resolver=resolver)


async def test_dns_rebinding_gets_one_lookup_and_the_socket_goes_to_the_checked_address(connects: Connects) -> None:
    # A rebinding name: public on the first lookup, loopback on every later one.
    resolver = FakeResolver({"cdn.example": [["93.184.215.14"], ["127.0.0.1"]]})
    with pytest.raises(FetchFailed) as caught:
        await _fetcher(resolver).fetch("https://cdn.example/cat.png")
    assert caught.value.reason == "connection"
    assert resolver.calls == [("cdn.example", 443)]
    assert connects.addresses == [[("93.184.215.14", 443)]]
    assert connects.server_hostnames == ["cdn.example"]  # TLS SNI (and certificate check) stay on the name


async def test_dns_rebinding_against_the_local_server_never_asks_the_system_resolver(
    media_server: MediaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_lookup(*args: object, **kwargs: object) -> object:
        raise AssertionError(f"second lookup: {args}")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_lookup)
    resolver = FakeResolver({"media.example": [["127.0.0.1"], ["169.254.169.254"]]})
    media = await media_server.fetcher(resolver).fetch(media_server.url("/png"))
    assert media.url == media_server.url("/png")
    assert len(resolver.calls) == 1
    assert len(media_server.requests) == 1


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (["127.0.0.1"], "loopback"),
        (["127.9.9.9"], "loopback"),
        (["::1"], "loopback"),
        (["0.0.0.0"], "unspecified"),
        (["10.1.2.3"], "private"),
        (["100.64.0.1"], "cgnat"),
        (["169.254.169.254"], "metadata"),
        (["fd00:ec2::254"], "metadata"),
        (["168.63.129.16"], "metadata"),
        (["100.100.100.200"], "metadata"),
        (["64:ff9b::a00:1"], "private"),  # NAT64 of 10.0.0.1
        (["2002:c0a8:101::1"], "private"),  # 6to4 of 192.168.1.1
        (["::ffff:7f00:1"], "loopback"),
        (["fe80::1"], "link_local"),
        (["fc00::1"], "ula"),
        (["224.0.0.1"], "multicast"),
        # One public and one private answer: refused, since aiohttp may pick either and the attacker orders them.
        (["93.184.215.14", "10.0.0.1"], "private"),
        (["2606:4700::1", "::1"], "loopback"),
    ],
)
async def test_a_name_resolving_to_any_non_public_address_is_refused_before_connecting(
    connects: Connects, answer: list[str], reason: str
) -> None:
    resolver = FakeResolver({"cdn.example": [answer]})
    with pytest.raises(FetchRefused) as caught:
        await _fetcher(resolver).fetch("http://cdn.example/cat.png")
    assert caught.value.reason == reason
    assert connects.addresses == []


async def test_all_checked_addresses_and_only_those_are_offered_to_the_connector(connects: Connects) -> None:
    resolver = FakeResolver({"cdn.example": [["93.184.215.14", "64:ff9b::808:808", "93.184.215.14"]]})
    with pytest.raises(FetchFailed):
        await _fetcher(resolver).fetch("http://cdn.example:8080/cat.png")
    assert sorted(connects.addresses[0]) == [("64:ff9b::808:808", 8080), ("93.184.215.14", 8080)]


async def test_resolution_failures_are_fetch_failures(connects: Connects) -> None:
    resolver = FakeResolver({"empty.example": [[]]})
    for url in ("http://nowhere.example/", "http://empty.example/"):
        with pytest.raises(FetchFailed) as caught:
            await _fetcher(resolver).fetch(url)
        assert caught.value.reason == "dns"
    assert connects.addresses == []


async def test_public_ip_literal_is_connected_to_without_any_lookup(connects: Connects) -> None:
    resolver = FakeResolver({})
    with pytest.raises(FetchFailed):
        await _fetcher(resolver).fetch("http://[2606:4700::1]:8443/x.png")
    assert resolver.calls == []
    assert connects.addresses == [[("2606:4700::1", 8443)]]


async def test_system_resolver_asks_for_the_absolute_name(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[object, ...]] = []

    async def fake_getaddrinfo(host: str, port: int, **kwargs: object) -> list[tuple[Any, ...]]:
        asked.append((host, port))
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:4700::1", port, 0, 0))]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake_getaddrinfo)
    assert [str(a) for a in await system_resolver("cdn.example", 443)] == ["2606:4700::1"]
    # The trailing dot stops the resolver's search list from turning a name into an internal one.
    assert asked == [("cdn.example.", 443)]
