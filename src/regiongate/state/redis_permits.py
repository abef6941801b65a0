"""Concurrency permits in Redis (:class:`regiongate.routing.permits.Permits`), shared by every gateway process
that uses the same Redis: a region's, or a whole deployment's.

One sorted set per backend, ``regiongate:permits:<backend>``: its members are the permits held, a random token
each, scored by the time they lapse. A backend's bound is its own whatever gateway calls it, so the key names the
backend alone; gateways that use another Redis are not counted. One Lua script takes a permit atomically (drop
lapsed permits, count, add if under the limit); ``ZREM`` gives it back. Times are Redis's own clock (``TIME``),
so the clocks of gateway hosts never matter.

A process renews the permits it holds every third of their lifetime. One that dies stops renewing, and its permits
lapse within ``lease_seconds``: a dead gateway never holds a backend full for longer. A live process that cannot
renew for longer than that (stalled, or cut off from Redis) loses the permits of requests it is still running: until
they end, the bound may be exceeded by what it held, and the next renewal logs a warning saying so. A shorter
lifetime costs more renewals. Redis is the only count, so while it cannot be reached requests to capped backends
fail (503 ``state_unavailable``) before anything is sent, instead of guessing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Coroutine
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
local lost = {}
for i = 2, #ARGV do
  if redis.call('ZADD', KEYS[1], 'XX', 'CH', lapse, ARGV[i]) == 0 and not redis.call('ZSCORE', KEYS[1], ARGV[i]) then
    lost[#lost + 1] = ARGV[i]
  end
end
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1]) * 1000))
return lost
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
        self._asking = 0  # acquires waiting for Redis's answer: close waits for them
        self._answered = asyncio.Event()
        self._answered.set()

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
        self._asking += 1
        self._answered.clear()
        try:
            granted = await self._acquire(keys=[self._prefix + backend_id], args=[limit, self._lease, token])
        except asyncio.CancelledError:
            # Cancelled while Redis ran the script, a permit may be granted that this process never learns of:
            # the token is given back at once rather than holding the backend for a whole lease.
            self._returned(self._give_back(backend_id, token, granted=False))
            raise
        except RedisError as exc:
            self._returned(self._give_back(backend_id, token, granted=False))  # a timeout may have lost the grant
            raise StateUnavailable(
                "The gateways' shared state cannot be reached to count the backend's concurrency: nothing was sent. "
                "Retry later."
            ) from exc
        finally:
            self._asking -= 1
            if not self._asking:
                self._answered.set()
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
        self._returned(self._give_back(backend_id, token))

    def _returned(self, giving_back: Coroutine[None, None, None]) -> None:
        """Give back without holding up the request; ``close`` waits for what is still on its way."""
        task = asyncio.get_running_loop().create_task(giving_back)
        self._returning.add(task)
        task.add_done_callback(self._returning.discard)

    async def _give_back(self, backend_id: str, token: str, *, granted: bool = True) -> None:
        """``granted=False``: a token that may never have been granted, whose removal failing is not worth a
        warning (it lapses anyway)."""
        try:
            await self._client.zrem(self._prefix + backend_id, token)
        except RedisError as exc:
            if granted:
                lapse = self._lease
                log.warning("could not give back a permit for %s (%s); it lapses within %.0f s", backend_id, exc, lapse)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                await self.renew()
            except Exception:  # a renewer that died would let every held permit lapse unnoticed
                log.exception("renewing permits failed; retrying in %.0f s", self._lease / 3)

    async def renew(self) -> None:
        """Push back the lapse time of every permit this process holds: every backend's in one round trip, so a
        slow Redis cannot stretch a round of renewals past a lease however many capped backends there are."""
        held = [(backend_id, tokens) for backend_id, tokens in self._held.items() if tokens]
        if not held:
            return
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                for backend_id, tokens in held:
                    await self._renew(keys=[self._prefix + backend_id], args=[self._lease, *tokens], client=pipe)
                answers = await pipe.execute(raise_on_error=False)
        except RedisError as exc:
            log.warning("could not renew permits for %s: %s", ", ".join(b for b, _ in held), exc)
            return
        for (backend_id, tokens), gone in zip(held, answers, strict=True):
            if isinstance(gone, Exception):
                log.warning("could not renew permits for %s: %s", backend_id, gone)
            else:
                self._lapsed(backend_id, tokens, gone)

    def _lapsed(self, backend_id: str, tokens: set[str], gone: list[bytes | str]) -> None:
        # Lapsed (renewals failed or this process stalled for a whole lease) while their requests still run: others
        # may have been granted them meanwhile. No longer held, they are said once and not renewed again; tokens
        # given back while the renewal ran are not lost.
        lost = {t.decode() if isinstance(t, bytes) else t for t in gone} & tokens
        tokens -= lost
        if lost:
            log.warning(
                "%d permit(s) for %s lapsed while their requests still run: until they end, it may have more "
                "than its max_concurrency in flight across the gateways",
                len(lost),
                backend_id,
            )

    async def close(self) -> None:
        # An acquire still waiting may be granted (then given back below) or fail (then its token is given back):
        # either way only once it has its answer, not on a client already closed.
        await self._answered.wait()
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
