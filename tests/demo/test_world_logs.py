"""The demo's gateways record into their regions' verifiable logs, named and placed as ``regiongate serve`` does,
one log per region shared by its gateways, while the demo keeps its own copy of the records."""

from __future__ import annotations

import pytest

from regiongate.demo.client import MODEL
from regiongate.demo.context import Tour
from regiongate.demo.world import World
from regiongate.ledger.keys import read_verifier
from regiongate.ledger.log import Ledger
from regiongate.ledger.region_log import RegionLog
from regiongate.ledger.sink import LedgerSink


def test_one_log_per_region_shared_by_its_gateways(world: World) -> None:
    regions = {world.region_of(g) for g in world.topology.gateways}
    assert set(world.ledgers) == regions == {"eu-central", "eu-west", "sa-east", "cn-east"}
    assert world.runtimes["gw-fra"].ledger is world.runtimes["gw-fra3"].ledger is world.ledgers["eu-central"].ledger
    for gateway, runtime in world.runtimes.items():
        assert runtime.ledger is world.ledgers[world.region_of(gateway)].ledger  # so it serves receipts
    paths = world.log_paths()
    assert list(paths) == sorted(regions)
    for region, path in paths.items():
        assert path == world.data_dir / f"ledger-{region}.sqlite3"
        assert path.exists()
        verifier = read_verifier(str(path.with_suffix(".pub")))
        assert verifier.vkey == world.ledgers[region].ledger.verifier.vkey
        assert verifier.vkey.startswith(f"regiongate/{region}+")


async def test_both_frankfurt_gateways_append_to_eu_central(tour: Tour) -> None:
    eu_central = tour.world.ledgers["eu-central"].ledger
    assert isinstance(eu_central, Ledger)
    before = eu_central.appender.committed.size
    fra = await tour.chat("eu-retailer", "gw-fra")
    fra3 = await tour.chat("de-bank", "gw-fra3")
    assert fra.ok
    assert fra3.ok
    records = await tour.world.records({"gw-fra": 1, "gw-fra3": 1})
    assert [r.model for r in records["gw-fra"]] == [MODEL]
    assert [r.model for r in records["gw-fra3"]] == [MODEL]
    await eu_central.appender.flush()
    assert eu_central.appender.committed.size == before + 4  # a decision and an outcome leaf per request
    eu_west = tour.world.ledgers["eu-west"].ledger
    assert isinstance(eu_west, Ledger)
    assert eu_west.appender.committed.size == 0


async def test_closing_the_world_closes_each_log_once(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[str] = []
    original = LedgerSink.close

    async def counted(self: LedgerSink) -> None:
        closed.append(self.ledger.origin)
        await original(self)

    monkeypatch.setattr(LedgerSink, "close", counted)
    ledgers: list[RegionLog] = [sink.ledger for sink in world.ledgers.values()]
    await world.close()
    assert sorted(closed) == sorted(ledger.origin for ledger in ledgers)
    assert world.ledgers == {}
