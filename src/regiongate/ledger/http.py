"""The log's HTTP face: receipts for their tenant only, the latest signed checkpoint, consistency proofs, the key.

``GET /v1/receipts/{request_id}`` finds leaves by the request's tag under the *caller's* salt, so another tenant's
request id simply matches nothing: 404, indistinguishable from an unknown id. A request whose leaves are not yet
covered by a checkpoint waits up to ``wait`` seconds for the next one (one a second), then answers 202 with
``Retry-After``; so does a request still in flight (no outcome leaf yet).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import msgspec
from aiohttp import web

from regiongate.errors import InvalidRequest, NotFound
from regiongate.ledger.errors import VerificationFailed
from regiongate.ledger.leaves import OutcomeLeaf, decode_leaf, tag
from regiongate.ledger.receipts import build_receipt, encode_receipt
from regiongate.ledger.region_log import RegionLog
from regiongate.ledger.store import request_key

Identify = Callable[[str | None], tuple[str, bytes]]  # Authorization header -> (tenant id, tenant salt)


def _pending(request_id: str, why: str) -> web.Response:
    body = msgspec.json.encode({"request_id": request_id, "status": "pending", "detail": why})
    return web.Response(status=202, body=body, content_type="application/json", headers={"Retry-After": "1"})


def _complete(entries: list[tuple[int, bytes]]) -> bool:
    return any(isinstance(decode_leaf(data), OutcomeLeaf) for _, data in entries)


def _size(raw: str | None, name: str) -> int:
    if raw is None or not raw.isdigit() or len(raw) > 20:
        raise InvalidRequest(f"`{name}` must be a tree size (a non-negative integer).", param=name)
    return int(raw)


def ledger_routes(ledger: RegionLog, identify: Identify, *, wait: float = 2.0) -> list[web.RouteDef]:
    async def receipt(request: web.Request) -> web.StreamResponse:
        tenant, salt = identify(request.headers.get("Authorization"))
        request_id = request.match_info["request_id"]
        await ledger.flush()  # a request that just ended has its outcome queued: let it land first
        wanted = tag(salt, "request", request_id)
        entries = await ledger.entries(request_key(wanted, request_id))
        entries = [(i, d) for i, d in entries if decode_leaf(d).request == wanted]  # the key holds part of the tag
        if not entries:
            raise NotFound(f"No receipt for request {request_id} of this tenant.", code="receipt_not_found")
        if not _complete(entries):
            return _pending(request_id, "the request has not ended yet")
        signed = await ledger.wait_sealed(max(i for i, _ in entries), wait)
        if signed is None:
            return _pending(request_id, "the leaves are not covered by a signed checkpoint yet")
        built = await build_receipt(ledger, signed, entries, request_id=request_id, tenant=tenant, salt=salt)
        return web.Response(body=encode_receipt(built), content_type="application/json")

    async def checkpoint(request: web.Request) -> web.StreamResponse:
        latest = ledger.latest
        if latest is None:
            raise NotFound("The log has no checkpoint yet.")
        return web.Response(text=latest[1], content_type="text/plain", charset="utf-8")

    async def consistency(request: web.Request) -> web.StreamResponse:
        first = _size(request.query.get("first"), "first")
        second = _size(request.query.get("second"), "second")
        try:
            proof = await ledger.consistency(first, second)
        except VerificationFailed as exc:
            raise InvalidRequest(str(exc), param="second") from None
        hashes = [base64.b64encode(h).decode("ascii") for h in proof]
        body = msgspec.json.encode({"origin": ledger.origin, "first": first, "second": second, "proof": hashes})
        return web.Response(body=body, content_type="application/json")

    async def key(request: web.Request) -> web.StreamResponse:
        return web.Response(text=ledger.verifier.vkey + "\n", content_type="text/plain", charset="utf-8")

    return [
        web.get("/v1/receipts/{request_id}", receipt),
        web.get("/v1/ledger/checkpoint", checkpoint),
        web.get("/v1/ledger/consistency", consistency),
        web.get("/v1/ledger/key", key),
    ]
