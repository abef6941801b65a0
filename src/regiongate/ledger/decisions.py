"""Decision records: what the gateway decided for every request, answered or refused, and where they go.

A record never holds prompt or output content, and never the tenant's id in clear: tenant and request ids are
HMAC-SHA256 digests under a per-deployment salt, so a leaked log reveals neither who sent what nor lets anyone
test a guessed tenant name without the salt. The ``*_tag`` fields are the same idea under the tenant's own salt
(:mod:`regiongate.ledger.leaves`): they are what the verifiable log stores, and what a tenant can recompute.

A sink hears about a request twice: ``decide`` when a backend is chosen (before the payload is forwarded; the
gateway awaits the returned awaitable before the first byte of the answer, so a durable sink makes the decision
durable first), and ``record`` once when the request ends, answered or refused.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Generator
from typing import Any, Protocol

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
    tenant_tag: str = ""  # HMAC(tenant salt, "tenant" ‖ tenant id), hex
    request_tag: str = ""  # HMAC(tenant salt, "request" ‖ request id), hex: how a receipt is found
    country: str | None = None  # of the backend's datacenter, as declared when the decision was made
    operators: tuple[str, ...] = ()  # the datacenter's service and facility operators and subprocessors
    weights_digest: str | None = None  # of the model as the chosen backend declares it
    media_tags: tuple[str, ...] = ()  # HMAC(tenant salt, "media" ‖ reference) per media part of the input
    # Per media part, in order: HMAC-SHA256(tenant salt, the part as normalized for the backend), hex. Never bytes.
    media_digests: tuple[str, ...] = ()
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    output_tag: str | None = None  # HMAC(tenant salt, "output" ‖ the body bytes sent)


class Done:
    """An awaitable that is already complete: what a sink without durability returns from ``decide``."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield


DONE = Done()


class DecisionSink(Protocol):
    """Where decision records go. Neither method may block the event loop."""

    def decide(self, decision: DecisionRecord) -> Awaitable[object]: ...

    def record(self, decision: DecisionRecord) -> None: ...

    async def close(self) -> None: ...


class MemorySink:
    """Keeps records in a list: for tests and for the demo's own accounting."""

    def __init__(self) -> None:
        self.records: list[DecisionRecord] = []
        self.decisions: list[DecisionRecord] = []

    def decide(self, decision: DecisionRecord) -> Awaitable[object]:
        self.decisions.append(decision)
        return DONE

    def record(self, decision: DecisionRecord) -> None:
        self.records.append(decision)

    async def close(self) -> None:
        return None


class TeeSink:
    """Sends every request to ``sink`` and copies its final record to ``copy`` (the demo: the region's log, and
    the demo's own accounting). ``decide`` goes to ``sink`` alone and returns its awaitable, so the answer still
    waits for the sink's decision to be durable; ``record`` goes to both.

    A tee owns neither sink: several tees may share one (every gateway of a region feeding the region's log), so
    closing a tee closes nothing, and whoever opened the sinks closes them."""

    def __init__(self, sink: DecisionSink, copy: DecisionSink) -> None:
        self.sink = sink
        self.copy = copy

    def decide(self, decision: DecisionRecord) -> Awaitable[object]:
        return self.sink.decide(decision)

    def record(self, decision: DecisionRecord) -> None:
        self.sink.record(decision)
        self.copy.record(decision)

    async def close(self) -> None:
        return None


def salted_digest(salt: bytes, value: str) -> str:
    return hmac.new(salt, value.encode(), hashlib.sha256).hexdigest()
