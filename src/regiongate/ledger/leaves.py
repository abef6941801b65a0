"""The log's leaves: canonical encodings of what the gateway decided, and the salted tags that name tenants.

A leaf is compact JSON of a tagged, fixed-field struct: keys in declaration order, no whitespace, integers only
(times are Unix milliseconds, so no float formatting enters), strings escaped one way. Equal records therefore give
equal bytes, and :func:`decode_leaf` refuses any text that does not re-encode to itself, so the bytes a receipt
proves and the fields it shows can never disagree.

Tenants and requests appear only as tags: ``HMAC-SHA256(tenant salt, label ‖ 0x00 ‖ value)``. Each tenant's salt is
``HMAC-SHA256(deployment salt, "regiongate/v1/tenant-salt" ‖ 0x00 ‖ tenant id)``: handing a tenant its own salt lets
it recompute (and find) its own tags, but not anyone else's, and reveals nothing about the deployment salt.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

import msgspec

from regiongate.ledger.errors import MalformedText

LEAF_VERSION = 1
_SALT_LABEL = b"regiongate/v1/tenant-salt\x00"
_BLOCK = 64  # SHA-256's block size, for HMAC's key padding (RFC 2104)


class DecisionLeaf(
    msgspec.Struct, frozen=True, kw_only=True, tag="decision", tag_field="kind", forbid_unknown_fields=True
):
    """Written before the request is forwarded (one per backend tried), or at the end for a refusal."""

    v: int = LEAF_VERSION
    region: str
    gateway: str
    tenant: str  # tag("tenant", tenant id)
    request: str  # tag("request", request id)
    decision: Literal["route", "refuse"]
    attempt: int  # 0 for the first backend tried; a retry elsewhere is a new decision leaf
    backend: str | None
    datacenter: str | None
    country: str | None
    operators: tuple[str, ...]  # service operator, facility operator, subprocessors, as the topology declares
    policy: str  # hash of the tenant's policy the decision was made under
    model: str | None
    weights: str | None  # the served model's declared weights digest
    modalities: tuple[str, ...]
    media: tuple[str, ...]  # tag("media", reference) of each media part of the input
    # HMAC(tenant salt, normalized part) of each media part as this backend was sent it (after validation and
    # conversion to its profile and dialect): which media went where, never the media.
    media_digests: tuple[str, ...] = ()
    reason: str | None  # a refusal's error code
    at_ms: int


class OutcomeLeaf(
    msgspec.Struct, frozen=True, kw_only=True, tag="outcome", tag_field="kind", forbid_unknown_fields=True
):
    """Written when the request ends, without holding the client up."""

    v: int = LEAF_VERSION
    region: str
    gateway: str
    tenant: str
    request: str
    status: int
    reason: str | None
    backend: str | None  # the backend that answered, if any
    attempts: int
    prompt_tokens: int | None
    completion_tokens: int | None
    output: str | None  # tag("output", the exact body bytes sent to the client)
    started_ms: int
    ended_ms: int


Leaf = DecisionLeaf | OutcomeLeaf

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Leaf)


def encode_leaf(leaf: Leaf) -> bytes:
    return _encoder.encode(leaf)


def decode_leaf(data: bytes) -> Leaf:
    """Decode a leaf, refusing anything that is not exactly its canonical encoding."""
    try:
        leaf: Leaf = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise MalformedText(f"leaf: {exc}") from None
    if _encoder.encode(leaf) != data:
        raise MalformedText("leaf: not in canonical form")
    return leaf


def to_builtins(leaf: Leaf) -> dict[str, object]:
    """The decoded form shown in receipts: exactly the JSON object the leaf bytes hold (lists, not tuples)."""
    out: dict[str, object] = msgspec.json.decode(_encoder.encode(leaf))
    return out


def tenant_salt(deployment_salt: bytes, tenant_id: str) -> bytes:
    return hmac.new(deployment_salt, _SALT_LABEL + tenant_id.encode(), hashlib.sha256).digest()


def tag(salt: bytes, label: str, value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return hmac.digest(salt, label.encode() + b"\x00" + raw, "sha256").hex()  # one-shot: OpenSSL, no Python HMAC


class Tagger:
    """``tag`` under one salt, many times: HMAC-SHA256 with its keyed inner and outer states computed once and
    copied per tag (the one-shot ``hmac.digest`` looks the digest up in OpenSSL on every call, which costs more
    than the hashing itself on the request path)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, salt: bytes) -> None:
        key = (hashlib.sha256(salt).digest() if len(salt) > _BLOCK else salt).ljust(_BLOCK, b"\x00")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def tag(self, label: str, value: str | bytes) -> str:
        raw = value.encode() if isinstance(value, str) else value
        inner = self._inner.copy()
        inner.update(label.encode() + b"\x00" + raw)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def output_hasher(salt: bytes) -> hmac.HMAC:
    """A running tag("output", …) over body bytes as they are sent."""
    return hmac.new(salt, b"output\x00", hashlib.sha256)


def millis(seconds: float) -> int:
    return round(seconds * 1000)
