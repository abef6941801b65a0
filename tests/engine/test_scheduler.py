"""The engine's scheduler and worker threads, with a scripted model (no llama.cpp): order, limits, hand-over,
cancellation, and that a model instance is never used by two threads at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping, Sequence

import pytest

from regiongate.engine.model import Finish, Piece, Sampling
from regiongate.engine.scheduler import ModelFailed, QueueFull, QueueTimeout, Scheduler, Worker


class ScriptedModel:
    """Yields ``words`` pieces, ``pause`` seconds apart; records overlapping use."""

    def __init__(self, words: int = 5, pause: float = 0.01) -> None:
        self.words = words
        self.pause = pause
        self.active = 0
        self.overlapped = False
        self.produced = 0

    @property
    def context_length(self) -> int:
        return 100

    def generate(
        self, messages: Sequence[Mapping[str, str]], sampling: Sampling, cancelled: threading.Event
    ) -> Iterator[Piece]:
        self.active += 1
        self.overlapped |= self.active > 1
        try:
            for n in range(self.words):
                if cancelled.is_set():
                    return
                time.sleep(self.pause)
                self.produced += 1
                yield f"w{n} "
            yield Finish("stop", 3, self.words)
        finally:
            self.active -= 1


async def answer(scheduler: Scheduler[Worker]) -> str:
    worker = await scheduler.acquire()
    generation = worker.run([{"role": "user", "content": "hi"}], Sampling(), scheduler.release)
    parts: list[str] = []
    while isinstance(piece := await generation.next(), str):
        parts.append(piece)
    assert isinstance(piece, Finish)
    return "".join(parts)


async def test_one_instance_serves_queued_requests_one_at_a_time() -> None:
    model = ScriptedModel()
    worker = Worker(0, model)
    scheduler: Scheduler[Worker] = Scheduler([worker], queue_limit=8, queue_timeout=5.0)
    try:
        answers = await asyncio.gather(*(answer(scheduler) for _ in range(5)))
        await asyncio.sleep(0.05)  # the last worker is released once its thread's job is done, just after its Finish
    finally:
        worker.close()
    assert answers == ["w0 w1 w2 w3 w4 "] * 5
    assert not model.overlapped
    assert (scheduler.served, scheduler.refused, scheduler.busy) == (5, 0, 0)


async def test_a_full_queue_refuses_at_once_and_a_long_wait_gives_up() -> None:
    scheduler: Scheduler[str] = Scheduler(["only"], queue_limit=1, queue_timeout=0.2)
    held = await scheduler.acquire()
    waiting = asyncio.create_task(scheduler.acquire())
    await asyncio.sleep(0)
    with pytest.raises(QueueFull) as full:
        await scheduler.acquire()
    assert full.value.status == 429
    assert full.value.retry_after == 1
    with pytest.raises(QueueTimeout) as timed_out:
        await waiting
    assert timed_out.value.status == 503
    scheduler.release(held)
    assert await scheduler.acquire() == "only"  # nothing was lost along the way
    assert scheduler.refused == 2


async def test_a_waiter_that_gives_up_does_not_swallow_the_worker() -> None:
    scheduler: Scheduler[str] = Scheduler(["only"], queue_limit=4, queue_timeout=5.0)
    held = await scheduler.acquire()
    quitter = asyncio.create_task(scheduler.acquire())
    patient = asyncio.create_task(scheduler.acquire())
    await asyncio.sleep(0)
    quitter.cancel()
    scheduler.release(held)
    assert await patient == "only"
    with pytest.raises(asyncio.CancelledError):
        await quitter


async def test_cancelling_a_generation_frees_its_worker_within_a_piece() -> None:
    model = ScriptedModel(words=1000, pause=0.005)
    worker = Worker(0, model)
    scheduler: Scheduler[Worker] = Scheduler([worker], queue_limit=1, queue_timeout=5.0)
    try:
        first = await scheduler.acquire()
        generation = first.run([{"role": "user", "content": "hi"}], Sampling(), scheduler.release)
        assert await generation.next() == "w0 "
        generation.cancel()
        model.words = 5  # the next request is short: it gets the worker once the long one has stopped
        assert await asyncio.wait_for(answer(scheduler), 2.0) == "w0 w1 w2 w3 w4 "
    finally:
        worker.close()
    assert model.produced < 50  # of the first request's 1000 pieces: it stopped within a few
    assert not model.overlapped


async def test_model_errors_reach_the_request() -> None:
    class Broken(ScriptedModel):
        def generate(
            self, messages: Sequence[Mapping[str, str]], sampling: Sampling, cancelled: threading.Event
        ) -> Iterator[Piece]:
            raise RuntimeError("out of memory")
            yield ""  # pragma: no cover  (a generator)

    worker = Worker(0, Broken())
    scheduler: Scheduler[Worker] = Scheduler([worker], queue_limit=1, queue_timeout=5.0)
    try:
        generation = (await scheduler.acquire()).run([], Sampling(), scheduler.release)
        with pytest.raises(ModelFailed, match="RuntimeError: out of memory"):
            await generation.next()
        assert (await scheduler.acquire()) is worker  # released once its thread was done
    finally:
        worker.close()
