"""A stand-in gateway for tests/media/test_pool_orphans.py: it builds the media pool as the gateway does, makes its
processes exist, prints ``ready`` and waits to be killed.

``python -m tests.media.pool_child [STUCK_MARKER]``: with a path, one worker is also left running a job that holds
the GIL (a decoder looping in C), which it announces by creating that file before ``ready`` is printed.
"""

from __future__ import annotations

import asyncio
import ctypes
import sys
from pathlib import Path

from regiongate.media.dialects import WireDialect
from regiongate.media.limits import MediaLimits
from regiongate.media.pool import MediaPool
from regiongate.media.profiles import QWEN_OMNI
from regiongate.media.worker import MediaJob, run_job
from regiongate.settings import MediaSettings
from regiongate.topology.records import Modality
from tests.media import corpus


def hold_the_gil(marker: str) -> None:
    Path(marker).touch()
    ctypes.PyDLL(None).sleep(60)  # a PyDLL call keeps the GIL: no Python thread in this worker runs meanwhile


async def _main(marker: str | None) -> None:
    settings = MediaSettings()  # as api/media.py's MediaGate builds it
    pool = MediaPool(
        settings.workers,
        settings.queue,
        processes=settings.processes,
        memory_limit=settings.worker_memory,
        tasks_per_child=settings.tasks_per_child,
    )
    job = MediaJob(corpus.image_bytes("PNG", 28, 28), Modality.IMAGE, MediaLimits(), QWEN_OMNI, WireDialect.VLLM, b"s")
    await asyncio.gather(*(pool.run(run_job, job) for _ in range(settings.workers)))
    if marker is not None:
        stuck = asyncio.ensure_future(pool.run(hold_the_gil, marker))
        while not await asyncio.to_thread(Path(marker).exists):
            if stuck.done():
                stuck.result()  # the job failed before it started holding the GIL: say why
            await asyncio.sleep(0.01)
    print("ready", flush=True)
    await asyncio.sleep(600)  # the test kills this process before then


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1] if len(sys.argv) > 1 else None))
