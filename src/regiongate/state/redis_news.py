"""Breaker news over Redis pub/sub: what one gateway process's breakers learn, its peers hear within milliseconds.

One channel per deployment (``<namespace>:breakers``); a message is ``{"origin", "backend", "opened"}`` as JSON.
Each process signs its messages with a random origin and ignores its own. Telling never holds a request up: one
background task publishes the news in the order it was told (an "opened" overtaken by its "closed" would leave
peers shunning a backend that is back), and a failed publish is logged and dropped. Pub/sub is at most once, and that is
enough here: news only spares peers from learning with their own requests what one process already learned, and a
process that misses some (Redis unreachable, reconnecting) still has its own breakers. The listener reconnects on
its own, with a bounded backoff, and says once per outage that news is not arriving. A subscription stays silent
while no breaker changes, so after ``liveness`` seconds of silence it sends a PING: a connection that does not
answer the next ``liveness`` seconds is dead however quiet TCP keeps about it, and is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from regiongate.routing.news import Listener

log = logging.getLogger("regiongate.state")


class _News(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    origin: str
    backend: str
    opened: bool


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_News).decode


class RedisBreakerNews:
    def __init__(
        self,
        publisher: Redis,
        subscriber: Redis,
        *,
        namespace: str = "regiongate",
        backoff: tuple[float, float] = (0.1, 5.0),
        liveness: float = 10.0,
    ) -> None:
        """``subscriber`` must have no socket timeout: its connection is silent while no breaker changes."""
        self._publisher = publisher
        self._subscriber = subscriber
        self.channel = f"{namespace}:breakers"
        self.origin = secrets.token_hex(8)
        self._backoff = backoff
        self._liveness = liveness
        # Bounded: while Redis is slow, the oldest news is dropped first (peers learn it from their own requests).
        self._outbox: deque[tuple[str, bytes]] = deque(maxlen=1024)
        self._sender: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()  # set while the listener is subscribed (tests wait for it)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        timeout: float = 1.0,
        namespace: str = "regiongate",
        backoff: tuple[float, float] = (0.1, 5.0),
        liveness: float = 10.0,
    ) -> RedisBreakerNews:
        """``backoff``: the first and the longest wait before the listener reconnects after an outage."""
        publisher = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        subscriber = Redis.from_url(url, socket_connect_timeout=timeout)
        return cls(publisher, subscriber, namespace=namespace, backoff=backoff, liveness=liveness)

    def opened(self, backend_id: str) -> None:
        self._tell(backend_id, True)

    def closed(self, backend_id: str) -> None:
        self._tell(backend_id, False)

    def _tell(self, backend_id: str, opened: bool) -> None:
        self._outbox.append((backend_id, _encode(_News(self.origin, backend_id, opened))))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send(), name="breaker-news-out")

    async def _send(self) -> None:
        while self._outbox:
            await self._publish(*self._outbox.popleft())

    async def _publish(self, backend_id: str, message: bytes) -> None:
        try:
            await self._publisher.publish(self.channel, message)
        except RedisError as exc:  # the peers learn it from their own requests instead
            log.warning("could not tell the other gateways about %s's breaker: %s", backend_id, exc)

    def start(self, listener: Listener) -> None:
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen(listener), name="breaker-news")

    async def _listen(self, listener: Listener) -> None:
        wait, outage = self._backoff[0], False
        while True:
            try:
                await self._follow(listener)
                return  # the subscription ended without an error: closing
            except (RedisError, OSError) as exc:
                if self.subscribed.is_set():  # it had been working: a new outage, retried quickly at first
                    self.subscribed.clear()
                    wait, outage = self._backoff[0], False
                if not outage:
                    log.warning("breaker news from the other gateways is not arriving (%s); reconnecting", exc)
                    outage = True
            await asyncio.sleep(wait)
            wait = min(wait * 2, self._backoff[1])

    async def _follow(self, listener: Listener) -> None:
        async with self._subscriber.pubsub(ignore_subscribe_messages=True) as pubsub:
            await pubsub.subscribe(self.channel)
            self.subscribed.set()
            pinged = False
            while True:
                message = await pubsub.get_message(timeout=self._liveness)
                if message is None:
                    if pinged:
                        raise RedisConnectionError("Redis did not answer a PING on the news subscription")
                    await pubsub.ping()
                    pinged = True
                    continue
                pinged = False  # anything heard proves the connection alive
                if message.get("type") == "message":
                    self._heard(message.get("data"), listener)

    def _heard(self, data: object, listener: Listener) -> None:
        if not isinstance(data, bytes):
            return
        try:
            news = _decode(data)
        except msgspec.DecodeError:
            log.warning("ignored a malformed message on %s", self.channel)
            return
        if news.origin != self.origin:
            listener(news.backend, news.opened)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._sender is not None:
            await self._sender
        await self._publisher.aclose()
        await self._subscriber.aclose()
