"""The gateway's decision sink: decision records become leaves of the region's verifiable log.

``decide`` (a backend was chosen, the payload is about to be forwarded) appends a decision leaf and returns the
future of its commit, which the proxy awaits before the first byte of the answer. ``record`` (the request ended)
appends the outcome leaf without anyone waiting, preceded, for a request that never reached a backend (a refusal),
by its decision leaf naming no backend. So every request has at least two leaves, all under its request tag.
"""

from __future__ import annotations

import asyncio
import logging

from regiongate.ledger.appender import LedgerUnavailable
from regiongate.ledger.decisions import DecisionRecord
from regiongate.ledger.leaves import DecisionLeaf, OutcomeLeaf, encode_leaf, millis
from regiongate.ledger.region_log import RegionLog
from regiongate.ledger.store import request_key

log = logging.getLogger("regiongate.ledger")


def decision_leaf(record: DecisionRecord, at: float) -> DecisionLeaf:
    routed = record.backend is not None
    return DecisionLeaf(
        region=record.region,
        gateway=record.gateway,
        tenant=record.tenant_tag,
        request=record.request_tag,
        decision="route" if routed else "refuse",
        attempt=max(len(record.attempts) - 1, 0),
        backend=record.backend,
        datacenter=record.datacenter,
        country=record.country,
        operators=record.operators,
        policy=record.policy_hash,
        model=record.model,
        weights=record.weights_digest,
        modalities=record.modalities,
        media=record.media_tags,
        media_digests=record.media_digests,
        reason=None if routed else record.reason,
        at_ms=millis(at),
    )


def outcome_leaf(record: DecisionRecord) -> OutcomeLeaf:
    return OutcomeLeaf(
        region=record.region,
        gateway=record.gateway,
        tenant=record.tenant_tag,
        request=record.request_tag,
        status=record.status,
        reason=record.reason,
        backend=record.backend,
        attempts=len(record.attempts),
        prompt_tokens=record.prompt_tokens,
        completion_tokens=record.completion_tokens,
        output=record.output_tag,
        started_ms=millis(record.started_at),
        ended_ms=millis(record.ended_at),
    )


class LedgerSink:
    def __init__(self, ledger: RegionLog) -> None:
        self.ledger = ledger

    def decide(self, decision: DecisionRecord) -> asyncio.Future[int]:
        """Raises :class:`LedgerUnavailable` (503) if the log cannot take it: then nothing is forwarded."""
        leaf = decision_leaf(decision, decision.ended_at or decision.started_at)
        return self.ledger.append(encode_leaf(leaf), request_key(decision.request_tag, decision.request_id))

    def record(self, decision: DecisionRecord) -> None:
        key = request_key(decision.request_tag, decision.request_id)
        try:
            if not decision.attempts:  # refused before any backend: its decision is logged now
                self.ledger.append_nowait(encode_leaf(decision_leaf(decision, decision.ended_at)), key)
            self.ledger.append_nowait(encode_leaf(outcome_leaf(decision)), key)
        except LedgerUnavailable:
            log.error("decision log unavailable: outcome of a request not logged")

    async def close(self) -> None:
        await self.ledger.close()
