"""Concurrency permits shared through a real Redis (127.0.0.1:6379 unless REGIONGATE_TEST_REDIS_URL says)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis

from regiongate.errors import StateUnavailable
from regiongate.state.redis_permits import RedisPermits
from tests.engine.conftest import free_port

REDIS_URL = os.environ.get("REGIONGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

Gateway = Callable[..., RedisPermits]


@pytest.fixture
async def namespace() -> AsyncIterator[str]:
    """Keys of its own for each test (as another deployment sharing the Redis server), deleted afterwards."""
    name = f"regiongate-test-{secrets.token_hex(6)}"
    yield name
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(f"{name}:permits:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def gateway(namespace: str) -> AsyncIterator[Gateway]:
    """Gateway processes sharing one Redis, each with its own connection; closed at the end."""
    made: list[RedisPermits] = []

    def make(
        lease_seconds: float = 30.0, within: str = namespace, url: str = REDIS_URL, timeout: float = 1.0
    ) -> RedisPermits:
        permits = RedisPermits.from_url(url, lease_seconds=lease_seconds, namespace=within, timeout=timeout)
        made.append(permits)
        return permits

    yield make
    for permits in made:
        await permits.close()


class SlowLink:
    """A TCP relay to the Redis whose answers on the connections open so far can be held back: a request that
    reached Redis (and ran there) while its answer is late."""

    def __init__(self) -> None:
        self._held: list[list[float]] = []  # per connection: how long its answers are held back
        self._writers: list[asyncio.StreamWriter] = []
        self._relays: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}{urlsplit(REDIS_URL).path}"

    def hold(self, seconds: float) -> None:
        for held in self._held:
            held[0] = seconds

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.gather(*self._relays)

    async def _relay(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        target = urlsplit(REDIS_URL)
        redis_in, redis_out = await asyncio.open_connection(target.hostname, target.port or 6379)
        self._writers += [client_out, redis_out]
        held = [0.0]
        self._held.append(held)
        await asyncio.gather(self._pump(client_in, redis_out, [0.0]), self._pump(redis_in, client_out, held))

    @staticmethod
    async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter, held: list[float]) -> None:
        with contextlib.suppress(OSError):
            while data := await source.read(65536):
                if held[0]:
                    await asyncio.sleep(held[0])
                sink.write(data)
                await sink.drain()
        sink.close()


@pytest.fixture
async def slow_link() -> AsyncIterator[SlowLink]:
    link = SlowLink()
    yield link
    await link.stop()


async def permits_in(namespace: str, backend_id: str) -> int:
    client = Redis.from_url(REDIS_URL)
    try:
        return int(await client.zcard(f"{namespace}:permits:{backend_id}"))
    finally:
        await client.aclose()


async def given_back(permits: RedisPermits) -> None:
    await asyncio.gather(*permits._returning)


async def test_the_limit_holds_across_gateways_and_a_release_frees_a_permit(gateway: Gateway) -> None:
    first, second = gateway(), gateway()
    await first.check()
    one = await first.acquire("fra-1", 2)
    two = await second.acquire("fra-1", 2)
    assert one is not None
    assert two is not None
    assert await first.acquire("fra-1", 2) is None
    assert await second.acquire("fra-1", 2) is None
    assert await second.acquire("ams-1", 2) is not None  # another backend counts on its own
    one()
    one()  # giving back twice gives back once
    await asyncio.sleep(0.05)  # the give-back is sent without holding up the request
    assert await second.acquire("fra-1", 2) is not None
    assert await first.acquire("fra-1", 2) is None
    assert (first.held("fra-1"), second.held("fra-1")) == (0, 2)


async def test_deployments_sharing_a_redis_server_do_not_share_permits(gateway: Gateway) -> None:
    here, elsewhere = gateway(), gateway(within=f"regiongate-other-{secrets.token_hex(4)}")
    assert await here.acquire("b", 1) is not None
    assert await elsewhere.acquire("b", 1) is not None
    await elsewhere.close()


async def test_the_permits_of_a_gateway_that_died_lapse(gateway: Gateway) -> None:
    dead, alive = gateway(lease_seconds=0.3), gateway(lease_seconds=0.3)
    assert await dead.acquire("b", 1) is not None
    assert dead._renewer is not None
    dead._renewer.cancel()  # it stops renewing, as a killed process would
    assert await alive.acquire("b", 1) is None
    await asyncio.sleep(0.45)
    assert await alive.acquire("b", 1) is not None


async def test_a_live_gateway_keeps_its_permits_past_their_first_lapse(gateway: Gateway) -> None:
    # A lease of 1 s, renewed every third of it: a renewal would have to be about 0.67 s late for the permit to lapse
    # (0.3 s leases lapsed on a loaded 2-core CI machine, the test's own process starved, not the module wrong).
    holder, other = gateway(lease_seconds=1.0), gateway(lease_seconds=1.0)
    assert await holder.acquire("b", 1) is not None
    await asyncio.sleep(2.3)  # more than two lifetimes
    assert await other.acquire("b", 1) is None


async def test_closing_a_gateway_gives_its_permits_back(gateway: Gateway) -> None:
    leaving, staying = gateway(), gateway()
    assert await leaving.acquire("b", 1) is not None
    await leaving.close()
    assert await staying.acquire("b", 1) is not None


async def test_an_unreachable_redis_is_a_503_state_unavailable() -> None:
    permits = RedisPermits.from_url(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)
    try:
        with pytest.raises(StateUnavailable) as raised:
            await permits.acquire("b", 1)
        assert (raised.value.status, raised.value.code) == (503, "state_unavailable")
        assert "nothing was sent" in raised.value.message
        with pytest.raises(StateUnavailable):
            await permits.check()
    finally:
        await permits.close()


def test_a_lease_must_have_a_lifetime() -> None:
    with pytest.raises(ValueError, match="lease_seconds"):
        RedisPermits(Redis.from_url(REDIS_URL), lease_seconds=0)


async def test_a_permit_granted_to_an_acquire_cancelled_meanwhile_is_given_back(
    slow_link: SlowLink, gateway: Gateway, namespace: str
) -> None:
    leaving, other = gateway(url=await slow_link.start()), gateway()
    await leaving.check()  # its connection is open: the one whose answers will be late
    slow_link.hold(0.3)
    asking = asyncio.create_task(leaving.acquire("b", 1))
    await asyncio.sleep(0.1)
    assert await permits_in(namespace, "b") == 1  # granted in Redis, the answer on its way
    asking.cancel()  # the client went away
    with pytest.raises(asyncio.CancelledError):
        await asking
    await given_back(leaving)
    assert await permits_in(namespace, "b") == 0  # not held for a whole lease by nobody
    assert await other.acquire("b", 1) is not None


async def test_a_permit_whose_answer_timed_out_is_given_back(
    slow_link: SlowLink, gateway: Gateway, namespace: str
) -> None:
    late, other = gateway(url=await slow_link.start(), timeout=0.2), gateway()
    await late.check()
    slow_link.hold(0.4)
    with pytest.raises(StateUnavailable):
        await late.acquire("b", 1)
    await given_back(late)
    assert await permits_in(namespace, "b") == 0
    assert await other.acquire("b", 1) is not None


async def test_closing_while_an_acquire_waits_for_its_answer_leaves_no_permit(
    slow_link: SlowLink, gateway: Gateway, namespace: str
) -> None:
    closing = gateway(url=await slow_link.start())
    await closing.check()
    slow_link.hold(0.3)
    asking = asyncio.create_task(closing.acquire("b", 1))
    await asyncio.sleep(0.1)
    await closing.close()
    await closing.close()  # twice is harmless
    await asking  # granted, and given back by close: shutting down, it will not be used for long
    assert await permits_in(namespace, "b") == 0
    assert closing.held("b") == 0


async def test_a_renewal_that_finds_a_permit_lapsed_says_so_and_does_not_revive_it(
    gateway: Gateway, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    stalled, other = gateway(lease_seconds=0.3), gateway()
    assert await stalled.acquire("b", 1) is not None
    assert stalled._renewer is not None
    stalled._renewer.cancel()  # its renewals fail for longer than a lease while its requests still run
    await asyncio.sleep(0.4)
    assert await other.acquire("b", 1) is not None  # the lapsed permit is dropped and granted to another
    with caplog.at_level(logging.WARNING, logger="regiongate.state"):
        await stalled.renew()
    assert "1 permit(s) for b lapsed while their requests still run" in caplog.text
    assert await permits_in(namespace, "b") == 1  # the other's alone: a renewal never adds a permit back
    assert stalled.held("b") == 0


async def test_one_round_of_renewals_is_one_round_trip_however_many_backends(
    slow_link: SlowLink, gateway: Gateway, namespace: str, caplog: pytest.LogCaptureFixture
) -> None:
    """With every answer 0.35 s late and a 1.5 s lease, renewing six backends one by one would reach the fifth after
    the permits' lease had run out; in one round trip (two, with the script's check) none lapses."""
    holder = gateway(url=await slow_link.start(), lease_seconds=1.5)
    backends = [f"b{i}" for i in range(6)]
    for backend in backends:
        assert await holder.acquire(backend, 1) is not None
    assert holder._renewer is not None
    holder._renewer.cancel()  # this test renews by hand
    slow_link.hold(0.35)
    with caplog.at_level(logging.WARNING, logger="regiongate.state"):
        await holder.renew()
    assert "lapsed" not in caplog.text
    assert [await permits_in(namespace, b) for b in backends] == [1] * 6
    assert all(holder.held(b) == 1 for b in backends)


async def test_a_renewal_redis_cannot_answer_is_said_and_raises_nothing(
    slow_link: SlowLink, gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    holder = gateway(url=await slow_link.start())
    assert await holder.acquire("b0", 1) is not None
    assert await holder.acquire("b1", 1) is not None
    await slow_link.stop()  # Redis is gone for this process
    with caplog.at_level(logging.WARNING, logger="regiongate.state"):
        await holder.renew()
    assert "could not renew permits for b0, b1" in caplog.text
    assert holder.held("b0") == holder.held("b1") == 1  # still its own until they end or lapse
