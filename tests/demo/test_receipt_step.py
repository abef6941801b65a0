"""Tour step 6 on its own: the receipt verifies offline and only its tenant gets it; an altered receipt fails the
tour's check instead of passing or crashing it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from regiongate.demo.client import DemoClient, Reply
from regiongate.demo.context import Tour
from regiongate.demo.receipts import receipt
from regiongate.demo.world import World
from regiongate.ledger.receipts import DOES_NOT_PROVE
from tests.demo.conftest import output, quiet_tour


async def test_the_receipt_verifies_and_no_other_tenant_gets_it(tour: Tour) -> None:
    await receipt(tour)
    assert tour.checks.all_held, tour.checks.failed
    labels = [o.label for o in tour.checks.outcomes]
    assert labels == [
        "eu-ministry's answer names its receipt in X-Regiongate-Receipt",
        "eu-ministry's receipt verifies offline with the region's public key alone",
        "the body eu-ministry received is exactly the output logged for this request",
        "its leaves are in eu-west's log and name what the answer's headers said: gw-par, par-1-cpu",
        "de-bank asking for eu-ministry's receipt gets 404",
    ]
    out = output(tour)
    assert "of tenant eu-ministry: VERIFIED" in out
    for item in DOES_NOT_PROVE:
        assert f"  does not prove: {item}" in out


class _Tampering(DemoClient):
    """Alters every receipt it fetches: the decoded form of a leaf now names another backend."""

    async def get(self, url: str, key: str | None = None) -> Reply:
        reply = await super().get(url, key)
        if "/receipts/" in url and reply.status == 200:
            reply.body = reply.body.replace(b'"backend": "par-1-cpu"', b'"backend": "fra-3-h200"', 1)
        return reply


@pytest.fixture
async def tampered_tour(world: World) -> AsyncIterator[Tour]:
    client = _Tampering()
    try:
        yield quiet_tour(world, client)
    finally:
        await client.close()


async def test_an_altered_receipt_fails_the_check(tampered_tour: Tour) -> None:
    tour = tampered_tour
    await receipt(tour)
    failed = {o.label: o.detail for o in tour.checks.failed}
    assert list(failed) == ["eu-ministry's receipt verifies offline with the region's public key alone"]
    assert failed["eu-ministry's receipt verifies offline with the region's public key alone"].startswith(
        "FAILED leaf "
    )
    assert "VERIFIED" not in output(tour)
    assert tour.checks.outcomes[-1].label == "de-bank asking for eu-ministry's receipt gets 404"
    assert tour.checks.outcomes[-1].held
