"""Two gateways telling each other their breaker news through a real Redis: the failures one gateway's tenants met
keep the other's tenants away from the failing backend, and its recovery brings it back for both; never outside
the tenant's compliant set."""

from __future__ import annotations

import asyncio
import secrets
import time

from regiongate.backends.fake import NORMAL, Behaviour
from regiongate.routing.breaker import BreakerSettings, BreakerState
from regiongate.state.redis_news import RedisBreakerNews
from tests.api.conftest import World
from tests.api.test_failover import chat, outside
from tests.state.test_redis_news import until
from tests.state.test_redis_permits import REDIS_URL

COOLDOWN = 0.5
DE_BANK = {"fra-3-h200", "par-1-cpu"}  # compliant for de-bank, reachable from gw-fra3 and from gw-par


async def test_one_gateways_failures_spare_the_other_gateways_tenants(world: World) -> None:
    namespace = f"regiongate-test-{secrets.token_hex(6)}"
    shared = [RedisBreakerNews.from_url(REDIS_URL, namespace=namespace) for _ in range(2)]
    for gateway, news in zip(("gw-fra3", "gw-par"), shared, strict=True):
        await world.start_gateway(gateway, news=news, breaker=BreakerSettings(failure_threshold=2, cooldown=COOLDOWN))
        slots = world.runtimes[gateway].router.slots
        slots["par-1-cpu"].capacity = 1000.0  # preferred by both while its breaker is closed
    for news in shared:
        await asyncio.wait_for(news.subscribed.wait(), 5)
    failing = world.fakes["par-1-cpu"]
    failing.behaviour = Behaviour(mode="fail", status=500)
    for _ in range(2):  # the breaker's threshold in these tests: gw-fra3's two requests fail over, then it opens
        status, headers, _ = await chat(world, "gw-fra3", "de-bank")
        assert (status, headers["X-Regiongate-Backend"]) == (200, "fra-3-h200")
    assert failing.requests == 2
    par_breaker = world.runtimes["gw-par"].router.slots["par-1-cpu"].breaker
    await until(lambda: par_breaker.state(time.monotonic()) is not BreakerState.CLOSED)

    status, headers, _ = await chat(world, "gw-par", "de-bank")
    assert (status, headers["X-Regiongate-Backend"]) == (200, "fra-3-h200")
    assert failing.requests == 2  # gw-par never sent a tenant's request to learn what gw-fra3 had learned
    assert outside(world, DE_BANK) == 0

    failing.behaviour = NORMAL  # back: gw-fra3's probe, once its cooldown has passed, succeeds and tells gw-par
    await asyncio.sleep(COOLDOWN)
    status, headers, _ = await chat(world, "gw-fra3", "de-bank")
    assert (status, headers["X-Regiongate-Backend"]) == (200, "par-1-cpu")
    await until(lambda: par_breaker.state(time.monotonic()) is BreakerState.CLOSED)
    status, headers, _ = await chat(world, "gw-par", "de-bank")
    assert (status, headers["X-Regiongate-Backend"]) == (200, "par-1-cpu")
    assert outside(world, DE_BANK) == 0
