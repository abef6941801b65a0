"""Choosing one backend among compliant candidates: pure, given the slots' current state.

Load is measured as in-flight requests divided by relative capacity, counting the request being placed
(``(in_flight + elsewhere + 1) / capacity``): with every backend idle this prefers the larger accelerator pool
instead of a coin toss, and under load it converges to spreading work in proportion to capacity. ``elsewhere`` is
what the other gateway processes reported in flight on the backend (:mod:`regiongate.routing.load`; 0 without
them): it only ranks the candidates, it never makes one eligible. Ties are broken at random
(reservoir sampling, one pass, no allocation).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from regiongate.routing.breaker import BreakerSettings, CircuitBreaker


@dataclass(slots=True, eq=False)
class BackendSlot:
    """The gateway's live view of one backend: load, passive health (breaker) and active health."""

    id: str
    capacity: float
    max_concurrency: int | None
    breaker: CircuitBreaker = field(default_factory=lambda: CircuitBreaker(BreakerSettings()))
    in_flight: int = 0
    elsewhere: int = 0  # in flight from the other gateway processes, as they last reported
    healthy: bool = True  # result of the last active health check

    def usable(self, now: float) -> bool:
        if not self.healthy or not self.breaker.available(now):
            return False
        return self.max_concurrency is None or self.in_flight < self.max_concurrency


def choose(
    slots: Iterable[BackendSlot], now: float, rng: random.Random, exclude: AbstractSet[str] = frozenset()
) -> BackendSlot | None:
    """The least-loaded usable slot not in ``exclude``, or None. Only ever returns a member of ``slots``."""
    best: BackendSlot | None = None
    best_load = float("inf")
    ties = 0
    for slot in slots:
        # Load first: it is one division, while usability asks the breaker; a slot that cannot win is not asked.
        load = (slot.in_flight + slot.elsewhere + 1) / slot.capacity
        if load > best_load or slot.id in exclude or not slot.usable(now):
            continue
        if load < best_load:
            best, best_load, ties = slot, load, 1
        else:
            ties += 1
            if rng.random() * ties < 1.0:
                best = slot
    return best
