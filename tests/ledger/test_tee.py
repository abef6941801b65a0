"""``TeeSink``: the answer waits on the main sink's decision only, the final record reaches both, and closing a
tee closes neither sink (several tees may share one)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from regiongate.ledger.decisions import DecisionRecord, DecisionSink, MemorySink, TeeSink


def _record(request_id: str) -> DecisionRecord:
    return DecisionRecord(
        request_id=request_id, tenant_hash="t", gateway="gw", region="r", outcome="routed", status=200, policy_hash="p"
    )


class _Durable(MemorySink):
    """A sink whose decisions become durable only when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[asyncio.Future[int]] = []
        self.closed = 0

    def decide(self, decision: DecisionRecord) -> Awaitable[object]:
        super().decide(decision)
        self.pending.append(asyncio.get_running_loop().create_future())
        return self.pending[-1]

    async def close(self) -> None:
        self.closed += 1


async def test_decide_returns_the_main_sinks_awaitable() -> None:
    main, copy = _Durable(), MemorySink()
    tee: DecisionSink = TeeSink(main, copy)
    decided = asyncio.ensure_future(tee.decide(_record("a")))
    await asyncio.sleep(0)
    assert not decided.done()  # the answer waits for the main sink's decision to be durable
    main.pending[0].set_result(7)
    assert await decided == 7
    assert [d.request_id for d in main.decisions] == ["a"]
    assert copy.decisions == []  # the copy hears only final records


async def test_record_reaches_both_and_close_closes_neither() -> None:
    main, copy = _Durable(), MemorySink()
    first, second = TeeSink(main, copy), TeeSink(main, MemorySink())
    first.record(_record("a"))
    second.record(_record("b"))
    assert [r.request_id for r in main.records] == ["a", "b"]
    assert [r.request_id for r in copy.records] == ["a"]
    await first.close()
    await second.close()
    assert main.closed == 0
