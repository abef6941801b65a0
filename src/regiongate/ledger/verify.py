"""Offline verification of a receipt with nothing but the region's public key (``regiongate verify``).

Every check is on the receipt's own bytes: the checkpoint's Ed25519 signature by the trusted key (and its origin),
each leaf's canonical bytes (the decoded form shown must be exactly what the bytes say), each inclusion proof
against the signed root, and the tags: recomputed from the tenant's salt they must name this tenant and request.
Any mismatch raises; a receipt either verifies completely or not at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import msgspec

from regiongate.ledger.checkpoint import Checkpoint, open_checkpoint
from regiongate.ledger.errors import MalformedText, VerificationFailed
from regiongate.ledger.leaves import DecisionLeaf, Leaf, OutcomeLeaf, decode_leaf, output_hasher, tag, to_builtins
from regiongate.ledger.note import NoteVerifier, b64decode_strict
from regiongate.ledger.proof import parse_proof, verify_proof
from regiongate.ledger.receipts import DOES_NOT_PROVE, FORMAT, PROVES, Receipt, ReceiptLeaf, decode_receipt


@dataclass(frozen=True, slots=True)
class VerifiedReceipt:
    receipt: Receipt
    checkpoint: Checkpoint
    leaves: tuple[tuple[int, Leaf], ...]

    @property
    def outcome(self) -> OutcomeLeaf:
        return next(leaf for _, leaf in self.leaves if isinstance(leaf, OutcomeLeaf))


def _parse(text: bytes | str) -> Receipt:
    try:
        receipt = decode_receipt(text)
    except msgspec.DecodeError as exc:
        raise MalformedText(f"receipt: {exc}") from None
    if receipt.format != FORMAT:
        raise MalformedText(f"receipt: unknown format {receipt.format!r}")
    return receipt


def _check_leaf(item: ReceiptLeaf, receipt: Receipt, verifier: NoteVerifier, salt: bytes) -> Leaf:
    data = b64decode_strict(item.data, f"leaf {item.index} data")
    leaf = decode_leaf(data)
    if to_builtins(leaf) != item.leaf:
        raise VerificationFailed(f"leaf {item.index}: the decoded form shown is not what the logged bytes say")
    proof = parse_proof(item.proof)
    if proof.index != item.index or proof.checkpoint != receipt.checkpoint or proof.extra is not None:
        raise VerificationFailed(f"leaf {item.index}: its proof is for another index or another checkpoint")
    verify_proof(item.proof, data, verifier)
    if leaf.tenant != tag(salt, "tenant", receipt.tenant):
        raise VerificationFailed(f"leaf {item.index}: does not name tenant {receipt.tenant!r}")
    if leaf.request != tag(salt, "request", receipt.request_id):
        raise VerificationFailed(f"leaf {item.index}: does not name request {receipt.request_id!r}")
    return leaf


def _check_envelope(receipt: Receipt, verifier: NoteVerifier, checkpoint: Checkpoint) -> bytes:
    """The unsigned fields: they must say exactly what the verifier knows, or the receipt was altered."""
    if receipt.key != verifier.vkey or receipt.origin != checkpoint.origin:
        raise VerificationFailed("receipt: names another key or log than the one it is verified against")
    if receipt.proves != PROVES or receipt.does_not_prove != DOES_NOT_PROVE:
        raise VerificationFailed("receipt: its statement of what it proves was altered")
    try:
        salt = bytes.fromhex(receipt.tenant_salt)
    except ValueError:
        raise MalformedText("receipt: tenant_salt is not hex") from None
    if salt.hex() != receipt.tenant_salt:
        raise MalformedText("receipt: tenant_salt is not lowercase hex")
    return salt


def verify_receipt(text: bytes | str, verifier: NoteVerifier) -> VerifiedReceipt:
    receipt = _parse(text)
    checkpoint, _ = open_checkpoint(receipt.checkpoint, [verifier])
    salt = _check_envelope(receipt, verifier, checkpoint)
    leaves = tuple((item.index, _check_leaf(item, receipt, verifier, salt)) for item in receipt.leaves)
    decisions = [leaf for _, leaf in leaves if isinstance(leaf, DecisionLeaf)]
    outcomes = [leaf for _, leaf in leaves if isinstance(leaf, OutcomeLeaf)]
    if not decisions or len(outcomes) != 1:
        raise VerificationFailed("receipt: needs at least one decision leaf and exactly one outcome leaf")
    if len({(leaf.region, leaf.gateway) for _, leaf in leaves}) != 1:
        raise VerificationFailed("receipt: leaves from different gateways or regions")
    return VerifiedReceipt(receipt, checkpoint, leaves)


def check_output(verified: VerifiedReceipt, body: bytes) -> None:
    """Does ``body`` (the exact bytes the client received) match the logged output digest?"""
    hasher = output_hasher(bytes.fromhex(verified.receipt.tenant_salt))
    hasher.update(body)
    if verified.outcome.output != hasher.hexdigest():
        raise VerificationFailed("the body given is not the output the gateway logged for this request")


def _when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds")


def _describe(index: int, leaf: Leaf) -> str:
    if isinstance(leaf, DecisionLeaf):
        if leaf.decision == "refuse":
            return f"leaf {index}: refused ({leaf.reason}) under policy {leaf.policy[:16]}…, {_when(leaf.at_ms)}"
        return (
            f"leaf {index}: decision #{leaf.attempt}: route {leaf.model} to backend {leaf.backend} in datacenter "
            f"{leaf.datacenter} ({leaf.country}), operated by {', '.join(leaf.operators)}; weights "
            f"{leaf.weights or 'not declared'}; policy {leaf.policy[:16]}…; {_when(leaf.at_ms)}"
            + (f"; {len(leaf.media_digests)} media part(s) sent, digested" if leaf.media_digests else "")
        )
    tokens = f"{leaf.prompt_tokens}+{leaf.completion_tokens} tokens" if leaf.prompt_tokens is not None else "no usage"
    return (
        f"leaf {index}: outcome: status {leaf.status}{f' ({leaf.reason})' if leaf.reason else ''}, {tokens}, "
        f"answered by {leaf.backend or 'no backend'} after {leaf.attempts} attempt(s), ended {_when(leaf.ended_ms)}"
    )


def describe(verified: VerifiedReceipt) -> list[str]:
    r, cp = verified.receipt, verified.checkpoint
    lines = [
        f"receipt for request {r.request_id} of tenant {r.tenant}: VERIFIED",
        f"log {cp.origin}, signed checkpoint of size {cp.size}",
        *(_describe(i, leaf) for i, leaf in verified.leaves),
        "proves: " + " ".join(PROVES),  # the verifier's own words: the receipt's copy is not signed
    ]
    lines.extend(f"does not prove: {item}" for item in DOES_NOT_PROVE)
    return lines
