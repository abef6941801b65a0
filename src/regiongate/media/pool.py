"""A bounded pool for media work, so decoding never runs on the event loop and overload is refused, not queued.

At most ``workers`` jobs run and ``queue`` more wait; a job beyond that gets :class:`MediaBusy` (503, Retry-After)
at once. A slot is freed when the job really finishes, not when its caller stops waiting (a cancelled request's
decode still occupies a worker until it ends, and is counted so).

Processes are the default: a decoder crash (FFmpeg and libwebp are C) then kills a worker, not the gateway, a
worker's address space can be capped, and workers are recycled after ``tasks_per_child`` jobs so a fragmented heap
does not grow forever. Threads are available for tests and for where processes are not allowed; both pools
parallelize (Pillow and PyAV release the GIL while decoding), see ``bench/media.py`` for the measured difference.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from regiongate.errors import ApiError
from regiongate.media.lifeline import tie_to_parent

A = TypeVar("A")
R = TypeVar("R")

_PRELOAD = ["regiongate.media.worker"]  # imported once by the fork server, inherited by every worker


class MediaBusy(ApiError):
    status = 503
    type = "server_error"
    code = "media_busy"


class MediaWorkerLost(ApiError):
    """A worker process died (a decoder crashed, or the memory cap was hit) while this job was in it."""

    status = 503
    type = "server_error"
    code = "media_worker_lost"


def _start_worker(memory_limit: int | None) -> None:
    tie_to_parent()  # else a gateway killed with SIGKILL leaves its workers and fork server behind
    if memory_limit is not None:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))


class MediaPool:
    def __init__(
        self,
        workers: int = 2,
        queue: int = 8,
        *,
        processes: bool = True,
        memory_limit: int | None = None,
        tasks_per_child: int = 200,
        retry_after: int = 1,
    ) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("MediaPool needs at least one worker and a non-negative queue")
        self.workers, self.queue, self.processes = workers, queue, processes
        self._memory_limit, self._tasks_per_child = memory_limit, tasks_per_child
        self._retry_after = retry_after
        self._lock = threading.Lock()  # done-callbacks run on executor threads
        self._in_flight = 0
        self._executor = self._new_executor()

    @property
    def capacity(self) -> int:
        return self.workers + self.queue

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def run(self, fn: Callable[[A], R], arg: A) -> R:
        """Run ``fn(arg)`` in the pool. Raises :class:`MediaBusy` at once if the pool and its queue are full."""
        self._acquire()
        executor = self._executor
        try:
            future = executor.submit(fn, arg)
        except (BrokenProcessPool, RuntimeError):
            self._release()
            self._replace_executor(executor)
            raise MediaWorkerLost("a media worker was lost; please retry") from None
        future.add_done_callback(self._release_on_done)
        try:
            return await asyncio.wrap_future(future)  # cancelling this cancels the job if it has not started
        except BrokenProcessPool:
            self._replace_executor(executor)
            raise MediaWorkerLost("a media worker was lost; please retry") from None

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def __aenter__(self) -> MediaPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)

    def _acquire(self) -> None:
        with self._lock:
            if self._in_flight >= self.capacity:
                raise MediaBusy(
                    "the gateway is busy processing media; please retry",
                    headers={"Retry-After": str(self._retry_after)},
                )
            self._in_flight += 1

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _release_on_done(self, _: Future[Any]) -> None:
        self._release()

    def _new_executor(self) -> Executor:
        if not self.processes:
            return ThreadPoolExecutor(self.workers, thread_name_prefix="media")
        # forkserver, not fork: the gateway process has threads (event loop helpers, this pool's own), and forking
        # a threaded process can deadlock a child on a lock some other thread held.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)
        return ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(self._memory_limit,),
            max_tasks_per_child=self._tasks_per_child,
        )

    def _replace_executor(self, broken: Executor) -> None:
        """Replace ``broken`` once, however many of its jobs report it: a later report must not replace the
        healthy successor (and cancel its queue)."""
        with self._lock:
            if self._executor is not broken:
                return
            self._executor = self._new_executor()
        broken.shutdown(wait=False, cancel_futures=True)
