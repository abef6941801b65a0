"""Decision records: what the gateway decided for every request, answered or refused, and where they go.

A record never holds prompt or output content, and never the tenant's id in clear: tenant and request ids are
HMAC-SHA256 digests under a per-deployment salt, so a leaked log reveals neither who sent what nor lets anyone
test a guessed tenant name without the salt.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

import msgspec


class DecisionRecord(msgspec.Struct, frozen=True, kw_only=True):
    request_id: str
    tenant_hash: str  # HMAC-SHA256(salt, tenant id), hex
    gateway: str
    region: str  # the region whose log this record belongs to (the gateway's)
    outcome: str  # "routed" or "refused"
    status: int  # HTTP status answered to the client
    policy_hash: str
    model: str | None = None
    modalities: tuple[str, ...] = ()
    backend: str | None = None
    datacenter: str | None = None
    attempts: tuple[str, ...] = ()  # backends tried, in order (all inside the compliant set)
    reason: str | None = None  # error code of a refusal or failure
    started_at: float = 0.0  # unix seconds
    ended_at: float = 0.0


class DecisionSink(Protocol):
    """Where decision records go. ``record`` must not block the event loop."""

    def record(self, decision: DecisionRecord) -> None: ...

    async def close(self) -> None: ...


class MemorySink:
    """Keeps records in a list: for tests and for the demo's own accounting."""

    def __init__(self) -> None:
        self.records: list[DecisionRecord] = []

    def record(self, decision: DecisionRecord) -> None:
        self.records.append(decision)

    async def close(self) -> None:
        return None


def salted_digest(salt: bytes, value: str) -> str:
    return hmac.new(salt, value.encode(), hashlib.sha256).hexdigest()
