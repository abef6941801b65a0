"""Running one gateway process: settings, decision sink, runtime, event loop, signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from urllib.parse import urlsplit

from regiongate.api.app import serve
from regiongate.api.runtime import Runtime
from regiongate.ledger.decisions import DecisionSink, MemorySink
from regiongate.ledger.setup import open_ledger_sink
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


async def run_until_signalled(settings: ServeSettings, topology: Topology) -> None:
    runtime = Runtime(settings, topology, await make_sink(settings, topology))
    task = asyncio.create_task(serve(runtime, settings.host, settings.port))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    log.info("gateway %s stopped", settings.gateway)


def run_gateway(topology: Topology, path: Path, gateway: str, host: str, port: int | None) -> int:
    settings = serve_settings(path, gateway, host, port or default_port(topology.gateways[gateway].url))
    try:
        import uvloop
    except ImportError:  # uvloop is not built for every platform; asyncio's loop is correct, only slower
        asyncio.run(run_until_signalled(settings, topology))
    else:
        uvloop.run(run_until_signalled(settings, topology))
    return 0
