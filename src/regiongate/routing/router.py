"""Live backend state and the bounded retry loop over one compliant candidate set.

The candidate set is computed by the caller from the compliance matrix and handed in as a tuple of slots; the
router can only choose among them. Nothing here looks a backend up by any other route, so no retry, breaker state
or health state can ever widen the set: when it is exhausted the caller gets :class:`NoCompliantCapacity`.
Concurrency permits shared by several gateway processes (:mod:`regiongate.routing.permits`) only ever remove
candidates for the request at hand, and so does the breaker news they tell each other (:mod:`regiongate.routing.news`).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TypeVar

from regiongate.errors import NoCompliantCapacity, UpstreamError, UpstreamOverloaded
from regiongate.routing.breaker import Admission, BreakerState
from regiongate.routing.news import BreakerNews
from regiongate.routing.permits import Permits, Release
from regiongate.routing.selection import BackendSlot, choose

T = TypeVar("T")


class Lease:
    """One claimed attempt on a backend; exactly one of its outcomes is applied, once."""

    __slots__ = ("_admission", "_clock", "_done", "_news", "permit", "slot")

    def __init__(
        self, slot: BackendSlot, admission: Admission, clock: Callable[[], float], news: BreakerNews | None = None
    ) -> None:
        self.slot = slot
        self._admission = admission
        self._clock = clock
        self._news = news
        self._done = False
        self.permit: Release | None = None  # the shared permit this attempt holds, if its backend is capped
        slot.in_flight += 1

    def succeeded(self) -> None:
        if self._finish():
            closed = self.slot.breaker.record_success()
            if closed and self._news is not None:
                self._news.closed(self.slot.id)

    def failed(self) -> None:
        if self._finish():
            opened = self.slot.breaker.record_failure(self._clock(), self._admission)
            if opened and self._news is not None:
                self._news.opened(self.slot.id)

    def released(self) -> None:
        """Ended without a verdict on the backend's health (client went away, backend was merely busy)."""
        if self._finish():
            self.slot.breaker.release(self._admission)

    def _finish(self) -> bool:
        if self._done:
            return False
        self._done = True
        self.slot.in_flight -= 1
        if self.permit is not None:
            self.permit()
        return True


@dataclass(frozen=True, slots=True)
class Attempted:
    backend_id: str
    error: UpstreamError


class Router:
    def __init__(
        self,
        slots: Iterable[BackendSlot],
        *,
        max_attempts: int = 3,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        permits: Permits | None = None,
        news: BreakerNews | None = None,
    ) -> None:
        """``permits`` and ``news``: concurrency permits and breaker news shared with other gateway processes."""
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.slots: Mapping[str, BackendSlot] = {slot.id: slot for slot in slots}
        self.max_attempts = max_attempts
        self._rng = rng or random.Random()
        self._clock = clock
        self.permits = permits
        self.news = news
        self._cache: dict[tuple[str, ...], tuple[BackendSlot, ...]] = {}

    def slots_for(self, backend_ids: tuple[str, ...]) -> tuple[BackendSlot, ...]:
        """The slots of exactly these backends (cached: candidate tuples come from a fixed matrix)."""
        found = self._cache.get(backend_ids)
        if found is None:
            found = tuple(self.slots[bid] for bid in backend_ids)
            self._cache[backend_ids] = found
        return found

    def claim(self, candidates: Sequence[BackendSlot], exclude: set[str]) -> Lease | None:
        now = self._clock()
        slot = choose(candidates, now, self._rng, exclude)
        if slot is None:
            return None
        admission = slot.breaker.acquire(now)
        return None if admission is None else Lease(slot, admission, self._clock, self.news)

    def heard(self, backend_id: str, opened: bool) -> None:
        """A peer's news about a backend's breaker; about a backend this gateway does not know, nothing."""
        slot = self.slots.get(backend_id)
        if slot is None:
            return
        if opened:
            slot.breaker.heard_opened(self._clock())
        else:
            slot.breaker.heard_closed()

    async def dispatch(
        self, candidates: Sequence[BackendSlot], attempt: Callable[[Lease], Awaitable[T]]
    ) -> tuple[Lease, T]:
        """Run ``attempt`` on up to ``max_attempts`` distinct candidates until one does not raise UpstreamError.

        On success the lease is returned still open: the caller settles it when the response has been relayed.
        """
        tried: set[str] = set()
        full: set[str] = set()  # at their limit across the gateways: refused a permit, so not attempts
        failures: list[Attempted] = []
        for _ in range(self.max_attempts):
            # Only a shared store makes claiming asynchronous: the single-process path pays no coroutine for it.
            if self.permits is None:
                lease = self.claim(candidates, tried)
            else:
                lease = await self._permitted(candidates, tried, full)
            if lease is None:
                break
            tried.add(lease.slot.id)
            try:
                result = await attempt(lease)
            except UpstreamOverloaded as exc:
                lease.released()
                failures.append(Attempted(lease.slot.id, exc))
            except UpstreamError as exc:
                lease.failed()
                failures.append(Attempted(lease.slot.id, exc))
            except BaseException:
                lease.released()
                raise
            else:
                return lease, result
        raise self.exhausted(candidates, failures, full)

    async def _permitted(self, candidates: Sequence[BackendSlot], tried: set[str], full: set[str]) -> Lease | None:
        """A claimed lease that also holds a shared permit where its backend is capped; backends refused one
        join ``full`` and the next least-loaded candidate is claimed instead."""
        while True:
            lease = self.claim(candidates, tried | full if full else tried)
            limit = None if lease is None else lease.slot.max_concurrency
            if lease is None or limit is None or self.permits is None:
                return lease
            try:
                permit = await self.permits.acquire(lease.slot.id, limit)
            except BaseException:  # the store is unreachable (503) or the request was cancelled
                lease.released()
                raise
            if permit is not None:
                lease.permit = permit
                return lease
            lease.released()
            full.add(lease.slot.id)

    def exhausted(
        self, candidates: Sequence[BackendSlot], failures: Sequence[Attempted], full: AbstractSet[str] = frozenset()
    ) -> NoCompliantCapacity:
        now = self._clock()
        failed = {a.backend_id: a.error.message for a in failures}
        for slot in candidates:
            if slot.id in full:
                failed[slot.id] = f"at its concurrency limit ({slot.max_concurrency}) across the gateways sharing it"
        reasons = [f"{slot.id}: {failed.get(slot.id) or self._why_unusable(slot, now)}" for slot in candidates]
        retry_after = self._retry_after(candidates, now)
        return NoCompliantCapacity(
            "No compliant backend can take this request now; the request was not sent anywhere else. "
            + "; ".join(reasons),
            headers={"Retry-After": str(retry_after)},
        )

    @staticmethod
    def _why_unusable(slot: BackendSlot, now: float) -> str:
        if slot.usable(now):
            return "not tried (attempt limit reached)"
        if not slot.healthy:
            return "failing health checks"
        if slot.breaker.state(now) is not BreakerState.CLOSED:
            return "circuit open after consecutive failures"
        if slot.max_concurrency is not None and slot.in_flight >= slot.max_concurrency:
            return f"at its concurrency limit ({slot.max_concurrency})"
        return "not tried (attempt limit reached)"

    @staticmethod
    def _retry_after(candidates: Sequence[BackendSlot], now: float) -> int:
        waits = [slot.breaker.seconds_until_probe(now) for slot in candidates]
        return max(1, math.ceil(min(waits, default=1.0)))
