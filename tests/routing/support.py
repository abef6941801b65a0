"""Small helpers for the routing tests: a hand-driven clock and slot factories."""

from __future__ import annotations

from regiongate.routing.breaker import BreakerSettings, CircuitBreaker
from regiongate.routing.selection import BackendSlot


class Clock:
    """A clock the test moves by hand; callable like ``time.monotonic``."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def slot(
    backend_id: str,
    capacity: float = 1.0,
    max_concurrency: int | None = None,
    *,
    threshold: int = 3,
    cooldown: float = 5.0,
    in_flight: int = 0,
    healthy: bool = True,
) -> BackendSlot:
    breaker = CircuitBreaker(BreakerSettings(failure_threshold=threshold, cooldown=cooldown))
    return BackendSlot(backend_id, capacity, max_concurrency, breaker, in_flight=in_flight, healthy=healthy)


def trip(target: BackendSlot, now: float) -> None:
    """Open the slot's breaker at ``now`` by recording as many consecutive failures as its threshold asks."""
    for _ in range(target.breaker.settings.failure_threshold):
        target.breaker.record_failure(now)
