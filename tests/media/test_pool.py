"""The media pool: bounded, refuses when saturated, counts a slot until the work really ends, survives a crash."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable

import pytest

from regiongate.media.dialects import WireDialect
from regiongate.media.limits import MediaLimits
from regiongate.media.pool import MediaBusy, MediaPool, MediaWorkerLost
from regiongate.media.profiles import QWEN_OMNI
from regiongate.media.rejection import MediaRejected
from regiongate.media.worker import MediaJob, PreparedPart, run_job
from regiongate.topology.records import Modality
from tests.media import corpus
from tests.media.media_helpers import SALT, data_url, decode_image, image_part, prepare, unwrap_data_url, user


def _wait(event: threading.Event) -> str:
    assert event.wait(10), "test never released the job"
    return "done"


def _job(source: bytes | str) -> MediaJob:
    return MediaJob(source, Modality.IMAGE, MediaLimits(), QWEN_OMNI, WireDialect.VLLM, SALT)


def _crash(_: int) -> int:
    os._exit(3)  # what a segfaulting decoder looks like from the pool's side


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        # Polling, not an asyncio.Event: the slot is freed by a done-callback on an executor thread.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_saturated_pool_refuses_at_once_and_recovers() -> None:
    pool, gate = MediaPool(1, 1, processes=False), threading.Event()
    try:
        running = asyncio.ensure_future(pool.run(_wait, gate))
        queued = asyncio.ensure_future(pool.run(_wait, gate))
        await asyncio.sleep(0)
        assert pool.in_flight == 2 == pool.capacity
        with pytest.raises(MediaBusy) as caught:
            await pool.run(_wait, gate)
        assert (caught.value.status, caught.value.headers) == (503, {"Retry-After": "1"})
        gate.set()
        assert list(await asyncio.gather(running, queued)) == ["done", "done"]
        await _until(lambda: pool.in_flight == 0)
        assert await pool.run(_wait, gate) == "done"
    finally:
        gate.set()
        pool.close()


async def test_a_cancelled_caller_keeps_its_slot_until_the_work_ends() -> None:
    pool, gate = MediaPool(1, 1, processes=False), threading.Event()
    try:
        running = asyncio.ensure_future(pool.run(_wait, gate))
        queued = asyncio.ensure_future(pool.run(_wait, gate))
        await asyncio.sleep(0.05)
        running.cancel()
        queued.cancel()
        await asyncio.gather(running, queued, return_exceptions=True)
        # The queued job never started: its slot is free. The running one still holds a worker, so its slot is kept.
        assert pool.in_flight == 1
        gate.set()
        await _until(lambda: pool.in_flight == 0)
    finally:
        gate.set()
        pool.close()


async def test_pipeline_surfaces_a_busy_pool_as_503_not_as_bad_media() -> None:
    pool, gate = MediaPool(1, 0, processes=False), threading.Event()
    try:
        blocker = asyncio.ensure_future(pool.run(_wait, gate))
        await asyncio.sleep(0)
        with pytest.raises(MediaBusy):
            await prepare([user(image_part(data_url(corpus.image_bytes("PNG", 8, 8))))], pool=pool)
        gate.set()
        await blocker
    finally:
        gate.set()
        pool.close()


async def test_process_pool_runs_jobs_and_ships_rejections_back() -> None:
    async with MediaPool(2, 4) as pool:
        result = await pool.run(run_job, _job(data_url(corpus.image_bytes("JPEG", 100, 80))))
        assert decode_image(unwrap_data_url(result.parts[0]["image_url"]["url"])).size == (112, 84)
        with pytest.raises(MediaRejected) as caught:
            await pool.run(run_job, _job(corpus.png_bomb()))
        assert caught.value.reason == "too_many_pixels"
        with pytest.raises(MediaRejected) as unrecognized:  # the data-URL helpers' errors cross processes too
            await pool.run(run_job, _job(data_url(b"<svg/>")))
        assert unrecognized.value.reason == "unrecognized_media"


async def test_process_pool_survives_a_crashing_worker() -> None:
    async with MediaPool(1, 2) as pool:
        with pytest.raises(MediaWorkerLost) as caught:
            await pool.run(_crash, 0)
        assert caught.value.status == 503
        await _until(lambda: pool.in_flight == 0)
        assert isinstance(await pool.run(run_job, _job(corpus.image_bytes("PNG", 28, 28))), PreparedPart)


def test_pool_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        MediaPool(0, 1, processes=False)
