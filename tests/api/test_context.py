"""Per-request bookkeeping: ids, and where an answer came from."""

from __future__ import annotations

import re

import msgspec

from regiongate.api.context import RequestContext, new_request_id
from regiongate.topology.records import Modality
from tests.api.conftest import World


def test_request_ids_start_with_their_milliseconds_then_80_random_bits_and_do_not_repeat() -> None:
    now = 1_795_566_737.123
    ids = [new_request_id(now) for _ in range(5000)]  # several blocks of the id pool
    assert all(re.fullmatch(r"req_[0-9a-f]{32}", i) for i in ids)
    assert {int(i[4:16], 16) for i in ids} == {1_795_566_737_123}
    assert len(set(ids)) == len(ids)
    later = new_request_id(now + 0.002)
    assert max(ids) < later  # ordered by time: the log's receipt index grows at its right edge


async def test_the_planned_decision_is_the_record_built_field_by_field(world: World) -> None:
    """The hot path copies a per-plan record template; it must say exactly what building the record says."""
    await world.start_gateway("gw-fra")
    runtime = world.runtimes["gw-fra"]
    tenant = runtime.topology.tenants["eu-retailer"]
    modalities = frozenset({Modality.TEXT, Modality.IMAGE})
    plan = runtime.plan(tenant, "qwen3-omni", modalities)
    for slot in plan.slots:
        ctx = RequestContext(runtime)
        ctx.tenant, ctx.model, ctx.modalities, ctx.media = tenant, "qwen3-omni", modalities, ("m1",)
        ctx.plan = plan
        ctx.deciding(slot.id)
        planned = world.sinks["gw-fra"].decisions[-1]
        built = ctx.decision(runtime.backend(slot.id))
        assert msgspec.structs.replace(planned, ended_at=0.0) == msgspec.structs.replace(built, ended_at=0.0)
        assert planned.backend == slot.id
        assert planned.request_tag
