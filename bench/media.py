"""Media validation/normalization cost, pool choice, and what refusing hostile media costs in memory.

Run from the repository root: ``.venv/bin/python bench/media.py [--repeat 3]``. All media is generated (see
tests/media/corpus.py). Prints:

* per workload (1 MB JPEG, 12 MP photo, 30 s audio, 10 s 720p video), the median time of one validate (passthrough)
  and one normalize (qwen-omni) call;
* throughput of a burst of the same jobs on a thread pool and on a process pool of the same size;
* peak memory of refusing a PNG bomb, a 65000² JPEG, a bomb under Pillow's own default limit, a video declaring days,
  and one whose mdat declares 4 GiB, each in a fresh subprocess: ru_maxrss growth over the process's warmed-up
  baseline (counts C allocations in libpng/FFmpeg) and tracemalloc's peak (Python allocations).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.media.corpus, run as a script

from tests.media import corpus

from regiongate.media.dialects import WireDialect
from regiongate.media.limits import MediaLimits
from regiongate.media.pool import MediaPool
from regiongate.media.profiles import PASSTHROUGH, QWEN_OMNI, MediaProfile
from regiongate.media.rejection import MediaRejected
from regiongate.media.sniff import sniff
from regiongate.media.worker import MediaJob, normalize_media, run_job

_MIB = 1024 * 1024


def workloads() -> dict[str, bytes]:
    return {
        "1 MB JPEG (2000x1500)": corpus.image_bytes("JPEG", 2000, 1500, quality=85),
        "12 MP photo (4000x3000 JPEG)": corpus.image_bytes("JPEG", 4000, 3000, quality=85),
        "30 s audio (44.1 kHz stereo MP3)": corpus.audio_bytes("MP3", seconds=30.0),
        "10 s video (1280x720 30 fps H.264+AAC)": corpus.video_bytes("MP4", 10.0, 30, (1280, 720)),
    }


TINY_PNG = corpus.image_bytes("PNG", 64, 64)
TINY_VIDEO = corpus.video_bytes("MP4", 1.0, 10)
HOSTILE: dict[str, Callable[[], bytes]] = {
    "PNG bomb 100000x100000": lambda: corpus.png_bomb(),
    "JPEG declaring 65000x65000": lambda: corpus.jpeg_declaring(65000, 65000),
    "PNG bomb 15000x15000 (under Pillow's default limit)": lambda: corpus.png_bomb(15000, 15000),
    "MP4 declaring ~5 days": lambda: corpus.with_huge_duration(corpus.video_bytes("MP4")),
    "MP4 whose mdat declares 4 GiB": lambda: corpus.with_huge_mdat(corpus.video_bytes("MP4")),
    "(contrast: a real 12 MP photo, accepted)": lambda: corpus.image_bytes("JPEG", 4000, 3000, quality=85),
}


def job(data: bytes, profile: MediaProfile) -> MediaJob:
    """The whole worker's job for a vLLM backend: sniff, validate, normalize, base64 for the wire, digest."""
    kind = sniff(data)
    assert kind is not None
    return MediaJob(data, kind.modality, MediaLimits(), profile, WireDialect.VLLM, b"bench-salt")


def normalized_bytes(data: bytes, profile: MediaProfile) -> int:
    kind = sniff(data)
    assert kind is not None
    return sum(len(blob.data) for blob in normalize_media(data, kind, MediaLimits(), profile).blobs())


