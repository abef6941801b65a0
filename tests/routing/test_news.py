"""Breaker news between routers: first-hand evidence is told, heard news never widens a set or echoes."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regiongate.errors import NoCompliantCapacity, UpstreamError
from regiongate.routing.breaker import BreakerState
from regiongate.routing.news import LocalBreakerNews, LocalNewsBus
from regiongate.routing.router import Lease, Router
from tests.routing.support import Clock, slot

IDS = ("a", "b")


def gateways(clock: Clock, count: int = 2) -> tuple[list[Router], list[LocalBreakerNews]]:
    bus = LocalNewsBus()
    routers, members = [], []
    for seed in range(count):
        news = bus.member()
        router = Router(
            [slot(i, capacity=2.0 if i == "a" else 1.0) for i in IDS], rng=random.Random(seed), clock=clock, news=news
        )
        news.start(router.heard)
        routers.append(router)
        members.append(news)
    return routers, members


async def fail_on(router: Router, bad: str, times: int) -> None:
    async def attempt(lease: Lease) -> str:
        if lease.slot.id == bad:
            raise UpstreamError(f"{bad} failed")
        return lease.slot.id

    for _ in range(times):
        lease, _ = await router.dispatch(router.slots_for(IDS), attempt)
        lease.succeeded()


async def test_one_gateways_opened_breaker_keeps_its_peers_requests_away() -> None:
    clock = Clock()
    (first, second), (told, heard) = gateways(clock)
    await fail_on(first, "a", 3)  # "a" is preferred (capacity 2): three failures open first's breaker
    assert told.told == [("a", True)]
    assert second.slots["a"].breaker.state(clock()) is BreakerState.OPEN
    sent: list[str] = []

    async def attempt(lease: Lease) -> str:
        sent.append(lease.slot.id)
        return lease.slot.id

    lease, _ = await second.dispatch(second.slots_for(IDS), attempt)
    lease.succeeded()
    assert sent == ["b"]  # without the news, second would have tried "a" first
    assert heard.told == []  # heard news is never told on


async def test_a_peers_successful_probe_brings_the_backend_back_everywhere() -> None:
    clock = Clock()
    (first, second), (told, _) = gateways(clock)
    await fail_on(first, "a", 3)
    clock.advance(5.0)
    lease = first.claim(first.slots_for(("a",)), set())
    assert lease is not None
    lease.succeeded()  # the probe
    assert told.told == [("a", True), ("a", False)]
    assert second.slots["a"].breaker.state(clock()) is BreakerState.CLOSED


async def test_news_never_makes_a_backend_outside_the_candidates_eligible() -> None:
    clock = Clock()
    (first, second), _ = gateways(clock)
    await fail_on(first, "a", 3)
    with pytest.raises(NoCompliantCapacity) as refused:
        await second.dispatch(second.slots_for(("a",)), lambda lease: pytest.fail("nothing may be sent"))
    assert "b" not in refused.value.message.split("else.")[1]


async def test_a_probe_failing_after_a_peer_reopened_the_backend_leaves_it_probeable() -> None:
    clock = Clock()
    (_, second), _ = gateways(clock)
    second.heard("a", True)
    clock.advance(5.0)
    probing = asyncio.Event()

    async def probe(lease: Lease) -> str:
        probing.set()
        await asyncio.sleep(0)
        raise UpstreamError("still down")

    dispatch = asyncio.create_task(second.dispatch(second.slots_for(("a",)), probe))
    await probing.wait()
    second.heard("a", True)  # first's own probe failed meanwhile
    with pytest.raises(NoCompliantCapacity):
        await dispatch
    clock.advance(5.0)
    assert second.slots["a"].breaker.available(clock())


def test_news_of_a_backend_this_gateway_does_not_know_is_ignored() -> None:
    clock = Clock()
    (router,), _ = gateways(clock, count=1)
    router.heard("elsewhere", True)
    assert set(router.slots) == set(IDS)


async def test_a_closed_member_hears_nothing_more() -> None:
    clock = Clock()
    (first, second), (_, heard) = gateways(clock)
    await heard.close()
    await fail_on(first, "a", 3)
    assert second.slots["a"].breaker.state(clock()) is BreakerState.CLOSED


@settings(max_examples=60, deadline=None)
@given(
    backends=st.integers(1, 4),
    gateway_count=st.integers(1, 4),
    failing=st.sets(st.integers(0, 3)),
    steps=st.lists(st.tuples(st.integers(0, 5), st.booleans(), st.integers(0, 3)), min_size=1, max_size=40),
    seed=st.integers(0, 2**16),
)
def test_news_never_widens_a_set_never_echoes_and_never_leaves_a_breaker_stuck(
    backends: int, gateway_count: int, failing: set[int], steps: list[tuple[int, bool, int]], seed: int
) -> None:
    """Property: gateways sharing news, with failing backends, rumours about any backend (the outsider included)
    and time passing, only ever send to candidates, tell only what their own requests showed, and once every
    request has ended and a cooldown has passed, every breaker lets a request through again."""
    names = [f"b{i}" for i in range(backends)]
    outsider = "outside"

    async def scenario() -> None:
        clock, bus = Clock(), LocalNewsBus()
        rumours, members, routers = bus.member(), [], []
        for g in range(gateway_count):
            news = bus.member()
            slots = [slot(n, cooldown=1.0) for n in names] + [slot(outsider, cooldown=1.0)]
            router = Router(slots, rng=random.Random(seed + g), clock=clock, news=news)
            news.start(router.heard)
            members.append(news)
            routers.append(router)
        rng = random.Random(seed)

        async def attempt(lease: Lease) -> str:
            assert lease.slot.id in names  # never the outsider, which every gateway knows and rumours name
            await asyncio.sleep(0)
            if names.index(lease.slot.id) in failing:
                raise UpstreamError(f"{lease.slot.id} fails")
            return lease.slot.id

        async def one(router: Router) -> None:
            try:
                lease, _ = await router.dispatch(router.slots_for(tuple(names)), attempt)
            except NoCompliantCapacity:
                return
            await asyncio.sleep(0)
            lease.succeeded()

        running = []
        for kind, opened, which in steps:  # one step at a time, requests left running between them
            if kind <= 1:
                target = outsider if kind == 0 else names[which % len(names)]
                rumours.opened(target) if opened else rumours.closed(target)
            elif kind == 2:
                clock.advance(0.6)
            else:
                running.append(asyncio.create_task(one(rng.choice(routers))))
            await asyncio.sleep(0)
        await asyncio.gather(*running)
        for news in members:
            assert all(names.index(b) in failing for b, opened in news.told if opened), news.told
        clock.advance(1.0)
        for router in routers:
            for s in router.slots.values():
                assert s.in_flight == 0
                assert s.breaker.available(clock()), (s.id, s.breaker.state(clock()))

    asyncio.run(scenario())
