"""Concurrency permits that gateway processes share, so that a backend's ``max_concurrency`` bounds the backend
and not each process.

Each process still counts its own in-flight requests (``BackendSlot.in_flight``: its choice by load, and a local
bound that needs no round trip). Processes given a shared store (``REGIONGATE_STATE_URL``) also ask it for a permit
before they send a request to a backend that declares ``max_concurrency``; the permit is given back when the lease
ends. A permit refused means the backend is full across the gateways: the router tries another candidate of the
same compliant set, as it does for a backend at its local limit. A store that cannot answer fails the request (503
``state_unavailable``) before anything is sent: the bound is never guessed.

``Permits`` is the small protocol; :class:`LocalPermits` keeps the counts in one process (what tests share, and
what several routers in one process can share); :mod:`regiongate.state.redis_permits` keeps them in Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from regiongate.errors import StateUnavailable

__all__ = ["LocalPermits", "Permits", "Release", "StateUnavailable"]

Release = Callable[[], None]


class Permits(Protocol):
    async def acquire(self, backend_id: str, limit: int) -> Release | None:
        """A permit for one request to ``backend_id`` if fewer than ``limit`` are held in all, else None.
        The returned function gives it back (idempotent). Raises :class:`StateUnavailable`."""
        ...

    def held(self, backend_id: str) -> int:
        """Permits this process holds for ``backend_id`` (for messages and tests)."""
        ...

    async def close(self) -> None: ...


class LocalPermits:
    """Permits counted in this process: shared by every router given the same instance."""

    def __init__(self) -> None:
        self._held: dict[str, int] = {}

    async def acquire(self, backend_id: str, limit: int) -> Release | None:
        held = self._held.get(backend_id, 0)
        if held >= limit:
            return None
        self._held[backend_id] = held + 1
        returned = False

        def release() -> None:
            nonlocal returned
            if not returned:
                returned = True
                self._held[backend_id] -= 1

        return release

    def held(self, backend_id: str) -> int:
        return self._held.get(backend_id, 0)

    async def close(self) -> None:
        return None
