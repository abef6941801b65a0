"""One request's bookkeeping: its id, what was decided, and the decision record written when it ends.

Every request that reaches a handler produces exactly one record, answered or refused, whatever raised.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from aiohttp import web

from regiongate.errors import ApiError
from regiongate.ledger.decisions import DecisionRecord
from regiongate.topology.records import Backend, Modality, Tenant

if TYPE_CHECKING:
    from regiongate.api.runtime import Runtime


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


class RequestContext:
    __slots__ = (
        "attempts",
        "backend",
        "modalities",
        "model",
        "reason",
        "request_id",
        "runtime",
        "started_at",
        "status",
        "tenant",
    )

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.request_id = new_request_id()
        self.started_at = time.time()
        self.tenant: Tenant | None = None
        self.model: str | None = None
        self.modalities: frozenset[Modality] = frozenset()
        self.backend: Backend | None = None
        self.attempts: list[str] = []
        self.status = 0
        self.reason: str | None = None

    @classmethod
    @asynccontextmanager
    async def open(cls, request: web.Request, runtime: Runtime) -> AsyncIterator[RequestContext]:
        ctx = cls(runtime)
        try:
            yield ctx
        except ApiError as exc:
            ctx.status, ctx.reason = exc.status, exc.code or exc.type
            exc.headers.setdefault("X-Regiongate-Request-Id", ctx.request_id)
            exc.headers.setdefault("X-Regiongate-Gateway", runtime.gateway.id)
            raise
        except BaseException:
            ctx.status = ctx.status or 500
            ctx.reason = ctx.reason or "internal_error"
            raise
        finally:
            runtime.record(ctx.decision())

    def routed_to(self, backend: Backend) -> None:
        self.backend = backend

    def failed(self, reason: str) -> None:
        self.reason = reason

    def headers(self) -> dict[str, str]:
        runtime = self.runtime
        headers = {"X-Regiongate-Request-Id": self.request_id, "X-Regiongate-Gateway": runtime.gateway.id}
        if self.backend is not None:
            dc = runtime.topology.datacenters[self.backend.datacenter]
            headers["X-Regiongate-Backend"] = self.backend.id
            headers["X-Regiongate-Datacenter"] = dc.id
            headers["X-Regiongate-Region"] = dc.region
        return headers

    def decision(self) -> DecisionRecord:
        runtime = self.runtime
        backend = self.backend
        return DecisionRecord(
            request_id=self.request_id,
            tenant_hash=runtime.tenant_hash(self.tenant),
            gateway=runtime.gateway.id,
            region=runtime.datacenter.region,
            outcome="routed" if backend is not None else "refused",
            status=self.status,
            policy_hash=runtime.policy_hash(self.tenant),
            model=self.model,
            modalities=tuple(sorted(m.value for m in self.modalities)),
            backend=backend.id if backend else None,
            datacenter=backend.datacenter if backend else None,
            attempts=tuple(self.attempts),
            reason=self.reason,
            started_at=self.started_at,
            ended_at=time.time(),
        )
