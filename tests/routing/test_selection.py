"""Choosing among compliant slots: least (in_flight + 1) / capacity, random ties, unusable slots never chosen."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest

from regiongate.routing.breaker import Admission
from regiongate.routing.selection import BackendSlot, choose
from tests.routing.support import slot, trip

NOW = 1000.0


def rng(seed: int = 7) -> random.Random:
    return random.Random(seed)


def test_the_least_loaded_slot_counting_the_new_request_wins() -> None:
    # Without the +1, "a" (0 / 1 = 0) would beat "b" (1 / 3); counting the request being placed, b is lighter.
    a = slot("a", capacity=1.0, in_flight=0)  # (0 + 1) / 1 = 1.0
    b = slot("b", capacity=3.0, in_flight=1)  # (1 + 1) / 3 ≈ 0.67
    c = slot("c", capacity=2.0, in_flight=1)  # (1 + 1) / 2 = 1.0
    for seed in range(20):
        assert choose([a, b, c], NOW, rng(seed)) is b


def test_idle_backends_prefer_the_larger_pool() -> None:
    small, big = slot("small", capacity=1.0), slot("big", capacity=4.0)
    assert all(choose([small, big], NOW, rng(s)) is big for s in range(20))
    assert all(choose([big, small], NOW, rng(s)) is big for s in range(20))


def test_choose_does_not_change_load() -> None:
    a = slot("a", in_flight=2)
    choose([a], NOW, rng())
    assert a.in_flight == 2


def test_ties_are_broken_randomly_and_evenly_between_two() -> None:
    a, b = slot("a", capacity=2.0, in_flight=1), slot("b", capacity=1.0)  # both (n + 1) / cap = 1.0
    r = rng(1234)
    picks = Counter(chosen.id for _ in range(2000) if (chosen := choose([a, b], NOW, r)) is not None)
    assert sum(picks.values()) == 2000
    assert 850 <= picks["a"] <= 1150
    assert 850 <= picks["b"] <= 1150


def test_a_three_way_tie_is_uniform_not_biased_to_the_last_one() -> None:
    # A naive "replace the best with probability 1/2 on each tie" would give the last slot about half the picks.
    slots = [slot(x) for x in "abc"]
    r = rng(99)
    picks = Counter(chosen.id for _ in range(3000) if (chosen := choose(slots, NOW, r)) is not None)
    for backend_id in "abc":
        assert 850 <= picks[backend_id] <= 1150, picks


def test_ties_only_among_the_least_loaded() -> None:
    a, b, heavy = slot("a"), slot("b"), slot("heavy", in_flight=1)
    r = rng(5)
    picks = {chosen.id for _ in range(200) if (chosen := choose([heavy, a, heavy, b], NOW, r)) is not None}
    assert picks == {"a", "b"}


def _excluded(s: BackendSlot) -> frozenset[str]:
    return frozenset({s.id})


def _unhealthy(s: BackendSlot) -> frozenset[str]:
    s.healthy = False
    return frozenset()


def _breaker_open(s: BackendSlot) -> frozenset[str]:
    trip(s, NOW)
    return frozenset()


def _probe_in_flight(s: BackendSlot) -> frozenset[str]:
    trip(s, NOW - 60.0)  # cooldown long over: half-open ...
    assert s.breaker.acquire(NOW) is Admission.PROBE  # ... and the one probe has been claimed
    return frozenset()


def _at_max_concurrency(s: BackendSlot) -> frozenset[str]:
    s.max_concurrency = 2
    s.in_flight = 2
    return frozenset()


@pytest.mark.parametrize(
    "make_unusable",
    [_excluded, _unhealthy, _breaker_open, _probe_in_flight, _at_max_concurrency],
    ids=["excluded", "unhealthy", "breaker-open", "half-open-probe-taken", "at-max-concurrency"],
)
def test_an_unusable_slot_is_never_chosen_even_when_it_is_the_least_loaded(
    make_unusable: Callable[[BackendSlot], frozenset[str]],
) -> None:
    # "best" has 100x the capacity of "other": if it were usable at all, it would always win.
    best, other = slot("best", capacity=100.0), slot("other", capacity=1.0, in_flight=5)
    exclude = make_unusable(best)
    for seed in range(30):
        assert choose([best, other], NOW, rng(seed), exclude) is other
    other.healthy = False
    assert choose([best, other], NOW, rng(), exclude) is None


def test_below_max_concurrency_a_slot_is_usable() -> None:
    s = slot("a", max_concurrency=3, in_flight=2)
    assert choose([s], NOW, rng()) is s
    s.in_flight = 3
    assert choose([s], NOW, rng()) is None


def test_a_half_open_breaker_with_no_probe_out_is_usable() -> None:
    s = slot("a", cooldown=5.0)
    trip(s, NOW - 5.0)
    assert choose([s], NOW, rng()) is s


def test_nothing_usable_gives_none() -> None:
    assert choose([], NOW, rng()) is None
    a, b, c = slot("a", healthy=False), slot("b"), slot("c", max_concurrency=1, in_flight=1)
    trip(b, NOW)
    assert choose([a, b, c], NOW, rng()) is None
    assert choose([slot("d"), slot("e")], NOW, rng(), frozenset({"d", "e"})) is None


@pytest.mark.parametrize(("small_cap", "big_cap"), [(1.0, 3.0), (2.0, 5.0)])
def test_held_requests_spread_in_proportion_to_capacity(small_cap: float, big_cap: float) -> None:
    small, big = slot("small", capacity=small_cap), slot("big", capacity=big_cap)
    r = rng(42)
    total = 700
    for _ in range(total):
        chosen = choose([small, big], NOW, r)
        assert chosen is not None
        chosen.in_flight += 1  # held: never completes during the test
    assert small.in_flight + big.in_flight == total
    expected_small = total * small_cap / (small_cap + big_cap)
    assert abs(small.in_flight - expected_small) <= 2
    assert big.in_flight / small.in_flight == pytest.approx(big_cap / small_cap, rel=0.02)


def test_max_concurrency_caps_a_big_pool_and_the_rest_overflows() -> None:
    big, small = slot("big", capacity=10.0, max_concurrency=3), slot("small", capacity=1.0)
    r = rng(0)
    for _ in range(6):
        chosen = choose([big, small], NOW, r)
        assert chosen is not None
        chosen.in_flight += 1
    assert (big.in_flight, small.in_flight) == (3, 3)
