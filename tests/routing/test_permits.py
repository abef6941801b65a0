"""Region-wide concurrency permits in the router: several gateway processes (here, several routers sharing one
``LocalPermits``) never hold more than a backend's ``max_concurrency`` between them, and a permit only ever removes
a candidate."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regiongate.errors import NoCompliantCapacity, StateUnavailable, UpstreamError
from regiongate.routing.permits import LocalPermits, Release
from regiongate.routing.router import Lease, Router
from regiongate.routing.selection import BackendSlot
from tests.routing.support import Clock, slot


def gateway(slots: list[BackendSlot], permits: LocalPermits | None, max_attempts: int = 3) -> Router:
    """One gateway process's router; its slots are its own (local counts), the permits are the region's."""
    return Router(slots, max_attempts=max_attempts, rng=random.Random(0), clock=Clock(), permits=permits)


class Holding:
    """An attempt that stays in flight until let go, noting where it went."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.go = asyncio.Event()
        self.calls: list[str] = []

    async def __call__(self, lease: Lease) -> str:
        self.calls.append(lease.slot.id)
        self.entered.set()
        await self.go.wait()
        return lease.slot.id


async def test_a_second_gateway_goes_elsewhere_while_the_first_holds_the_only_permit() -> None:
    permits = LocalPermits()
    first, second = gateway([slot("a", 2.0, 1), slot("b")], permits), gateway([slot("a", 2.0, 1), slot("b")], permits)
    held = Holding()
    task = asyncio.create_task(first.dispatch(tuple(first.slots.values()), held))
    await held.entered.wait()
    assert held.calls == ["a"]
    assert permits.held("a") == 1
    # Locally "a" is idle in the second gateway and has twice the capacity: without the permit it would win.
    lease, answer = await second.dispatch(tuple(second.slots.values()), _answer)
    assert answer == "b"
    lease.succeeded()
    held.go.set()
    lease, _ = await task
    lease.succeeded()
    assert permits.held("a") == 0


async def _answer(lease: Lease) -> str:
    return lease.slot.id


async def test_when_every_capped_candidate_is_full_region_wide_the_503_says_so_and_nothing_is_sent() -> None:
    permits = LocalPermits()
    release = await permits.acquire("a", 1)
    assert release is not None
    r = gateway([slot("a", max_concurrency=1)], permits)
    sent: list[str] = []

    async def attempt(lease: Lease) -> str:
        sent.append(lease.slot.id)
        return "unreachable"

    with pytest.raises(NoCompliantCapacity) as raised:
        await r.dispatch(tuple(r.slots.values()), attempt)
    assert sent == []
    assert "a: at its concurrency limit (1) across the gateways sharing it" in raised.value.message
    assert r.slots["a"].in_flight == 0
    release()
    lease, answer = await r.dispatch(tuple(r.slots.values()), attempt)
    assert answer == "unreachable"
    assert sent == ["a"]
    lease.succeeded()


async def test_a_full_backend_is_not_an_attempt() -> None:
    permits = LocalPermits()
    assert await permits.acquire("a", 1) is not None
    r = gateway([slot("a", 10.0, 1), slot("b")], permits, max_attempts=1)
    lease, answer = await r.dispatch(tuple(r.slots.values()), _answer)
    assert answer == "b"  # one attempt allowed, and it was not spent on the full backend
    lease.succeeded()


@pytest.mark.parametrize("outcome", ["succeeded", "failed", "released"])
async def test_every_end_of_a_lease_gives_its_permit_back_once(outcome: str) -> None:
    permits = LocalPermits()
    r = gateway([slot("a", max_concurrency=2)], permits)
    lease, _ = await r.dispatch(tuple(r.slots.values()), _answer)
    assert permits.held("a") == 1
    getattr(lease, outcome)()
    lease.succeeded()  # a second verdict is ignored, and does not give the permit back twice
    assert permits.held("a") == 0


