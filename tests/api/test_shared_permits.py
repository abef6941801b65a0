"""Two gateways sharing concurrency permits through a real Redis: a backend's ``max_concurrency`` holds across
both, and the one refused answers 503 without sending the payload anywhere else."""

from __future__ import annotations

import asyncio
import json
import secrets

from regiongate.backends.fake import Behaviour
from regiongate.state.redis_permits import RedisPermits
from tests.api.conftest import World
from tests.api.test_failover import chat, outside
from tests.state.test_redis_permits import REDIS_URL

DE_BANK = {"fra-3-h200", "par-1-cpu"}  # compliant for de-bank, reachable from gw-fra3 and from gw-par


async def test_a_backends_limit_holds_across_two_gateways(world: World) -> None:
    namespace = f"regiongate-test-{secrets.token_hex(6)}"
    shared = [RedisPermits.from_url(REDIS_URL, namespace=namespace) for _ in range(2)]
    try:
        for gateway, permits in zip(("gw-fra3", "gw-par"), shared, strict=True):
            await world.start_gateway(gateway, permits=permits)
            slots = world.runtimes[gateway].router.slots
            slots["fra-3-h200"].healthy = False  # only par-1-cpu is left to de-bank
            slots["par-1-cpu"].max_concurrency = 1
        world.fakes["par-1-cpu"].behaviour = Behaviour(delay=0.3)
        results = await asyncio.gather(chat(world, "gw-fra3", "de-bank"), chat(world, "gw-par", "de-bank"))
        statuses = sorted(status for status, _, _ in results)
        assert statuses == [200, 503]  # each gateway alone would have sent its request: its own count was 0
        refused = next(json.loads(body) for status, _, body in results if status == 503)
        assert refused["error"]["code"] == "no_compliant_capacity"
        assert "par-1-cpu: at its concurrency limit (1) across the gateways sharing it" in refused["error"]["message"]
        assert world.fakes["par-1-cpu"].requests == 1
        assert outside(world, DE_BANK) == 0
        assert world.fakes["fra-3-h200"].requests == 0
        assert [p.held("par-1-cpu") for p in shared] == [0, 0]
        status, _, _ = await chat(world, "gw-par", "de-bank")  # given back: the next request is served
        assert status == 200
    finally:
        for permits in shared:
            await permits.close()
