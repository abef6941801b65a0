"""Receipts: everything a tenant needs to check offline, with only the region's public key, what the gateway
logged about one of its requests.

A receipt holds the request's leaves (canonical bytes and their decoded form), a C2SP tlog-proof for each against
one signed checkpoint, and the tenant's salt so the tenant can recompute the tags that name it and the request in
those leaves. The salt is the tenant's own (derived from the deployment salt, which it does not reveal): it lets
the holder recognise this tenant's tags, so a tenant that shares a receipt shares that ability too.
"""

from __future__ import annotations

import base64

import msgspec

from regiongate.ledger.checkpoint import Checkpoint
from regiongate.ledger.leaves import decode_leaf, to_builtins
from regiongate.ledger.region_log import RegionLog

FORMAT = "regiongate-receipt/v1"

PROVES = (
    "the region's log, signed with the key you trust, holds these leaves at these indices, in a tree of the signed "
    "size; the leaves name this tenant and request (recomputed from the tenant's salt); so the gateway recorded "
    "that decision (backend, datacenter, declared country and operators, policy hash, model and weights digest) "
    "before it answered, and the outcome (status, token counts, output digest) when the request ended",
)
DOES_NOT_PROVE = (
    "that the backend really ran where its operator declared, or that the operators' declarations are true: the "
    "log records what the gateway decided and was told, not what the hardware did",
    "that the log shows the same tree to everyone: compare checkpoints over time (`regiongate audit`) or with "
    "witnesses for that",
)


class ReceiptLeaf(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    index: int
    data: str  # base64 of the canonical leaf bytes: what the leaf hash covers
    leaf: dict[str, object]  # the same, decoded (for reading; the verifier checks it equals the bytes)
    proof: str  # C2SP tlog-proof text against ``checkpoint``


class Receipt(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every field is checked by the verifier (the fixed texts and the key against its own), so no byte of a
    receipt can change without it failing."""

    format: str = FORMAT
    request_id: str
    tenant: str
    tenant_salt: str  # hex: recompute tag(label, value) = HMAC-SHA256(salt, label ‖ 0x00 ‖ value)
    origin: str
    key: str  # the region's verifier key (name+id+base64); trust it only if it matches the one you pinned
    checkpoint: str  # the signed checkpoint note every proof is against
    leaves: tuple[ReceiptLeaf, ...]
    proves: tuple[str, ...] = PROVES
    does_not_prove: tuple[str, ...] = DOES_NOT_PROVE


async def build_receipt(
    ledger: RegionLog,
    signed: tuple[Checkpoint, str],
    entries: list[tuple[int, bytes]],
    *,
    request_id: str,
    tenant: str,
    salt: bytes,
) -> Receipt:
    leaves = []
    for index, data in entries:
        proof = await ledger.proof(index, signed)
        leaves.append(
            ReceiptLeaf(
                index=index,
                data=base64.b64encode(data).decode("ascii"),
                leaf=to_builtins(decode_leaf(data)),
                proof=proof.encode(),
            )
        )
    return Receipt(
        request_id=request_id,
        tenant=tenant,
        tenant_salt=salt.hex(),
        origin=ledger.origin,
        key=ledger.verifier.vkey,
        checkpoint=signed[1],
        leaves=tuple(leaves),
    )


def encode_receipt(receipt: Receipt) -> bytes:
    return msgspec.json.format(msgspec.json.encode(receipt), indent=2)


def decode_receipt(text: bytes | str) -> Receipt:
    return msgspec.json.decode(text, type=Receipt)
