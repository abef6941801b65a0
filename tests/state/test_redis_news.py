"""Breaker news through a real Redis's pub/sub (127.0.0.1:6379 unless REGIONGATE_TEST_REDIS_URL says)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from regiongate.state.redis_news import RedisBreakerNews
from tests.engine.conftest import free_port
from tests.state.test_redis_permits import REDIS_URL

Heard = list[tuple[str, bool]]
Gateway = Callable[..., tuple[RedisBreakerNews, Heard]]


class CutLink:
    """A TCP relay to the Redis whose open connections can be cut (an outage as a gateway sees it), or silenced:
    still open, nothing passing (a peer gone without a word, as behind a dropped NAT entry)."""

    def __init__(self) -> None:
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None
        self._silenced: set[int] = set()  # ids of the connections whose bytes are dropped
        self._connections = 0

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}{urlsplit(REDIS_URL).path}"

    def silence(self) -> None:
        """Drop the bytes of every connection open so far; new connections pass."""
        self._silenced.update(range(self._connections))

    def cut(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        target = urlsplit(REDIS_URL)
        redis_in, redis_out = await asyncio.open_connection(target.hostname, target.port or 6379)
        self._writers += [client_out, redis_out]
        connection, self._connections = self._connections, self._connections + 1

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    if connection in self._silenced:
                        continue
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(client_in, redis_out), pipe(redis_in, client_out))


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    """Gateway processes of one deployment (a namespace of their own), each hearing into a list; closed at the end."""
    made: list[RedisBreakerNews] = []
    namespace = f"regiongate-test-{secrets.token_hex(6)}"

    def make(within: str = namespace, url: str = REDIS_URL, liveness: float = 10.0) -> tuple[RedisBreakerNews, Heard]:
        news = RedisBreakerNews.from_url(url, namespace=within, backoff=(0.05, 0.2), liveness=liveness)
        heard: Heard = []
        news.start(lambda backend, opened: heard.append((backend, opened)))
        made.append(news)
        return news, heard

    yield make
    for news in made:
        await news.close()


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Poll: what is awaited happens in another task's callbacks, with no event to wait on."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_news_reaches_every_other_gateway_and_never_its_teller(gateway: Gateway) -> None:
    (teller, told_self), (peer, heard), (other, heard_too) = gateway(), gateway(), gateway()
    for news in (teller, peer, other):
        await asyncio.wait_for(news.subscribed.wait(), 5)
    told = [(f"b{i % 3}", i % 2 == 0) for i in range(40)]
    for backend, opened in told:  # in the order told: a "closed" must never overtake its "opened"
        teller.opened(backend) if opened else teller.closed(backend)
    await until(lambda: len(heard) == len(heard_too) == len(told))
    assert heard == heard_too == told
    await asyncio.sleep(0.1)
    assert told_self == []


async def test_deployments_sharing_a_redis_server_do_not_hear_each_other(gateway: Gateway) -> None:
    (teller, _), (ours, heard), (theirs, overheard) = gateway(), gateway(), gateway(within="another-deployment")
    for news in (teller, ours, theirs):
        await asyncio.wait_for(news.subscribed.wait(), 5)
    teller.opened("par-1-cpu")
    await until(lambda: heard == [("par-1-cpu", True)])
    await asyncio.sleep(0.1)
    assert overheard == []


async def test_a_malformed_message_is_ignored_and_news_keeps_arriving(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    (teller, _), (peer, heard) = gateway(), gateway()
    for news in (teller, peer):
        await asyncio.wait_for(news.subscribed.wait(), 5)
    raw = Redis.from_url(REDIS_URL)
    try:
        for junk in (b"not json", b'{"origin": "x", "backend": "a"}', b'{"origin": 1, "backend": "a", "opened": 1}'):
            await raw.publish(peer.channel, junk)
    finally:
        await raw.aclose()
    with caplog.at_level(logging.WARNING, logger="regiongate.state"):
        teller.opened("gru-1-ppu")
        await until(lambda: heard == [("gru-1-ppu", True)])
    assert caplog.text.count("ignored a malformed message") == 6  # each of the two gateways ignored each of three


async def test_a_cut_connection_is_reconnected_and_said_once(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    link = CutLink()
    url = await link.start()
    try:
        (teller, _), (peer, heard) = gateway(), gateway(url=url)
        await asyncio.wait_for(peer.subscribed.wait(), 5)
        with caplog.at_level(logging.WARNING, logger="regiongate.state"):
            link.cut()
            await until(lambda: not peer.subscribed.is_set())
            await asyncio.wait_for(peer.subscribed.wait(), 5)
        teller.opened("hgh-1-ascend")
        await until(lambda: heard == [("hgh-1-ascend", True)])
        assert caplog.text.count("breaker news from the other gateways is not arriving") == 1
    finally:
        await link.stop()


async def test_telling_an_unreachable_redis_never_raises_and_closing_still_ends(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    news, _ = gateway(url=f"redis://127.0.0.1:{free_port()}/0")
    with caplog.at_level(logging.WARNING, logger="regiongate.state"):
        news.opened("ams-1-mi300")  # returns at once: the request that failed is not held up
        await until(lambda: "is not arriving" in caplog.text)
        await asyncio.wait_for(news.close(), 5)
        await asyncio.wait_for(news.close(), 5)  # twice is harmless
    assert "could not tell the other gateways about ams-1-mi300" in caplog.text


async def test_a_subscription_gone_silent_is_found_dead_and_replaced(gateway: Gateway) -> None:
    link = CutLink()
    url = await link.start()
    try:
        (teller, _), (peer, heard) = gateway(), gateway(url=url, liveness=0.1)
        await asyncio.wait_for(peer.subscribed.wait(), 5)
        await asyncio.sleep(0.3)  # quiet, yet alive: its PINGs are answered
        assert peer.subscribed.is_set()
        link.silence()  # no error, no close: only silence
        await until(lambda: not peer.subscribed.is_set())
        await asyncio.wait_for(peer.subscribed.wait(), 5)  # on a new connection
        teller.opened("fra-1-h20")
        await until(lambda: heard == [("fra-1-h20", True)])
    finally:
        await link.stop()
