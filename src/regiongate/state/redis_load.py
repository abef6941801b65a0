"""Load reports exchanged through Redis: every process's in-flight counts per backend, summed for the others.

One hash per deployment (``<namespace>:load``: origin → that process's report as JSON) and one sorted set of when
each origin last reported (``<namespace>:load:seen``, Redis's own clock). One Lua script per interval stores this
process's report, drops the reports not renewed within ``stale_after`` (a process that died), and returns the rest:
one round trip, off the request path. While Redis cannot be reached, the other processes' counts are forgotten
rather than kept stale, so selection falls back to this process's own view, and the outage is said once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Mapping

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from regiongate.routing.load import apply, totals
from regiongate.routing.selection import BackendSlot

log = logging.getLogger("regiongate.state")

_EXCHANGE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local oldest = t - tonumber(ARGV[2])
for _, origin in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', oldest)) do
  redis.call('HDEL', KEYS[1], origin)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', oldest)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[2], t, ARGV[1])
local ttl = math.ceil(tonumber(ARGV[2]) * 1000)
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
return redis.call('HGETALL', KEYS[1])
"""

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(dict[str, int]).decode


class RedisLoad:
    def __init__(self, client: Redis, *, namespace: str = "regiongate", interval: float = 0.25) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._client = client
        self._keys = [f"{namespace}:load", f"{namespace}:load:seen"]
        self.origin = secrets.token_hex(8)
        self.interval = interval
        self.stale_after = max(4 * interval, 1.0)  # a few missed reports, not one slow round trip
        self._exchange = client.register_script(_EXCHANGE)
        self._slots: Mapping[str, BackendSlot] = {}
        self._loop: asyncio.Task[None] | None = None
        self._outage = False
        self._closed = False

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float = 1.0, namespace: str = "regiongate", interval: float = 0.25
    ) -> RedisLoad:
        client = Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return cls(client, namespace=namespace, interval=interval)

    def attach(self, slots: Mapping[str, BackendSlot]) -> None:
        """The slots whose counts ``exchange`` reports and whose ``elsewhere`` it sets."""
        self._slots = slots

    def start(self, slots: Mapping[str, BackendSlot]) -> None:
        self.attach(slots)
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._report_forever(), name="load-reports")

    async def _report_forever(self) -> None:
        while True:
            await self.exchange()
            await asyncio.sleep(self.interval)

    async def exchange(self) -> None:
        """Report this process's counts and take in the others' (one round trip)."""
        mine = {backend_id: slot.in_flight for backend_id, slot in self._slots.items() if slot.in_flight > 0}
        try:
            stored = await self._exchange(keys=self._keys, args=[self.origin, self.stale_after, _encode(mine)])
        except RedisError as exc:
            apply(self._slots, {})  # stale counts would rank worse than none
            if not self._outage:
                log.warning("load reports of the other gateways cannot be exchanged (%s); ranking by our own", exc)
            self._outage = True
            return
        if self._outage:
            log.info("load reports of the other gateways are exchanged again")
            self._outage = False
        apply(self._slots, totals(self._reports(stored), self.origin))

    def _reports(self, stored: list[bytes]) -> list[tuple[str, dict[str, int]]]:
        reports = []
        for origin, report in zip(stored[::2], stored[1::2], strict=True):
            try:
                reports.append((origin.decode(), _decode(report)))
            except (msgspec.DecodeError, UnicodeDecodeError):
                log.warning("ignored a malformed load report in %s", self._keys[0])
        return reports

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        with contextlib.suppress(RedisError):  # else it drops out once stale
            await self._client.hdel(self._keys[0], self.origin)
            await self._client.zrem(self._keys[1], self.origin)
        await self._client.aclose()
