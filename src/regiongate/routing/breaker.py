"""A per-backend circuit breaker (passive health), pure: time is passed in, nothing is read from a clock.

Closed: traffic flows; ``failure_threshold`` consecutive failures open it. Open: no traffic until ``cooldown`` has
passed, then half-open: exactly one probe request may go; its success closes the breaker, its failure re-opens it.
A breaker only ever *removes* a backend from the candidate set it is asked about; it never adds one.

Gateway processes sharing a backend may also tell each other when their breakers open and close
(:mod:`regiongate.routing.news`): ``heard_opened`` and ``heard_closed`` apply a peer's news, and the transitions
``record_failure`` and ``record_success`` report are what a process tells its peers. Only first-hand evidence is
told on, so news never echoes between processes.
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

    def record_success(self) -> bool:
        """A request succeeded; True if that closed an open or half-open breaker."""
        was_closed = self._state is BreakerState.CLOSED
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probe_in_flight = False
        return not was_closed

    def record_failure(self, now: float, admission: Admission = Admission.NORMAL) -> bool:
        """A request failed; True if that opened the breaker."""
        if self._state is BreakerState.OPEN:
            # A late failure of a request admitted before it opened: no news, and no longer cooldown. A probe's
            # (the breaker was opened meanwhile by a peer's news) frees the probe slot, or none would pass again.
            if admission is Admission.PROBE:
                self._probe_in_flight = False
            return False
        self._probe_in_flight = False
        if self._state is BreakerState.HALF_OPEN:
            self._open(now)
            return True
        self._failures += 1
        if self._failures >= self.settings.failure_threshold:
            self._open(now)
            return True
        return False

    def heard_opened(self, now: float) -> None:
        """A peer's breaker for this backend opened: stop sending to it for a cooldown of our own. An open breaker
        keeps its cooldown (news never prolongs it); a probe already in flight still settles the state."""
        if self._state is not BreakerState.OPEN:
            self._open(now)

    def heard_closed(self) -> None:
        """A peer's probe succeeded: the backend answers again. Our own count of failures, if any, stands."""
        if self._state is not BreakerState.CLOSED:
            self._state = BreakerState.CLOSED
            self._failures = 0

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