def median_seconds(work: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def burst(pool: MediaPool, jobs: list[MediaJob]) -> tuple[float, float]:
    """Wall time of the burst, and the event loop's worst lateness meanwhile: what another tenant's stream, relayed
    by the same loop, would have felt."""
    loop, worst, done = asyncio.get_running_loop(), 0.0, asyncio.Event()

    async def tick() -> None:
        nonlocal worst
        while not done.is_set():
            due = loop.time() + 0.005
            await asyncio.sleep(0.005)
            worst = max(worst, loop.time() - due)

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await asyncio.gather(*(pool.run(run_job, item) for item in jobs))
    elapsed = time.perf_counter() - started
    done.set()
    await ticker
    return elapsed, worst


async def compare_pools(media: dict[str, bytes], workers: int) -> None:
    print(f"\nburst throughput, {workers} workers (qwen-omni), thread pool vs process pool:")
    for name, data in media.items():
        jobs = [job(data, QWEN_OMNI)] * (2 * workers)
        line = []
        for processes in (False, True):
            async with MediaPool(workers, len(jobs), processes=processes) as pool:
                await pool.run(run_job, jobs[0])  # warm: workers started, modules imported
                line.append(await burst(pool, jobs))
        (threads, thread_lag), (procs, proc_lag) = line
        print(
            f"  {name:42} {len(jobs)} jobs: threads {threads:5.2f} s (loop lag {thread_lag * 1000:5.1f} ms)   "
            f"processes {procs:5.2f} s (loop lag {proc_lag * 1000:5.1f} ms)"
        )


def time_workloads(media: dict[str, bytes], repeat: int) -> None:
    print(f"one call, median of {repeat} (MB in -> MB out):")
    for name, data in media.items():
        for profile in (PASSTHROUGH, QWEN_OMNI):
            item = job(data, profile)
            seconds = median_seconds(lambda item=item: run_job(item), repeat)  # type: ignore[misc]
            out = normalized_bytes(data, profile)
            print(
                f"  {name:42} {profile.name.value:12} {seconds * 1000:8.1f} ms  "
                f"{len(data) / _MIB:6.2f} -> {out / _MIB:6.2f}"
            )


def probe(path: str) -> dict[str, object]:
    """Run in a fresh subprocess: refuse one hostile input and report its peak memory over the warmed baseline.
    The input was made by the parent: generating it here would set the peak before the baseline is taken."""
    data = Path(path).read_bytes()
    run_job(job(TINY_PNG, QWEN_OMNI))  # imports, codec tables and Pillow plugins load before the baseline
    run_job(job(TINY_VIDEO, QWEN_OMNI))
    baseline = _peak_rss_kib(reset=True)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        run_job(job(data, QWEN_OMNI))
        outcome = "accepted"
    except MediaRejected as rejection:
        outcome = rejection.reason
    seconds = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    grown = _peak_rss_kib() - baseline
    return {
        "bytes": len(data),
        "outcome": outcome,
        "ms": seconds * 1000,
        "rss_growth_mib": grown / 1024,
        "tracemalloc_peak_mib": peak / _MIB,
    }


def _peak_rss_kib(*, reset: bool = False) -> int:
    """Peak resident memory in KiB. ``reset`` starts a new peak at the current RSS and returns that RSS.

    Linux's resettable high-water mark (``/proc/self/clear_refs`` ← 5, then ``VmHWM``) is used because ``ru_maxrss``
    is inherited across fork+exec: a child would start with its parent's peak as its floor and hide anything
    smaller. Elsewhere, ``ru_maxrss`` is the (coarser) fallback."""
    try:
        if reset:
            Path("/proc/self/clear_refs").write_text("5")
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    field = "VmRSS:" if reset else "VmHWM:"
    line = next(line for line in status.splitlines() if line.startswith(field))
    return int(line.split()[1])


def memory_probes() -> None:
    print("\nrefusing hostile media, each in a fresh process (peak growth over a warmed baseline):")
    for name, make in HOSTILE.items():
        with tempfile.NamedTemporaryFile(suffix=".media") as sample:
            sample.write(make())
            sample.flush()
            result = subprocess.run(
                [sys.executable, __file__, "--probe", sample.name], capture_output=True, text=True, check=True
            )
        row = json.loads(result.stdout.strip().splitlines()[-1])
        print(
            f"  {name:52} {row['bytes']:>8} B  -> {row['outcome']:16} {row['ms']:7.1f} ms  "
            f"rss +{row['rss_growth_mib']:5.1f} MiB  tracemalloc peak {row['tracemalloc_peak_mib']:5.2f} MiB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        print(json.dumps(probe(args.probe)))
        return
    media = workloads()
    time_workloads(media, args.repeat)
    asyncio.run(compare_pools(media, args.workers))
    memory_probes()


if __name__ == "__main__":
    main()
