"""Two gateways exchanging load reports through a real Redis: requests in flight from one gateway make the other
rank that backend behind an idle one, never outside the tenant's compliant set."""

from __future__ import annotations

import asyncio
import secrets

from regiongate.backends.fake import Behaviour
from regiongate.state.redis_load import RedisLoad
from tests.api.conftest import World
from tests.api.test_failover import chat, outside
from tests.state.test_redis_news import until
from tests.state.test_redis_permits import REDIS_URL

DE_BANK = {"fra-3-h200", "par-1-cpu"}  # compliant for de-bank, reachable from gw-fra3 and from gw-par


async def test_one_gateways_requests_in_flight_steer_the_others_away(world: World) -> None:
    namespace = f"regiongate-test-{secrets.token_hex(6)}"
    shared = [RedisLoad.from_url(REDIS_URL, namespace=namespace, interval=0.05) for _ in range(2)]
    for gateway, load in zip(("gw-fra3", "gw-par"), shared, strict=True):
        await world.start_gateway(gateway, load=load)
        for backend in DE_BANK:
            world.runtimes[gateway].router.slots[backend].capacity = 1.0  # alike: only load tells them apart
    world.runtimes["gw-fra3"].router.slots["fra-3-h200"].healthy = False  # gw-fra3 sends all it has to par-1-cpu
    world.fakes["par-1-cpu"].behaviour = Behaviour(delay=1.5)
    busy = [asyncio.create_task(chat(world, "gw-fra3", "de-bank")) for _ in range(3)]
    par = world.runtimes["gw-par"].router.slots["par-1-cpu"]
    await until(lambda: par.elsewhere == 3)

    for _ in range(5):  # without the reports, each of these would be a coin toss between two idle backends
        status, headers, _ = await chat(world, "gw-par", "de-bank")
        assert (status, headers["X-Regiongate-Backend"]) == (200, "fra-3-h200")
    assert [status for status, _, _ in await asyncio.gather(*busy)] == [200, 200, 200]
    assert world.fakes["par-1-cpu"].requests == 3
    assert outside(world, DE_BANK) == 0
    await until(lambda: par.elsewhere == 0)  # answered: gw-fra3's next report says so
