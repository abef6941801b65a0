"""Breaker news that gateway processes sharing backends tell each other, so that one process's evidence spares the
others from learning it again with their own tenants' requests.

A process tells its peers when its own requests open a backend's breaker (failures) and when its own probe closes
it again (``opened`` / ``closed``). A peer applies the news to its breaker for that backend
(:meth:`~regiongate.routing.breaker.CircuitBreaker.heard_opened`, ``heard_closed``) and never tells it on: only
first-hand evidence is news, so nothing echoes. News only changes which members of a compliant candidate set are
tried first or at all; it never names a backend into a set. Delivery is best effort: a process that misses news
still has its own breakers, as a process without peers does.

``BreakerNews`` is the small protocol; :class:`LocalNewsBus` connects routers in one process (what tests share);
:mod:`regiongate.state.redis_news` carries news over Redis pub/sub.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Listener = Callable[[str, bool], None]  # (backend id, opened): a peer's breaker for it opened (True) or closed


class BreakerNews(Protocol):
    def opened(self, backend_id: str) -> None:
        """Our own requests opened this backend's breaker (never blocks: delivery is in the background)."""
        ...

    def closed(self, backend_id: str) -> None:
        """Our own probe closed this backend's breaker."""
        ...

    def start(self, listener: Listener) -> None:
        """Deliver the peers' news (never our own) to ``listener`` from now on."""
        ...

    async def close(self) -> None: ...


class LocalNewsBus:
    """Breaker news between the members of one process: each member hears the others', at once."""

    def __init__(self) -> None:
        self._members: list[LocalBreakerNews] = []

    def member(self) -> LocalBreakerNews:
        news = LocalBreakerNews(self)
        self._members.append(news)
        return news

    def tell(self, origin: LocalBreakerNews, backend_id: str, opened: bool) -> None:
        for member in self._members:
            if member is not origin and member.listener is not None:
                member.listener(backend_id, opened)


class LocalBreakerNews:
    def __init__(self, bus: LocalNewsBus) -> None:
        self._bus = bus
        self.listener: Listener | None = None
        self.told: list[tuple[str, bool]] = []  # what this member told its peers, in order (for tests)

    def opened(self, backend_id: str) -> None:
        self._tell(backend_id, True)

    def closed(self, backend_id: str) -> None:
        self._tell(backend_id, False)

    def _tell(self, backend_id: str, opened: bool) -> None:
        self.told.append((backend_id, opened))
        self._bus.tell(self, backend_id, opened)

    def start(self, listener: Listener) -> None:
        self.listener = listener

    async def close(self) -> None:
        self.listener = None
