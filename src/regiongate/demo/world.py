"""The demo's world on loopback: every backend of the topology (via an :data:`EngineFactory`) and every gateway,
each gateway a real regiongate app on its own aiohttp site at its topology port, all in this event loop.

Decisions go to each region's verifiable log, opened as ``regiongate serve`` opens it (``ledger-<region>`` in the
data dir, with its key beside it). A log has one writer, so the gateways of one region share one :class:`Ledger`
here, where ``serve`` would give each extra process its own log. A tee copies every gateway's final records to a
list as well: the demo's own accounting (the summary), next to the log."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import tempfile
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from regiongate.api.app import build_app
from regiongate.api.runtime import Runtime
from regiongate.backends.openai import Timeouts
from regiongate.demo.engines import Engine, EngineFactory, fake_engine, listen_address
from regiongate.ledger.decisions import DecisionRecord, MemorySink, TeeSink, salted_digest
from regiongate.ledger.setup import log_name, open_ledger_sink
from regiongate.ledger.sink import LedgerSink
from regiongate.policy.matrix import ComplianceMatrix
from regiongate.routing.breaker import BreakerSettings
from regiongate.settings import ServeSettings
from regiongate.topology.records import Topology

DEMO_SALT = b"regiongate-demo-salt"  # fixed so a run's tenant hashes can be recomputed (never do this in production)
HEALTH_INTERVAL = 1.0  # seconds: a stopped backend leaves the candidate sets within about a second
BREAKER = BreakerSettings(failure_threshold=2, cooldown=1.0)
TIMEOUTS = Timeouts(connect=1.0, first_byte=5.0, read=5.0)


class World:
    """Start with :meth:`start`, always end with :meth:`close` (it frees every port, even after a failed start)."""

    def __init__(self, config: Path, topology: Topology, engine_factory: EngineFactory = fake_engine) -> None:
        self.config = config
        self.topology = topology
        self.matrix = ComplianceMatrix.build(topology, dt.datetime.now(dt.UTC).date())
        self.engines: dict[str, Engine] = {bid: engine_factory(b) for bid, b in sorted(topology.backends.items())}
        self.runtimes: dict[str, Runtime] = {}
        self.ledgers: dict[str, LedgerSink] = {}  # region -> its verifiable log, shared by the region's gateways
        self._accounts: dict[str, MemorySink] = {}  # gateway -> a copy of its decision records
        self._runners: dict[str, web.AppRunner] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="regiongate-demo-")
        self.data_dir = Path(self._tmp.name)
        self._tenant_by_hash = {salted_digest(DEMO_SALT, t): t for t in topology.tenants}

    # -- life cycle -----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.gather(*(engine.start() for engine in self.engines.values()))
        for gateway_id in sorted(self.topology.gateways):
            await self._start_gateway(gateway_id)

    async def _start_gateway(self, gateway_id: str) -> None:
        host, port = listen_address(self.topology.gateways[gateway_id].url)
        settings = ServeSettings(
            topology=self.config,
            gateway=gateway_id,
            host=host,
            port=port,
            data_dir=self.data_dir,
            salt=DEMO_SALT,
            timeouts=TIMEOUTS,
            breaker=BREAKER,
            health_interval=HEALTH_INTERVAL,
        )
        region = self.region_of(gateway_id)
        if region not in self.ledgers:
            self.ledgers[region] = await open_ledger_sink(settings, region)
        ledger = self.ledgers[region]
        account = self._accounts[gateway_id] = MemorySink()
        # The sink is a tee (the log, and the demo's own accounting): receipts are served from the log itself.
        runtime = Runtime(settings, self.topology, TeeSink(ledger, account), ledger=ledger.ledger)
        runner = web.AppRunner(build_app(runtime), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        self._runners[gateway_id] = runner  # before anything can fail: close() then cleans it up
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self.runtimes[gateway_id] = runtime

    async def close(self) -> None:
        """Close every gateway (its runtime with it), then the region logs, then every backend, then the data dir."""
        for runner in self._runners.values():
            await runner.cleanup()
        self._runners.clear()
        for sink in self.ledgers.values():
            await sink.close()  # after every gateway writing to it: the last leaves get their checkpoint
        self.ledgers.clear()
        for engine in self.engines.values():
            await engine.stop()
        with contextlib.suppress(OSError):
            self._tmp.cleanup()

    # -- looking things up ----------------------------------------------------------------------------------------

    def gateway_url(self, gateway_id: str) -> str:
        return self.topology.gateways[gateway_id].url

    def region_of(self, gateway_id: str) -> str:
        return self.topology.datacenters[self.topology.gateways[gateway_id].datacenter].region

    def gateway_at(self, url: str) -> str | None:
        """The id of the gateway whose URL is ``url`` (trailing slashes ignored)."""
        wanted = url.rstrip("/")
        return next((g.id for g in self.topology.gateways.values() if g.url.rstrip("/") == wanted), None)

    def tenant_of(self, tenant_hash: str) -> str | None:
        return self._tenant_by_hash.get(tenant_hash)

    async def inference_counts(self) -> dict[str, int]:
        counts = await asyncio.gather(*(engine.inference_requests() for engine in self.engines.values()))
        return dict(zip(self.engines, counts, strict=True))

    def gateways_routing_to(self, backend_id: str) -> tuple[str, ...]:
        """The gateways that may route some tenant's request to ``backend_id`` (the ones that watch its health)."""
        return tuple(
            g
            for g in sorted(self.runtimes)
            if any(
                self.matrix.gateway_allowed(t, g) and backend_id in self.matrix.allowed_backends(t)
                for t in self.topology.tenants
            )
        )

    async def wait_healthy(self, backend_id: str, healthy: bool, patience: float = 10.0) -> bool:
        """Wait until the health checks of every gateway routing to ``backend_id`` agree it is (or is not) healthy;
        False if that takes longer than ``patience`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        watching = [self.runtimes[g] for g in self.gateways_routing_to(backend_id)]
        while loop.time() < deadline:
            if all(rt.router.slots[backend_id].healthy == healthy for rt in watching):
                return True
            await asyncio.sleep(0.05)
        return False

    # -- the decision logs ----------------------------------------------------------------------------------------

    def log_paths(self) -> Mapping[str, Path]:
        """Region -> the file of its verifiable log (its key and the key's public half lie beside it)."""
        paths: dict[str, Path] = {}
        for rt in self.runtimes.values():
            region = self.region_of(rt.gateway.id)
            paths.setdefault(region, rt.settings.ledger_path(log_name(rt.settings, region)))
        return dict(sorted(paths.items()))

    async def records(self, expected: Mapping[str, int], patience: float = 10.0) -> dict[str, list[DecisionRecord]]:
        """Every gateway's decision records, once each holds at least ``expected[gateway]`` of them (a record is
        made when its request ends, which may be just after the client read the last byte). Returns what there is
        after ``patience`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while True:
            found = {gid: list(account.records) for gid, account in self._accounts.items()}
            if all(len(found.get(g, ())) >= n for g, n in expected.items()) or loop.time() >= deadline:
                return found
            await asyncio.sleep(0.05)
