"""Concurrency permits shared through a real Redis (127.0.0.1:6379 unless REGIONGATE_TEST_REDIS_URL says)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable

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

    def make(lease_seconds: float = 30.0, within: str = namespace) -> RedisPermits:
        permits = RedisPermits.from_url(REDIS_URL, lease_seconds=lease_seconds, namespace=within)
        made.append(permits)
        return permits

    yield make
    for permits in made:
        await permits.close()


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
    holder, other = gateway(lease_seconds=0.3), gateway(lease_seconds=0.3)
    assert await holder.acquire("b", 1) is not None
    await asyncio.sleep(0.8)  # more than two lifetimes: renewed every 0.1 s meanwhile
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
