"""A live world for the ledger tests: the example topology on fake backends, gateways writing real region logs.

Kinds: ``sqlite`` and ``postgres`` (each gateway writes its region's log itself) and ``writer`` (SQLite, written by
one log writer per region, :mod:`regiongate.ledger.writer`, run here in the test's process: the gateways reach it
over its Unix socket as separate processes would). ``ledgers`` holds each gateway's log as its writer runs it,
``logs`` the gateway's own handle on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from regiongate.api.app import build_app
from regiongate.api.runtime import Runtime
from regiongate.backends.fake import FakeBackend
from regiongate.backends.openai import Timeouts
from regiongate.ledger.errors import LedgerError
from regiongate.ledger.log import Ledger
from regiongate.ledger.pg_store import schema_name
from regiongate.ledger.region_log import RegionLog
from regiongate.ledger.remote import RemoteLedger
from regiongate.ledger.setup import open_ledger_sink, open_writer
from regiongate.ledger.writer import serve_log
from regiongate.routing.breaker import BreakerSettings
from regiongate.settings import ServeSettings
from regiongate.topology.loader import parse_topology
from tests.api.conftest import EXAMPLE, KEYS
from tests.ledger.conftest import PG_DSN, URL_LINE, drop_schema

__all__ = ["KEYS", "LedgerWorld", "ledger_world"]


class LedgerWorld:
    def __init__(self, tmp: Path, kind: str) -> None:
        self.tmp, self.kind = tmp, kind
        self.fakes: dict[str, FakeBackend] = {}
        self.gateways: dict[str, str] = {}
        self.ledgers: dict[str, Ledger] = {}  # the writer's side, wherever it runs
        self.logs: dict[str, RegionLog] = {}  # the gateway's side
        self.writers: dict[str, tuple[Ledger, asyncio.Task[None]]] = {}  # region -> its writer (kind "writer")
        self.runtimes: dict[str, Runtime] = {}
        self._runners: list[web.AppRunner] = []
        self._schemas: list[str] = []

    async def start_fakes(self) -> None:
        text = EXAMPLE.read_text()
        ids = re.findall(r"^  ([a-z0-9-]+):\n    datacenter:", text, flags=re.M)
        self.fakes = {bid: FakeBackend(name=bid) for bid in ids}
        urls = iter([await fake.start("127.0.0.1", 0) for fake in self.fakes.values()])
        self.topology = parse_topology(URL_LINE.sub(lambda _: f"    url: {next(urls)}", text), "example-topology.yaml")

    async def start_gateway(self, gateway: str, **overrides: Any) -> str:
        log = f"test_{secrets.token_hex(5)}" if self.kind == "postgres" else ""
        if log:
            self._schemas.append(schema_name(log))
        region = self.topology.datacenters[self.topology.gateways[gateway].datacenter].region
        shared = self.kind == "writer"
        settings = ServeSettings(
            topology=EXAMPLE, gateway=gateway, data_dir=self.tmp / (region if shared else gateway),
            salt=b"test-salt", timeouts=Timeouts(connect=1.0, first_byte=2.0, read=2.0),
            breaker=BreakerSettings(failure_threshold=2, cooldown=30.0), health_interval=3600.0,
            decisions="sqlite" if shared else self.kind, ledger_dsn=PG_DSN, ledger_log=log, checkpoint_interval=0.05,
            ledger_socket=str(self.tmp / f"{region}.sock") if shared else "", **overrides,
        )  # fmt: skip
        if shared and region not in self.writers:
            await self.start_writer(settings, region)
        sink = await open_ledger_sink(settings, region)
        runtime = Runtime(settings, self.topology, sink)
        runner = web.AppRunner(build_app(runtime, start_background=False))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runners.append(runner)
        self.gateways[gateway] = f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
        self.logs[gateway], self.runtimes[gateway] = sink.ledger, runtime
        if shared:
            self.ledgers[gateway] = self.writers[region][0]
        else:
            assert isinstance(sink.ledger, Ledger)
            self.ledgers[gateway] = sink.ledger
        return self.gateways[gateway]

    async def start_writer(self, settings: ServeSettings, region: str) -> None:
        ledger = await open_writer(settings, region)
        ready = asyncio.Event()
        task = asyncio.create_task(serve_log(ledger, Path(settings.ledger_socket), ready=ready))
        await ready.wait()
        self.writers[region] = (ledger, task)

    async def break_log(self, gateway: str) -> None:
        """The log stops taking leaves, as after a failed commit, and the gateway knows it (a writer process closes
        its gateways' connections; until one does, a gateway can only learn of it from a leaf sent in vain)."""
        await self.ledgers[gateway].appender.close()
        log = self.logs[gateway]
        if isinstance(log, RemoteLedger):
            await log.unreachable.wait()

    async def settle(self, gateway: str) -> None:
        """Everything the gateway appended so far is committed by its log's writer."""
        await self.logs[gateway].flush()
        await self.ledgers[gateway].appender.flush()

    async def get(self, gateway: str, path: str, tenant: str | None = None) -> tuple[int, bytes, dict[str, str]]:
        headers = {"Authorization": f"Bearer {KEYS[tenant]}"} if tenant else {}
        async with (
            aiohttp.ClientSession() as session,
            session.get(self.gateways[gateway] + path, headers=headers) as resp,
        ):
            return resp.status, await resp.read(), dict(resp.headers)

    async def receipt(self, gateway: str, request_id: str, tenant: str) -> bytes:
        status, body, _ = await self.get(gateway, f"/receipts/{request_id}", tenant)
        assert status == 200, body
        return body

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()  # closes the runtime, its sink and its ledger
        for _, task in self.writers.values():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, LedgerError):  # LedgerError: a log the test broke
                await task
        for fake in self.fakes.values():
            await fake.stop()
        for schema in self._schemas:
            await drop_schema(schema)


@pytest.fixture(params=["sqlite", "postgres", "writer"])
async def ledger_world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LedgerWorld]:
    world = LedgerWorld(tmp_path, request.param)
    try:
        await world.start_fakes()
        yield world
    finally:
        await world.close()
