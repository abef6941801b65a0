"""A small live world for API tests: the example topology, every backend a real fake server on loopback,
gateways served by the real aiohttp app on free ports."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from regiongate.api.app import build_app
from regiongate.api.runtime import Runtime
from regiongate.backends.fake import FakeBackend
from regiongate.backends.openai import Timeouts
from regiongate.ledger.decisions import MemorySink
from regiongate.media.fetch import SafeFetcher
from regiongate.routing.breaker import BreakerSettings
from regiongate.routing.load import SharedLoad
from regiongate.routing.news import BreakerNews
from regiongate.routing.permits import Permits
from regiongate.settings import ServeSettings
from regiongate.topology.loader import parse_topology
from regiongate.topology.records import Topology

EXAMPLE = Path(__file__).parents[2] / "src" / "regiongate" / "data" / "example-topology.yaml"
KEYS = {
    tenant: f"rg-demo-{tenant}"
    for tenant in ("eu-ministry", "de-bank", "eu-retailer", "br-fintech", "global-startup", "cn-app")
}
_URL = re.compile(r"^    url: http://127\.0\.0\.1:\d+/v1", re.M)


class World:
    def __init__(self, fakes: dict[str, FakeBackend], topology: Topology, data_dir: Path) -> None:
        self.fakes = fakes
        self.topology = topology
        self.data_dir = data_dir
        self.gateways: dict[str, str] = {}  # gateway id -> base url (…/v1)
        self.runtimes: dict[str, Runtime] = {}
        self.sinks: dict[str, MemorySink] = {}
        self._runners: list[web.AppRunner] = []

    def requests_by_backend(self) -> dict[str, int]:
        return {bid: fake.requests for bid, fake in self.fakes.items()}

    async def start_gateway(
        self,
        gateway: str,
        *,
        fetcher: SafeFetcher | None = None,
        permits: Permits | None = None,
        news: BreakerNews | None = None,
        load: SharedLoad | None = None,
        **overrides: Any,
    ) -> str:
        defaults: dict[str, Any] = {
            "timeouts": Timeouts(connect=1.0, first_byte=2.0, read=2.0),
            "breaker": BreakerSettings(failure_threshold=2, cooldown=30.0),
            "health_interval": 3600.0,
        }
        settings = ServeSettings(
            topology=EXAMPLE, gateway=gateway, data_dir=self.data_dir, salt=b"test-salt", **(defaults | overrides)
        )
        sink = MemorySink()
        runtime = Runtime(settings, self.topology, sink, fetcher=fetcher, permits=permits, news=news, load=load)
        runner = web.AppRunner(build_app(runtime, start_background=False))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runners.append(runner)
        port = runner.addresses[0][1]
        self.gateways[gateway] = f"http://127.0.0.1:{port}/v1"
        self.runtimes[gateway] = runtime
        self.sinks[gateway] = sink
        return self.gateways[gateway]

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        for fake in self.fakes.values():
            await fake.stop()


async def open_world(
    tmp_path: Path, edit: Callable[[str], str] = lambda text: text, fakes: dict[str, FakeBackend] | None = None
) -> World:
    """The example world, its topology text passed through ``edit``; ``fakes`` replaces some backends' fakes."""
    text = edit(EXAMPLE.read_text())
    backend_ids = re.findall(r"^  ([a-z0-9-]+):\n    datacenter:", text, flags=re.M)
    servers = {bid: (fakes or {}).get(bid) or FakeBackend(name=bid) for bid in backend_ids}
    urls = [await fake.start("127.0.0.1", 0) for fake in servers.values()]
    # Point each backend of the example at its own fake, in file order.
    ports = iter(urls)
    text = _URL.sub(lambda _: f"    url: {next(ports)}", text)
    return World(servers, parse_topology(text, "example-topology.yaml"), tmp_path)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await open_world(tmp_path)
    try:
        yield w
    finally:
        await w.close()


@pytest.fixture
async def media_world(tmp_path: Path) -> AsyncIterator[World]:
    """The example world with media profiles and dialects declared (see :mod:`tests.api.media_world`)."""
    from tests.api.media_world import declare_media

    w = await open_world(tmp_path, declare_media)
    try:
        yield w
    finally:
        await w.close()