async def test_failed_attempts_give_their_permits_back_before_the_next_candidate() -> None:
    permits = LocalPermits()
    r = gateway([slot("a", 2.0, 1), slot("b", 1.0, 1)], permits)
    seen: list[tuple[str, int, int]] = []

    async def attempt(lease: Lease) -> str:
        seen.append((lease.slot.id, permits.held("a"), permits.held("b")))
        if lease.slot.id == "a":
            raise UpstreamError("a is down")
        return "b"

    lease, _ = await r.dispatch(tuple(r.slots.values()), attempt)
    assert seen == [("a", 1, 0), ("b", 0, 1)]
    lease.succeeded()
    assert (permits.held("a"), permits.held("b")) == (0, 0)


async def test_a_cancelled_attempt_gives_its_permit_back() -> None:
    permits = LocalPermits()
    r = gateway([slot("a", max_concurrency=1)], permits)
    held = Holding()
    task = asyncio.create_task(r.dispatch(tuple(r.slots.values()), held))
    await held.entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert permits.held("a") == 0
    assert r.slots["a"].in_flight == 0


class Unreachable(LocalPermits):
    async def acquire(self, backend_id: str, limit: int) -> Release | None:
        raise StateUnavailable("Redis is down")


async def test_an_unreachable_store_fails_the_request_before_anything_is_sent() -> None:
    r = gateway([slot("a", max_concurrency=4), slot("b", max_concurrency=4)], Unreachable())
    sent: list[str] = []

    async def attempt(lease: Lease) -> str:
        sent.append(lease.slot.id)
        return "unreachable"

    with pytest.raises(StateUnavailable):
        await r.dispatch(tuple(r.slots.values()), attempt)
    assert sent == []
    assert all(s.in_flight == 0 for s in r.slots.values())


async def test_backends_without_a_limit_never_ask_for_a_permit() -> None:
    r = gateway([slot("a")], Unreachable())  # would raise if asked
    lease, answer = await r.dispatch(tuple(r.slots.values()), _answer)
    assert answer == "a"
    lease.succeeded()


@settings(max_examples=60, deadline=None)
@given(
    limits=st.lists(st.one_of(st.none(), st.integers(1, 3)), min_size=1, max_size=5),
    gateways=st.integers(1, 4),
    requests=st.integers(1, 24),
    failing=st.sets(st.integers(0, 4)),
    seed=st.integers(0, 2**16),
)
def test_gateways_together_never_exceed_a_limit_nor_leave_the_candidates(
    limits: list[int | None], gateways: int, requests: int, failing: set[int], seed: int
) -> None:
    """Property: whatever the limits, failures and interleaving, every attempt goes to a candidate, and the
    requests in flight on a backend across every gateway never exceed its ``max_concurrency``."""
    names = [f"b{i}" for i in range(len(limits))]
    outsider = "outside"

    async def scenario() -> None:
        permits = LocalPermits()
        routers = [
            gateway([slot(n, 1.0, limit) for n, limit in zip(names, limits, strict=True)] + [slot(outsider)], permits)
            for _ in range(gateways)
        ]
        in_flight: dict[str, int] = dict.fromkeys(names, 0)
        rng = random.Random(seed)

        async def attempt(lease: Lease) -> str:
            backend = lease.slot.id
            assert backend in names  # never the outsider, which every router also knows
            in_flight[backend] += 1  # until its lease ends: the answer is relayed after the attempt returns
            limit = limits[names.index(backend)]
            assert limit is None or in_flight[backend] <= limit
            await asyncio.sleep(0)
            if names.index(backend) in failing:
                in_flight[backend] -= 1
                raise UpstreamError(f"{backend} fails")
            return backend

        async def one(router: Router) -> None:
            candidates = tuple(router.slots[n] for n in names)
            try:
                lease, _ = await router.dispatch(candidates, attempt)
            except NoCompliantCapacity:
                return
            await asyncio.sleep(0)
            in_flight[lease.slot.id] -= 1
            lease.succeeded()

        await asyncio.gather(*(one(rng.choice(routers)) for _ in range(requests)))
        assert all(permits.held(n) == 0 for n in names)

    asyncio.run(scenario())
