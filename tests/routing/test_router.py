"""Router.dispatch: the bounded retry loop over one candidate set, leases, and the 503 when the set is exhausted."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable, Sequence

import pytest

from regiongate.errors import (
    ApiError,
    NoCompliantCapacity,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamRejected,
    UpstreamTimeout,
)
from regiongate.routing.breaker import BreakerState
from regiongate.routing.router import Lease, Router
from regiongate.routing.selection import BackendSlot
from tests.routing.support import Clock, slot, trip

Attempt = Callable[[Lease], Awaitable[str]]


def router(slots: Sequence[BackendSlot], max_attempts: int = 3, seed: int = 0, clock: Clock | None = None) -> Router:
    return Router(slots, max_attempts=max_attempts, rng=random.Random(seed), clock=clock or Clock())


class Script:
    """An attempt function that records which backend each attempt went to and answers from ``plan``."""

    def __init__(self, plan: Callable[[str], str | BaseException]) -> None:
        self.plan = plan
        self.calls: list[str] = []

    async def __call__(self, lease: Lease) -> str:
        self.calls.append(lease.slot.id)
        assert lease.slot.in_flight >= 1  # the lease counts while the attempt runs
        outcome = self.plan(lease.slot.id)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def always(outcome: str | BaseException) -> Script:
    return Script(lambda _bid: outcome)


def retry_after(exc: ApiError) -> int:
    value = exc.headers["Retry-After"]
    assert re.fullmatch(r"\d+", value), value
    return int(value)


# -- construction ---------------------------------------------------------------------------------------------------


def test_max_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        Router([slot("a")], max_attempts=0)


def test_slots_for_gives_exactly_the_named_live_slots() -> None:
    a, b, c = slot("a"), slot("b"), slot("c")
    r = router([a, b, c])
    chosen = r.slots_for(("c", "a"))
    assert chosen == (c, a)
    assert all(x is y for x, y in zip(chosen, (c, a), strict=True))  # the live objects, not copies
    assert r.slots_for(("c", "a")) is chosen  # cached
    assert r.slots_for(()) == ()
    with pytest.raises(KeyError):
        r.slots_for(("nope",))  # an unknown id is an error, never "some other backend"


# -- success and retries --------------------------------------------------------------------------------------------


async def test_success_returns_the_open_lease_and_the_caller_settles_it() -> None:
    a = slot("a")
    r = router([a])
    lease, result = await r.dispatch((a,), always("ok"))
    assert (lease.slot, result) == (a, "ok")
    assert a.in_flight == 1  # still open: the response is being relayed
    lease.succeeded()
    assert a.in_flight == 0
    lease.succeeded()
    lease.failed()
    lease.released()
    assert a.in_flight == 0  # a lease is settled once; later outcomes are ignored
    assert a.breaker.state(0.0) is BreakerState.CLOSED


@pytest.mark.parametrize("error", [UpstreamError("boom"), UpstreamTimeout("slow")])
async def test_upstream_errors_are_retried_on_distinct_backends_up_to_max_attempts(error: UpstreamError) -> None:
    slots = [slot(x, threshold=1) for x in "abcde"]
    clock = Clock(0.0)
    r = router(slots, max_attempts=3, clock=clock)
    script = always(error)
    with pytest.raises(NoCompliantCapacity):
        await r.dispatch(slots, script)
    assert len(script.calls) == 3
    assert len(set(script.calls)) == 3
    for s in slots:
        assert s.in_flight == 0
        tried = s.id in script.calls
        assert (s.breaker.state(clock()) is BreakerState.OPEN) is tried  # failures count against the breaker


async def test_a_backend_is_never_tried_twice_in_one_dispatch() -> None:
    slots = [slot("a", capacity=100.0), slot("b")]  # "a" stays the least loaded after failing
    r = router(slots, max_attempts=10)
    script = always(UpstreamError("boom"))
    with pytest.raises(NoCompliantCapacity):
        await r.dispatch(slots, script)
    assert script.calls == ["a", "b"]


async def test_a_failure_then_a_success_returns_the_second_backend() -> None:
    a, b = slot("a", capacity=10.0, threshold=1), slot("b")
    r = router([a, b])
    script = Script(lambda bid: UpstreamError("down") if bid == "a" else "from b")
    lease, result = await r.dispatch((a, b), script)
    assert script.calls == ["a", "b"]
    assert (lease.slot, result) == (b, "from b")
    assert a.in_flight == 0
    assert b.in_flight == 1
    assert a.breaker.state(0.0) is BreakerState.OPEN
    lease.succeeded()
    assert b.in_flight == 0


async def test_overloaded_moves_on_without_tripping_the_breaker() -> None:
    a, b = slot("a", capacity=10.0, threshold=1), slot("b")
    r = router([a, b])
    script = Script(lambda bid: UpstreamOverloaded("busy") if bid == "a" else "ok")
    lease, _ = await r.dispatch((a, b), script)
    assert script.calls == ["a", "b"]
    assert a.breaker.state(0.0) is BreakerState.CLOSED
    assert a.in_flight == 0
    lease.succeeded()


async def test_overloaded_frees_the_half_open_probe_slot() -> None:
    clock = Clock(0.0)
    a = slot("a", threshold=1, cooldown=5.0)
    trip(a, 0.0)
    clock.advance(5.0)
    r = router([a], clock=clock)
    with pytest.raises(NoCompliantCapacity):
        await r.dispatch((a,), always(UpstreamOverloaded("busy")))
    assert a.breaker.state(clock()) is BreakerState.HALF_OPEN
    assert a.breaker.available(clock())  # the probe told nothing about health: the next request may probe


async def test_a_rejected_request_is_the_clients_fault_and_is_not_retried() -> None:
    a, b = slot("a", capacity=10.0, threshold=1), slot("b")
    r = router([a, b])
    script = always(UpstreamRejected("bad prompt", status=400))
    with pytest.raises(UpstreamRejected) as caught:
        await r.dispatch((a, b), script)
    assert caught.value.status == 400
    assert script.calls == ["a"]
    assert a.in_flight == 0
    assert b.in_flight == 0
    assert a.breaker.state(0.0) is BreakerState.CLOSED  # the client's fault is not the backend's


@pytest.mark.parametrize("error", [RuntimeError("bug"), KeyError("x"), ValueError("v")])
async def test_other_exceptions_release_the_lease_and_propagate(error: Exception) -> None:
    a, b = slot("a", capacity=10.0, threshold=1), slot("b")
    r = router([a, b])
    script = always(error)
    with pytest.raises(type(error)):
        await r.dispatch((a, b), script)
    assert script.calls == ["a"]
    assert a.in_flight == 0
    assert a.breaker.state(0.0) is BreakerState.CLOSED


async def test_cancellation_releases_the_lease_and_the_probe_slot() -> None:
    clock = Clock(0.0)
    a = slot("a", threshold=1, cooldown=5.0)
    trip(a, 0.0)
    clock.advance(5.0)  # half-open: this dispatch is the probe
    r = router([a], clock=clock)
    entered, never = asyncio.Event(), asyncio.Event()

    async def hang(lease: Lease) -> str:
        entered.set()
        await never.wait()
        return "unreachable"

    task = asyncio.create_task(r.dispatch((a,), hang))
    await entered.wait()
    assert a.in_flight == 1
    assert not a.breaker.available(clock())  # the probe is out
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert a.in_flight == 0
    assert a.breaker.state(clock()) is BreakerState.HALF_OPEN
    assert a.breaker.available(clock())


async def test_in_flight_returns_to_zero_after_a_mix_of_dispatches() -> None:
    slots = [slot(x, threshold=2, cooldown=1.0) for x in "abcd"]
    clock = Clock(0.0)
    r = router(slots, max_attempts=3, clock=clock)
    outcomes: list[str | BaseException] = [
        UpstreamError("e"),
        UpstreamOverloaded("o"),
        "ok",
        UpstreamTimeout("t"),
        UpstreamRejected("r", status=422),
        RuntimeError("x"),
    ]
    rnd = random.Random(3)
    for _ in range(200):
        script = Script(lambda _bid: rnd.choice(outcomes))
        try:
            lease, _ = await r.dispatch(slots, script)
        except (ApiError, RuntimeError):
            pass
        else:
            (lease.succeeded if rnd.random() < 0.5 else lease.failed)()
        clock.advance(0.3)
        assert [s.in_flight for s in slots] == [0, 0, 0, 0]


# -- exhaustion -----------------------------------------------------------------------------------------------------


async def test_no_candidates_is_a_503_without_any_attempt() -> None:
    r = router([slot("a")])
    script = always("ok")
    with pytest.raises(NoCompliantCapacity) as caught:
        await r.dispatch((), script)
    assert script.calls == []
    assert caught.value.status == 503
    assert retry_after(caught.value) >= 1


async def test_exhausted_is_a_503_naming_each_candidate_and_why() -> None:
    clock = Clock(0.0)
    failing = slot("fra-1", capacity=10.0)
    sick = slot("fra-2", healthy=False)
    tripped = slot("ams-1", threshold=1, cooldown=30.0)
    trip(tripped, 0.0)
    full = slot("ams-2", max_concurrency=2, in_flight=2)
    spare = slot("par-1", capacity=0.1)  # usable, but the attempt budget runs out first
    slow = slot("par-2", capacity=5.0)
    candidates = (failing, sick, tripped, full, spare, slow)
    r = router(candidates, max_attempts=2, clock=clock)
    script = Script(lambda bid: UpstreamError("connection refused") if bid == "fra-1" else UpstreamTimeout("timed out"))
    with pytest.raises(NoCompliantCapacity) as caught:
        await r.dispatch(candidates, script)
    assert script.calls == ["fra-1", "par-2"]
    exc = caught.value
    assert (exc.status, exc.code) == (503, "no_compliant_capacity")
    assert "fra-1: connection refused" in exc.message
    assert "par-2: timed out" in exc.message
    assert "fra-2: failing health checks" in exc.message
    assert "ams-1: circuit open" in exc.message
    assert "ams-2: at its concurrency limit (2)" in exc.message
    assert "par-1: not tried" in exc.message
    assert "not sent anywhere else" in exc.message
    assert retry_after(exc) >= 1


async def test_retry_after_is_the_time_until_the_first_probe_when_every_breaker_is_open() -> None:
    clock = Clock(0.0)
    a, b = slot("a", threshold=1, cooldown=10.0), slot("b", threshold=1, cooldown=30.0)
    trip(a, 0.0)
    trip(b, 0.0)
    clock.advance(2.5)
    r = router([a, b], clock=clock)
    script = always("ok")
    with pytest.raises(NoCompliantCapacity) as caught:
        await r.dispatch((a, b), script)
    assert script.calls == []  # every breaker open: nothing is sent
    assert retry_after(caught.value) == 8  # ceil(10 - 2.5)


async def test_retry_after_is_never_below_one_second() -> None:
    a = slot("a", threshold=1, cooldown=0.01)
    r = router([a], clock=Clock(0.0))
    with pytest.raises(NoCompliantCapacity) as caught:
        await r.dispatch((a,), always(UpstreamError("x")))
    assert retry_after(caught.value) == 1


async def test_the_503_never_names_a_backend_outside_the_candidates() -> None:
    everything = [slot(f"be-{i:02d}", capacity=float(i + 1)) for i in range(8)]
    r = router(everything, max_attempts=5)
    candidates = r.slots_for(("be-01", "be-04"))
    everything[4].healthy = False
    script = Script(lambda bid: UpstreamError(f"{bid} refused the connection"))
    with pytest.raises(NoCompliantCapacity) as caught:
        await r.dispatch(candidates, script)
    assert script.calls == ["be-01"]
    named = set(re.findall(r"be-\d\d", caught.value.message))
    assert named == {"be-01", "be-04"}
    assert all(s.in_flight == 0 for s in everything)


async def test_when_every_candidate_is_unusable_the_idle_outsiders_are_not_used() -> None:
    outsiders = [slot(f"out-{i}", capacity=100.0) for i in range(3)]
    inside = [slot("in-0", healthy=False), slot("in-1", max_concurrency=1, in_flight=1), slot("in-2", threshold=1)]
    trip(inside[2], 1000.0)
    r = router([*outsiders, *inside], max_attempts=3)
    script = always("ok")
    with pytest.raises(NoCompliantCapacity) as caught:
        await r.dispatch(r.slots_for(("in-0", "in-1", "in-2")), script)
    assert script.calls == []
    assert "out-" not in caught.value.message
    assert all(s.in_flight == 0 for s in outsiders)


# -- the half-open probe across concurrent leases -------------------------------------------------------------------


def test_a_stale_release_does_not_let_a_second_probe_through() -> None:
    clock = Clock(0.0)
    a = slot("a", threshold=1, cooldown=5.0)
    r = router([a], clock=clock)
    old = r.claim((a,), set())  # admitted while closed, still running
    failing = r.claim((a,), set())
    assert old is not None
    assert failing is not None
    failing.failed()  # opens the breaker at t=0
    clock.advance(5.0)
    probe = r.claim((a,), set())
    assert probe is not None  # half-open: the one probe
    assert r.claim((a,), set()) is None
    old.released()  # e.g. its client went away, or the backend answered 429
    assert r.claim((a,), set()) is None  # still only one probe may be out


async def test_an_untried_half_open_candidate_is_reported_as_untried_not_as_open() -> None:
    clock = Clock(0.0)
    a, b = slot("a", capacity=10.0), slot("b", threshold=1, cooldown=5.0)
    trip(b, 0.0)
    clock.advance(5.0)  # b is half-open: usable, but the single attempt goes to the larger a
    r = router([a, b], max_attempts=1, clock=clock)
    with pytest.raises(NoCompliantCapacity) as caught:
        await r.dispatch((a, b), always(UpstreamError("a failed")))
    assert "b: not tried (attempt limit reached)" in caught.value.message
