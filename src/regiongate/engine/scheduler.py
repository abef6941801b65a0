"""Bounded concurrency for the engine: N workers (one loaded model and one thread each), a bounded wait queue.

A request takes a free worker, or waits in line if fewer than ``queue_limit`` already wait. A full line is refused
at once (:class:`QueueFull` → 429) and a request that waited ``queue_timeout`` seconds gives up (:class:`QueueTimeout`
→ 503): an overloaded engine says so quickly instead of hanging. Waiters are served first come, first served.

:class:`Worker` runs one generation at a time on its own thread and streams the pieces back to the event loop; it is
released only when its thread has finished, so a model instance is never used by two threads at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from regiongate.engine.model import ChatModel, Finish, Piece, PromptTooLong, Sampling

W = TypeVar("W")


class Overloaded(Exception):
    status = 503

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelFailed(Exception):
    """The model raised while generating (the message names what); the request answers 500."""


class QueueFull(Overloaded):
    status = 429


class QueueTimeout(Overloaded):
    status = 503


class Scheduler(Generic[W]):
    def __init__(self, workers: Sequence[W], *, queue_limit: int, queue_timeout: float) -> None:
        if not workers:
            raise ValueError("a scheduler needs at least one worker")
        self.capacity = len(workers)
        self.queue_limit = queue_limit
        self.queue_timeout = queue_timeout
        self._free: deque[W] = deque(workers)
        self._waiters: deque[asyncio.Future[W]] = deque()
        self.served = 0  # requests that got a worker
        self.refused = 0  # requests refused (queue full or waited too long)

    @property
    def busy(self) -> int:
        return self.capacity - len(self._free)

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

    async def acquire(self) -> W:
        if self._free and not self.waiting:
            self.served += 1
            return self._free.popleft()
        if self.waiting >= self.queue_limit:
            self.refused += 1
            raise QueueFull(f"the engine is busy: {self.busy} running and {self.waiting} waiting (the queue limit)")
        waiter: asyncio.Future[W] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(self.queue_timeout):
                worker = await waiter
        except TimeoutError:
            self.refused += 1
            raise QueueTimeout(f"the engine is busy: waited {self.queue_timeout:g}s for a free worker") from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())  # handed a worker in the same instant we gave up: pass it on
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
        self.served += 1
        return worker

    def release(self, worker: W) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        self._free.append(worker)


_End = object()


class Worker:
    """One model instance and the one thread that may call it."""

    def __init__(self, index: int, model: ChatModel) -> None:
        self.index = index
        self.model = model
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"engine-worker-{index}")

    def run(
        self,
        messages: Sequence[Mapping[str, str]],
        sampling: Sampling,
        on_done: Callable[[Worker], None],
    ) -> Generation:
        """Start generating on this worker's thread; ``on_done(self)`` is called (on the loop) once it finished."""
        generation = Generation(asyncio.get_running_loop())
        job = generation.loop.run_in_executor(
            self._thread, generation.produce, lambda: self.model.generate(messages, sampling, generation.cancelled)
        )
        job.add_done_callback(lambda _: on_done(self))
        return generation

    def close(self) -> None:
        self._thread.shutdown(wait=True, cancel_futures=True)


class Generation:
    """The pieces of one answer, handed from the worker thread to the event loop as they come."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.cancelled = threading.Event()
        self._pieces: asyncio.Queue[Piece | BaseException | object] = asyncio.Queue()

    def produce(self, pieces: Callable[[], Iterator[Piece]]) -> None:
        """Runs on the worker thread."""
        try:
            for piece in pieces():
                self._hand_over(piece)
                if self.cancelled.is_set():
                    break
        except PromptTooLong as exc:
            self._hand_over(exc)
        except Exception as exc:  # noqa: BLE001 - handed to the request, which answers with an OpenAI error
            self._hand_over(ModelFailed(f"{type(exc).__name__}: {exc}"))
        finally:
            self._hand_over(_End)

    def _hand_over(self, item: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is listening any more
            self.loop.call_soon_threadsafe(self._pieces.put_nowait, item)

    def cancel(self) -> None:
        self.cancelled.set()

    async def next(self) -> Piece | None:
        """The next text piece, then one :class:`Finish`, then None; raises what the model raised."""
        item = await self._pieces.get()
        if isinstance(item, BaseException):
            raise item
        return item if isinstance(item, str | Finish) else None
