"""Running a gateway process: what happens once it listens."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator

import pytest

from regiongate.serve import _freeze_once_ready


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # frozen objects are never collected: give the rest of the test run its collector back


async def test_what_was_built_at_start_leaves_the_collectors_sight_once_listening() -> None:
    ready = asyncio.Event()

    async def serving() -> None:
        ready.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(serving())
    try:
        await _freeze_once_ready(ready, task)
        frozen = gc.get_freeze_count()
        assert frozen > 10_000  # the interpreter, the modules, the test run: all of it
        assert len(gc.get_objects(generation=2)) < frozen / 100  # what a full collection still scans
    finally:
        task.cancel()


async def test_a_gateway_that_never_listens_freezes_nothing() -> None:
    async def failing() -> None:
        raise OSError("address in use")

    task = asyncio.create_task(failing())
    await _freeze_once_ready(asyncio.Event(), task)
    assert gc.get_freeze_count() == 0
    with pytest.raises(OSError, match="address in use"):
        await task
