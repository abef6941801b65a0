"""Concurrency permits in Redis (:class:`regiongate.routing.permits.Permits`), shared by every gateway process
that uses the same Redis: a region's, or a whole deployment's.

One sorted set per backend, ``regiongate:permits:<backend>``: its members are the permits held, a random token
each, scored by the time they lapse. A backend's bound is its own whatever gateway calls it, so the key names the
backend alone; gateways that use another Redis are not counted. One Lua script takes a permit atomically (drop
lapsed permits, count, add if under the limit); ``ZREM`` gives it back. Times are Redis's own clock (``TIME``),
so the clocks of gateway hosts never matter.

A process renews the permits it holds every third of their lifetime. One that dies stops renewing, and its permits
lapse within ``lease_seconds``: a dead gateway never holds a backend full for longer. A process stalled for longer
than that loses its permits and may briefly exceed the bound by what it held; a shorter lifetime costs more
renewals. Redis is the only count, so while it cannot be reached requests to capped backends fail (503
``state_unavailable``) before anything is sent, instead of guessing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from functools import partial

from redis.asyncio import Redis
from redis.exceptions import RedisError

from regiongate.errors import StateUnavailable
from regiongate.routing.permits import Release

log = logging.getLogger("regiongate.state")

_ACQUIRE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
return 1
"""

_RENEW = """
local now = redis.call('TIME')
local lapse = tonumber(now[1]) + tonumber(now[2]) / 1000000 + tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', lapse, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000))
return 1
"""


class RedisPermits:
    def __init__(self, client: Redis, *, lease_seconds: float = 30.0, namespace: str = "regiongate") -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self._client = client
        self._prefix = f"{namespace}:permits:"
        self._lease = lease_seconds
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._held: dict[str, set[str]] = {}
        self._returning: set[asyncio.Task[None]] = set()
        self._renewer: asyncio.Task[None] | None = None

    @classmethod
    def from_url(
        cls, url: str, *, lease_seconds: float = 30.0, timeout: float = 1.0, namespace: str = "regiongate"
    ) -> RedisPermits:
        """``timeout`` bounds each call to Redis: a request waits at most that long before its 503."""
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(client, lease_seconds=lease_seconds, namespace=namespace)

    async def check(self) -> None:
        """At start: Redis answers (a gateway that cannot count permits must not start)."""
        try:
            await self._client.ping()
        except RedisError as exc:
            raise StateUnavailable(f"Redis does not answer: {exc}") from exc

    async def acquire(self, backend_id: str, limit: int) -> Release | None:
        token = secrets.token_hex(8)
        # Cancelled while Redis runs the script, a permit may be granted that this process never learns of: it is
        # never renewed, so it lapses like a dead process's.
        try:
            granted = await self._acquire(keys=[self._prefix + backend_id], args=[limit, self._lease, token])
        except RedisError as exc:
            raise StateUnavailable(
                "The gateways' shared state cannot be reached to count the backend's concurrency: nothing was sent. "
                "Retry later."
            ) from exc
        if not granted:
            return None
        self._held.setdefault(backend_id, set()).add(token)
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew_forever(), name="permit-renewal")
        return partial(self._release, backend_id, token)

    def held(self, backend_id: str) -> int:
        return len(self._held.get(backend_id, ()))

    def _release(self, backend_id: str, token: str) -> None:
        tokens = self._held.get(backend_id)
        if tokens is None or token not in tokens:
            return  # already given back
        tokens.discard(token)
        task = asyncio.get_running_loop().create_task(self._give_back(backend_id, token))
        self._returning.add(task)
        task.add_done_callback(self._returning.discard)

    async def _give_back(self, backend_id: str, token: str) -> None:
        try:
            await self._client.zrem(self._prefix + backend_id, token)
        except RedisError as exc:
            lapse = self._lease
            log.warning("could not give back a permit for %s (%s); it lapses within %.0f s", backend_id, exc, lapse)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            await self.renew()

    async def renew(self) -> None:
        """Push back the lapse time of every permit this process holds."""
        for backend_id, tokens in list(self._held.items()):
            if not tokens:
                continue
            try:
                await self._renew(keys=[self._prefix + backend_id], args=[self._lease, *tokens])
            except RedisError as exc:
                log.warning("could not renew permits for %s: %s", backend_id, exc)

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        for backend_id, tokens in list(self._held.items()):
            for token in list(tokens):
                self._release(backend_id, token)
        if self._returning:
            await asyncio.gather(*self._returning)
        await self._client.aclose()
