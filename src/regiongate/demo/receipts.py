"""Tour step 6: a tenant fetches the receipt of one of its answers, checks it offline with nothing but the region's
public key (as ``regiongate verify RECEIPT --key PUBKEY --body FILE`` does, with the same words), and another tenant
asking for the same receipt gets 404."""

from __future__ import annotations

import asyncio

from rich.markup import escape

from regiongate.demo.client import Reply
from regiongate.demo.context import Tour
from regiongate.ledger.errors import LedgerError
from regiongate.ledger.leaves import DecisionLeaf
from regiongate.ledger.note import parse_verifier_key
from regiongate.ledger.verify import VerifiedReceipt, check_output, describe, verify_receipt

RECEIPT_HEADER = "X-Regiongate-Receipt"
PENDING_TRIES = 5  # 202 answers (no checkpoint covers the leaves yet) waited out, each as its Retry-After says


async def receipt(tour: Tour) -> None:
    tour.heading(6, "A receipt: what the region's log proves about one answer")
    tenant = tour.receipt_tenant()
    gateway = tour.home(tenant) if tenant is not None else None
    if tenant is None or gateway is None:
        tour.checks.expect("some tenant has a compliant gateway and backend", False, "no tenant fits")
        return
    url = tour.world.gateway_url(gateway).rstrip("/")
    answer = await tour.chat(tenant, gateway)
    request_id = answer.headers.get(RECEIPT_HEADER)
    tour.console.print(
        escape(f"{tenant} → {gateway}: {answer.status}, by {answer.backend}; {RECEIPT_HEADER}: {request_id}"),
        highlight=False,
    )
    if not tour.checks.expect(
        f"{tenant}'s answer names its receipt in {RECEIPT_HEADER}",
        answer.ok and request_id is not None,
        f"{answer.status} {answer.code}, header {'present' if request_id else 'missing'}",
    ):
        return
    assert request_id is not None
    fetched = await _fetch(tour, f"{url}/receipts/{request_id}", tour.keys[tenant])
    tour.console.print(
        f"GET {url}/receipts/{request_id} with {tenant}'s key: {fetched.status}, {len(fetched.body)} bytes",
        highlight=False,
    )
    key = await tour.client.get(f"{url}/ledger/key")
    vkey = key.body.decode(errors="replace").strip()
    tour.console.print(f"the region's public key, GET {url}/ledger/key: {vkey}", highlight=False, markup=False)
    tour.note("(a tenant pins this key once; the check below uses only it and the receipt's own bytes, offline)")
    verified = _verify(tour, tenant, fetched, key, answer)
    if verified is not None:
        _shows_the_answer(tour, verified, gateway, answer)
    await _outsider(tour, tenant, gateway, f"{url}/receipts/{request_id}")


async def _fetch(tour: Tour, url: str, key: str) -> Reply:
    """GET a receipt, waiting out 202s (the request's leaves not yet under a signed checkpoint) as they ask."""
    for _ in range(PENDING_TRIES):
        reply = await tour.client.get(url, key)
        if reply.status != 202:
            return reply
        retry_after = reply.headers.get("Retry-After", "")
        await asyncio.sleep(min(1.0, int(retry_after)) if retry_after.isdigit() else 0.2)
    return reply


def _verify(tour: Tour, tenant: str, fetched: Reply, key: Reply, answer: Reply) -> VerifiedReceipt | None:
    """``regiongate verify RECEIPT --key PUBKEY --body FILE``: the same checks, the same lines printed."""
    label = f"{tenant}'s receipt verifies offline with the region's public key alone"
    if fetched.status != 200 or key.status != 200:
        tour.checks.expect(label, False, f"receipt {fetched.status} {fetched.code}, key {key.status}")
        return None
    try:
        verified = verify_receipt(fetched.body, parse_verifier_key(key.body.decode().strip()))
    except (LedgerError, UnicodeDecodeError) as exc:
        tour.checks.expect(label, False, f"FAILED {exc}")
        return None
    for line in describe(verified):
        tour.console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
    tour.checks.expect(label, True)
    try:
        check_output(verified, answer.body)
    except LedgerError as exc:
        body_logged, detail = False, str(exc)
    else:
        body_logged, detail = True, ""
    tour.checks.expect(f"the body {tenant} received is exactly the output logged for this request", body_logged, detail)
    return verified


def _shows_the_answer(tour: Tour, verified: VerifiedReceipt, gateway: str, answer: Reply) -> None:
    """The receipt is about this answer: its leaves name the gateway and backend the answer's headers named."""
    routed = [leaf for _, leaf in verified.leaves if isinstance(leaf, DecisionLeaf) and leaf.decision == "route"]
    region = tour.world.region_of(gateway)
    last = routed[-1] if routed else None
    tour.checks.expect(
        f"its leaves are in {region}'s log and name what the answer's headers said: {gateway}, {answer.backend}",
        last is not None
        and (last.region, last.gateway, last.backend) == (region, gateway, answer.backend)
        and verified.outcome.backend == answer.backend,
        f"decided {last.backend if last else 'nothing'} at {last.gateway if last else '?'}, "
        f"outcome names {verified.outcome.backend}",
    )


async def _outsider(tour: Tour, tenant: str, gateway: str, url: str) -> None:
    other = tour.outsider(tenant, gateway)
    if other is None:
        tour.checks.expect("another tenant is there to ask for the receipt", False, "only one tenant has a demo key")
        return
    refused = await tour.client.get(url, tour.keys[other])
    tour.console.print(
        f"{other} asks {gateway} for the same receipt with its own key: {refused.status} {refused.code}",
        highlight=False,
    )
    tour.note("  receipts are found by the request's tag under the caller's salt: another tenant's id matches nothing")
    tour.checks.expect(
        f"{other} asking for {tenant}'s receipt gets 404",
        refused.status == 404 and refused.code == "receipt_not_found",
        f"got {refused.status} {refused.code}",
    )
