"""A per-backend circuit breaker (passive health), pure: time is passed in, nothing is read from a clock.

Closed: traffic flows; ``failure_threshold`` consecutive failures open it. Open: no traffic until ``cooldown`` has
passed, then half-open: exactly one probe request may go; its success closes the breaker, its failure re-opens it.
A breaker only ever *removes* a backend from the candidate set it is asked about; it never adds one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Admission(StrEnum):
    NORMAL = "normal"
    PROBE = "probe"  # the single request a half-open breaker lets through


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    failure_threshold: int = 3
    cooldown: float = 5.0  # seconds an open breaker waits before letting one probe through

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.cooldown <= 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown > 0")


class CircuitBreaker:
    __slots__ = ("_failures", "_opened_at", "_probe_in_flight", "_state", "settings")

    def __init__(self, settings: BreakerSettings) -> None:
        self.settings = settings
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    def state(self, now: float) -> BreakerState:
        if self._state is BreakerState.OPEN and now - self._opened_at >= self.settings.cooldown:
            return BreakerState.HALF_OPEN
        return self._state

    def available(self, now: float) -> bool:
        """Whether a request may be sent now (without claiming the half-open probe slot)."""
        if self._state is BreakerState.CLOSED:  # the common case, on every candidate of every request
            return True
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        return state is BreakerState.HALF_OPEN and not self._probe_in_flight

    def acquire(self, now: float) -> Admission | None:
        """Claim the right to send one request; in half-open state only one probe is let through."""
        if not self.available(now):
            return None
        if self.state(now) is BreakerState.HALF_OPEN:
            self._state = BreakerState.HALF_OPEN
            self._probe_in_flight = True
            return Admission.PROBE
        return Admission.NORMAL

    def seconds_until_probe(self, now: float) -> float:
        """How long until this breaker lets a request through again (0 if it does now)."""
        if self._state is BreakerState.OPEN:
            return max(0.0, self.settings.cooldown - (now - self._opened_at))
        return 0.0

    def record_success(self) -> None:
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe_in_flight = False

    def record_failure(self, now: float) -> None:
        if self._state is BreakerState.OPEN:
            return  # a late failure of a request admitted before it opened: no news, and no longer cooldown
        self._probe_in_flight = False
        if self._state is BreakerState.HALF_OPEN:
            self._open(now)
            return
        self._failures += 1
        if self._failures >= self.settings.failure_threshold:
            self._open(now)

    def release(self, admission: Admission) -> None:
        """A claimed request ended without telling anything about health (e.g. the client went away).

        Only the probe's own release frees the probe slot: a request admitted earlier, while the breaker was still
        closed, must not let a second probe through.
        """
        if admission is Admission.PROBE:
            self._probe_in_flight = False

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = now
        self._failures = 0
