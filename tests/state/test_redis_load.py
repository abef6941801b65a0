"""Load reports exchanged through a real Redis (127.0.0.1:6379 unless REGIONGATE_TEST_REDIS_URL says)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from regiongate.routing.selection import BackendSlot
from regiongate.state.redis_load import RedisLoad
from tests.engine.conftest import free_port
from tests.routing.support import slot
from tests.state.test_redis_permits import REDIS_URL

IDS = ("fra-3-h200", "par-1-cpu")
Gateway = Callable[..., tuple[RedisLoad, dict[str, BackendSlot]]]


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    """Gateway processes of one deployment, each with slots of its own; closed at the end. Exchanges are driven
    by hand (``exchange``), not on the interval."""
    made: list[RedisLoad] = []
    namespace = f"regiongate-test-{secrets.token_hex(6)}"

    def make(within: str = namespace, url: str = REDIS_URL, **kw: float) -> tuple[RedisLoad, dict[str, BackendSlot]]:
        load = RedisLoad.from_url(url, namespace=within, **kw)
        slots = {i: slot(i) for i in IDS}
        load.attach(slots)
        made.append(load)
        return load, slots

    yield make
    for load in made:
        await load.close()
    client = Redis.from_url(REDIS_URL)
    try:
        await client.delete(f"{namespace}:load", f"{namespace}:load:seen")
    finally:
        await client.aclose()


async def test_each_gateway_sees_the_sum_of_the_others_in_flight(gateway: Gateway) -> None:
    (a, a_slots), (b, b_slots), (c, c_slots) = gateway(), gateway(), gateway()
    a_slots["par-1-cpu"].in_flight, b_slots["par-1-cpu"].in_flight, b_slots["fra-3-h200"].in_flight = 3, 2, 1
    for load in (a, b, c):
        await load.exchange()
    await c.exchange()
    assert {i: s.elsewhere for i, s in c_slots.items()} == {"fra-3-h200": 1, "par-1-cpu": 5}
    await a.exchange()
    assert {i: s.elsewhere for i, s in a_slots.items()} == {"fra-3-h200": 1, "par-1-cpu": 2}  # never its own


async def test_a_gateway_that_closes_stops_counting_at_once(gateway: Gateway) -> None:
    (a, a_slots), (b, b_slots) = gateway(), gateway()
    a_slots["par-1-cpu"].in_flight = 4
    await a.exchange()
    await b.exchange()
    assert b_slots["par-1-cpu"].elsewhere == 4
    await a.close()
    await a.close()  # twice is harmless
    await b.exchange()
    assert b_slots["par-1-cpu"].elsewhere == 0


async def test_a_gateway_that_stops_reporting_drops_out_once_stale(gateway: Gateway) -> None:
    (dead, dead_slots), (b, b_slots) = gateway(interval=0.05), gateway(interval=0.05)
    dead_slots["fra-3-h200"].in_flight = 2
    await dead.exchange()  # then never again, as a killed process
    await b.exchange()
    assert b_slots["fra-3-h200"].elsewhere == 2
    b.stale_after = 0.2
    await asyncio.sleep(0.3)
    await b.exchange()
    assert b_slots["fra-3-h200"].elsewhere == 0


async def test_deployments_sharing_a_redis_server_do_not_count_each_other(gateway: Gateway) -> None:
    (ours, our_slots), (theirs, their_slots) = gateway(), gateway(within=f"other-{secrets.token_hex(4)}")
    their_slots["par-1-cpu"].in_flight = 9
    await theirs.exchange()
    await ours.exchange()
    assert our_slots["par-1-cpu"].elsewhere == 0
    await theirs.close()


async def test_a_malformed_report_is_ignored(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    (a, a_slots), (b, b_slots) = gateway(), gateway()
    b_slots["par-1-cpu"].in_flight = 1
    await b.exchange()
    raw = Redis.from_url(REDIS_URL)
    try:
        await raw.hset(a._keys[0], "intruder", b"not a report")
    finally:
        await raw.aclose()
    with caplog.at_level(logging.WARNING, logger="regiongate.state"):
        await a.exchange()
    assert a_slots["par-1-cpu"].elsewhere == 1
    assert "ignored a malformed load report" in caplog.text


async def test_while_redis_is_unreachable_only_our_own_counts_rank(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    load, slots = gateway(url=f"redis://127.0.0.1:{free_port()}/0")
    slots["par-1-cpu"].elsewhere = 6  # from before the outage
    with caplog.at_level(logging.WARNING, logger="regiongate.state"):
        await load.exchange()
        await load.exchange()
    assert slots["par-1-cpu"].elsewhere == 0
    assert caplog.text.count("cannot be exchanged") == 1  # said once per outage
