"""Load that gateway processes sharing backends report to each other, so that each ranks candidates by what all of
them have in flight, not by its own share alone.

Each process reports its in-flight count per backend on an interval and takes back the sum of the others'
(``BackendSlot.elsewhere``). Selection adds it to its own count (:func:`regiongate.routing.selection.choose`): a
backend busy with another gateway's requests is less attractive, never more eligible. Counts are as fresh as the
interval; a process that stops reporting drops out of the sum after a few intervals, and while reports cannot be
exchanged each process ranks by its own counts alone, as a single process does.

``SharedLoad`` is the small protocol; :mod:`regiongate.state.redis_load` exchanges the reports through Redis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from regiongate.routing.selection import BackendSlot


class SharedLoad(Protocol):
    def start(self, slots: Mapping[str, BackendSlot]) -> None:
        """Report these slots' in-flight counts on an interval and keep their ``elsewhere`` up to date."""
        ...

    async def close(self) -> None:
        """Stop, and withdraw this process's report so the others stop counting it at once."""
        ...


def totals(reports: Iterable[tuple[str, Mapping[str, int]]], origin: str) -> dict[str, int]:
    """In flight per backend summed over every report but ``origin``'s own (pure)."""
    summed: dict[str, int] = {}
    for reporter, counts in reports:
        if reporter == origin:
            continue
        for backend_id, count in counts.items():
            if count > 0:
                summed[backend_id] = summed.get(backend_id, 0) + count
    return summed


def apply(slots: Mapping[str, BackendSlot], elsewhere: Mapping[str, int]) -> None:
    """Set every slot's ``elsewhere`` (0 for a backend no other process reported)."""
    for backend_id, slot in slots.items():
        slot.elsewhere = elsewhere.get(backend_id, 0)
