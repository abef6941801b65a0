"""Running one gateway process: settings, decision sink, runtime, event loop, signals."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from regiongate.api.app import serve
from regiongate.api.runtime import Runtime
from regiongate.ledger.decisions import DecisionSink, MemorySink
from regiongate.ledger.setup import open_ledger_sink
from regiongate.routing.load import SharedLoad
from regiongate.routing.news import BreakerNews
from regiongate.routing.permits import Permits
from regiongate.settings import ServeSettings, serve_settings
from regiongate.topology.records import Topology

log = logging.getLogger("regiongate.serve")


def default_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


async def make_sink(settings: ServeSettings, topology: Topology) -> DecisionSink:
    """The region's verifiable log (SQLite or PostgreSQL); ``memory`` keeps records unlogged (tests only)."""
    if settings.decisions == "memory":
        return MemorySink()
    gateway = topology.gateways[settings.gateway]
    return await open_ledger_sink(settings, topology.datacenters[gateway.datacenter].region)


class SharedState(NamedTuple):
    """What this process shares with the region's other gateway processes (all None without a state URL)."""

    permits: Permits | None = None
    news: BreakerNews | None = None
    load: SharedLoad | None = None

    async def close(self) -> None:
        for part in (self.permits, self.news, self.load):
            if part is not None:
                await part.close()


async def make_shared_state(settings: ServeSettings) -> SharedState:
    """Permits, breaker news and load reports through the Redis of ``REGIONGATE_STATE_URL``, checked to answer
    before starting (a gateway that cannot count permits must not start)."""
    if not settings.state_url:
        return SharedState()
    # redis is an extra: imported only when configured
    from regiongate.state.redis_load import RedisLoad
    from regiongate.state.redis_news import RedisBreakerNews
    from regiongate.state.redis_permits import RedisPermits

    permits = RedisPermits.from_url(settings.state_url)
    try:
        await permits.check()
    except BaseException:
        await permits.close()
        raise
    return SharedState(permits, RedisBreakerNews.from_url(settings.state_url), RedisLoad.from_url(settings.state_url))


async def run_until_signalled(settings: ServeSettings, topology: Topology) -> None:
    shared = await make_shared_state(settings)
    try:
        sink = await make_sink(settings, topology)
    except BaseException:  # e.g. no log writer: the process exits, its Redis connections closed first
        await shared.close()
        raise
    runtime = Runtime(settings, topology, sink, permits=shared.permits, news=shared.news, load=shared.load)
    ready = asyncio.Event()
    task = asyncio.create_task(serve(runtime, settings.host, settings.port, ready=ready))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await _freeze_once_ready(ready, task)
        await task
    log.info("gateway %s stopped", settings.gateway)


async def _freeze_once_ready(ready: asyncio.Event, serving: asyncio.Task[None]) -> None:
    """Once listening, move everything built at start (topology, compliance matrix, plans, sessions) out of the
    cyclic collector's sight: it lives as long as the process, and rescanning it made every full collection a
    20-25 ms pause of the event loop with the benchmark's 60-backend topology (gc callbacks, 200 req/s)."""
    waiting = asyncio.ensure_future(ready.wait())
    try:
        await asyncio.wait({waiting, serving}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiting.cancel()
    if ready.is_set():
        gc.freeze()


def run_gateway(topology: Topology, path: Path, gateway: str, host: str, port: int | None) -> int:
    settings = serve_settings(path, gateway, host, port or default_port(topology.gateways[gateway].url))
    try:
        import uvloop
    except ImportError:  # uvloop is not built for every platform; asyncio's loop is correct, only slower
        asyncio.run(run_until_signalled(settings, topology))
    else:
        uvloop.run(run_until_signalled(settings, topology))
    return 0
