"""Load reported by other gateway processes: summed without our own, and used only to rank candidates."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from regiongate.routing.load import apply, totals
from regiongate.routing.selection import choose
from tests.routing.support import slot, trip

NOW = 1000.0


def test_totals_sum_the_other_processes_reports_and_leave_out_our_own() -> None:
    reports = [("me", {"a": 5}), ("p1", {"a": 1, "b": 2}), ("p2", {"b": 3, "c": 0})]
    assert totals(reports, "me") == {"a": 1, "b": 5}


def test_apply_resets_what_no_other_process_reported() -> None:
    a, b = slot("a"), slot("b")
    a.elsewhere = b.elsewhere = 7
    apply({"a": a, "b": b}, {"a": 2})
    assert (a.elsewhere, b.elsewhere) == (2, 0)


def test_a_backend_busy_at_other_gateways_ranks_behind_an_idle_one() -> None:
    busy, idle = slot("busy", capacity=2.0), slot("idle", capacity=1.0)
    assert all(choose([busy, idle], NOW, random.Random(s)) is busy for s in range(20))  # the larger pool, idle
    busy.elsewhere = 4  # (0 + 4 + 1) / 2 = 2.5 against (0 + 0 + 1) / 1
    assert all(choose([busy, idle], NOW, random.Random(s)) is idle for s in range(20))


def test_load_elsewhere_never_makes_an_unusable_backend_eligible() -> None:
    broken, full = slot("broken"), slot("full", max_concurrency=1, in_flight=1)
    trip(broken, NOW)
    broken.elsewhere = full.elsewhere = -100  # whatever a report says
    assert choose([broken, full], NOW, random.Random(0)) is None


@settings(max_examples=200, deadline=None)
@given(
    loads=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 50), st.sampled_from((0.5, 1.0, 4.0))), min_size=1),
    seed=st.integers(0, 2**16),
)
def test_the_choice_is_a_candidate_with_the_least_load_counting_every_gateway(
    loads: list[tuple[int, int, float]], seed: int
) -> None:
    slots = [slot(f"b{i}", capacity=cap, in_flight=own) for i, (own, _, cap) in enumerate(loads)]
    for s, (_, elsewhere, _) in zip(slots, loads, strict=True):
        s.elsewhere = elsewhere
    chosen = choose(slots, NOW, random.Random(seed))
    assert chosen is not None
    assert chosen in slots
    least = min((s.in_flight + s.elsewhere + 1) / s.capacity for s in slots)
    assert (chosen.in_flight + chosen.elsewhere + 1) / chosen.capacity == least
