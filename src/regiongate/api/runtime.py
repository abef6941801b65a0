"""Everything one gateway process holds while it serves: the world, the decisions, the live backend state.

Deciding (``admit``, ``plan``) is separate from acting (the handlers in :mod:`regiongate.api.proxy`): ``plan``
returns the compliant candidate slots for a request and nothing else, so the handlers cannot reach a backend the
compliance matrix did not put there.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from regiongate.api.auth import KeyRing
from regiongate.api.capabilities import capable, incapable, lacking_input
from regiongate.api.media import MediaGate
from regiongate.api.recording import Recording
from regiongate.backends.openai import OpenAIUpstream
from regiongate.backends.protocol import Upstream
from regiongate.errors import MisdirectedRequest, ModelNotFound, PermissionDenied, UnsupportedModality
from regiongate.ledger.decisions import DecisionRecord, DecisionSink
from regiongate.ledger.region_log import RegionLog
from regiongate.ledger.sink import LedgerSink
from regiongate.media.fetch import SafeFetcher
from regiongate.policy.matrix import ComplianceMatrix
from regiongate.routing.breaker import CircuitBreaker
from regiongate.routing.load import SharedLoad
from regiongate.routing.news import BreakerNews
from regiongate.routing.permits import Permits
from regiongate.routing.router import Router
from regiongate.routing.selection import BackendSlot
from regiongate.settings import ServeSettings
from regiongate.topology.records import Backend, Datacenter, Gateway, Modality, ServedModel, Tenant, Topology

log = logging.getLogger("regiongate.runtime")


@dataclass(frozen=True, slots=True)
class Plan:
    """The compliant candidates for one request, and how each names the model."""

    model: str
    slots: tuple[BackendSlot, ...]
    served: Mapping[str, ServedModel]  # backend id -> the model as that backend serves it (profile, dialect)
    # backend id -> the decision record to try it, but for what is particular to the request (ids, times, media)
    decisions: Mapping[str, DecisionRecord]


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


class Runtime:
    def __init__(
        self,
        settings: ServeSettings,
        topology: Topology,
        sink: DecisionSink,
        upstreams: Mapping[str, Upstream] | None = None,
        *,
        fetcher: SafeFetcher | None = None,
        ledger: RegionLog | None = None,
        permits: Permits | None = None,
        news: BreakerNews | None = None,
        load: SharedLoad | None = None,
    ) -> None:
        """``permits``, ``news`` and ``load``: concurrency permits, breaker news and load reports shared with the
        other gateway processes (``REGIONGATE_STATE_URL``)."""
        self.settings = settings
        self.topology = topology
        self.gateway: Gateway = topology.gateways[settings.gateway]
        self.datacenter: Datacenter = topology.datacenters[self.gateway.datacenter]
        self.sink = sink
        # Receipts exist only where decisions go to the verifiable log (tests may use a plain sink).
        self.ledger = ledger or (sink.ledger if isinstance(sink, LedgerSink) else None)
        # What records and headers say about tenants and backends, computed once (``recording.py``).
        self.recording = Recording(settings.salt, topology, self.gateway)
        self.keys = KeyRing(topology.tenants.values())
        self.matrix = ComplianceMatrix.build(topology, today())
        self.router = Router(
            (
                BackendSlot(b.id, b.capacity, b.max_concurrency, CircuitBreaker(settings.breaker))
                for b in topology.backends.values()
            ),
            max_attempts=settings.max_attempts,
            permits=permits,
            news=news,
        )
        self.load = load
        self.upstreams: Mapping[str, Upstream] = upstreams or {
            b.id: OpenAIUpstream(b.id, _url(b), timeouts=settings.timeouts) for b in topology.backends.values()
        }
        # One pool and one SSRF-safe fetcher for every media part this process prepares (``fetcher``: tests).
        self.media = MediaGate(settings.media, fetcher=fetcher)
        self._tasks: list[asyncio.Task[None]] = []
        # Plans are pure functions of the matrix: cached until it is rebuilt. Bounded by tenants x models x
        # modality subsets x audio output that have candidates (refusals raise and are not cached).
        self._plans: dict[tuple[str, str, frozenset[Modality], bool], Plan] = {}

    # -- deciding -------------------------------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> Tenant:
        return self.keys.authenticate(authorization)

    def admit(self, tenant: Tenant) -> None:
        """Refuse (421) before any payload is read if this gateway's own place is not compliant for the tenant."""
        if not self.matrix.gateway_allowed(tenant.id, self.gateway.id):
            raise self._misdirected(tenant)

    def _misdirected(self, tenant: Tenant) -> MisdirectedRequest:
        compliant = [self.topology.gateways[g] for g in self.matrix.compliant_gateways(tenant.id)]
        where = ", ".join(f"{g.id} ({g.url})" for g in compliant) or "none: no gateway is compliant"
        return MisdirectedRequest(
            f"Tenant {tenant.id}'s policy does not allow its data to be processed at gateway {self.gateway.id} "
            f"({self.datacenter.city}, {self.datacenter.country}). Compliant gateways: {where}.",
            headers={"X-Regiongate-Compliant-Gateways": ", ".join(g.url for g in compliant)},
        )

    def plan(self, tenant: Tenant, model: str, modalities: frozenset[Modality], *, audio_out: bool = False) -> Plan:
        """The compliant candidates, narrowed to those that can serve the request as asked (audio output, video
        in a form the backend takes): capabilities only ever remove members of the compliant set."""
        key = (tenant.id, model, modalities, audio_out)
        found = self._plans.get(key)
        if found is None:
            compliant = self.matrix.candidates(tenant.id, model, modalities)
            if not compliant:
                raise self._why_empty(tenant, model, modalities)
            backends = self.topology.backends
            ids = capable(compliant, backends, model, modalities, audio_out)
            if not ids:
                raise incapable(tenant.id, compliant, backends, model, modalities, audio_out)
            served = {bid: backends[bid].models[model] for bid in ids}
            policy = self.policy_hash(tenant)
            decisions = {bid: self.recording.template(tenant, model, modalities, backends[bid], policy) for bid in ids}
            found = self._plans[key] = Plan(model, self.router.slots_for(ids), served, decisions)
        return found

    def _why_empty(
        self, tenant: Tenant, model: str, modalities: frozenset[Modality]
    ) -> ModelNotFound | UnsupportedModality | PermissionDenied:
        text_only = frozenset({Modality.TEXT})
        if not self.matrix.candidates(tenant.id, model, text_only):
            why = _explain(self.matrix.refusals(tenant.id, model, text_only))
            return ModelNotFound(
                f"The model `{model}` does not exist or is not available under tenant {tenant.id}'s policy. {why}",
                param="model",
            )
        extra = sorted(m.value for m in modalities - text_only)
        compliant = self.matrix.candidates(tenant.id, model, text_only)
        lacking = lacking_input(compliant, self.topology.backends, model, modalities)
        if lacking:
            why = f"Compliant backends lacking {', '.join(extra)}: {', '.join(lacking)}."
        else:  # the policy itself refuses this modality
            why = _explain(self.matrix.refusals(tenant.id, model, modalities))
        return UnsupportedModality(
            f"No backend compliant with tenant {tenant.id}'s policy serves `{model}` with input "
            f"{', '.join(extra)}. {why}",
            param="messages",
        )

    def models_for(self, tenant: Tenant) -> list[str]:
        return list(self.matrix.models_for(tenant.id))

    # -- recording ------------------------------------------------------------------------------------------------

    @property
    def receipts(self) -> bool:
        return self.ledger is not None

    def policy_hash(self, tenant: Tenant | None) -> str:
        return self.matrix.policy_hash(tenant.id) if tenant else ""

    def record(self, decision: DecisionRecord) -> None:
        self.sink.record(decision)

    def backend(self, backend_id: str) -> Backend:
        return self.topology.backends[backend_id]

    # -- background work ------------------------------------------------------------------------------------------

    def start(self, *, background: bool = True) -> None:
        """Hear the other gateways' breaker news and exchange load reports with them; with ``background``, also
        run health checks and refresh the matrix on their intervals (tests drive those by hand)."""
        if self.router.news is not None:
            self.router.news.start(self.router.heard)
        if self.load is not None:
            self.load.start(self.router.slots)
        if background:
            self._tasks.append(asyncio.create_task(self._probe_forever(), name="health-checks"))
            self._tasks.append(asyncio.create_task(self._refresh_matrix_forever(), name="matrix-refresh"))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.gather(*(u.close() for u in self.upstreams.values()))
        await self.media.close()
        await self.sink.close()
        if self.router.permits is not None:
            await self.router.permits.close()
        if self.router.news is not None:
            await self.router.news.close()
        if self.load is not None:
            await self.load.close()

    def reachable_backends(self) -> list[str]:
        """Backends some tenant admitted at this gateway may use: the only ones worth probing from here."""
        admitted = [t for t in self.topology.tenants if self.matrix.gateway_allowed(t, self.gateway.id)]
        return sorted({b for t in admitted for b in self.matrix.allowed_backends(t)} & set(self.upstreams))

    async def probe_all(self) -> None:
        """One round of active health checks; a backend that fails it leaves every candidate set until it passes."""
        ids = self.reachable_backends()
        results = await asyncio.gather(*(self.upstreams[bid].probe() for bid in ids))
        for bid, healthy in zip(ids, results, strict=True):
            slot = self.router.slots[bid]
            if slot.healthy != healthy:
                log.warning("backend %s is now %s", bid, "healthy" if healthy else "failing health checks")
            slot.healthy = healthy

    async def _probe_forever(self) -> None:
        while True:
            await self.probe_all()
            await asyncio.sleep(self.settings.health_interval)

    async def _refresh_matrix_forever(self) -> None:
        # Certifications start and expire on dates: rebuild the precomputed decisions when one does (and daily).
        while True:
            now = dt.datetime.now(dt.UTC)
            boundary = self.matrix.valid_until(now.date())
            tomorrow = now.date() + dt.timedelta(days=1)
            wake = min(boundary, tomorrow) if boundary else tomorrow
            delay = (dt.datetime.combine(wake, dt.time(), dt.UTC) - now).total_seconds()
            await asyncio.sleep(max(1.0, delay))
            self.rebuild_matrix(today())

    def rebuild_matrix(self, at: dt.date) -> None:
        self.matrix = ComplianceMatrix.build(self.topology, at)
        self._plans = {}


def _explain(refusals: Mapping[str, tuple[str, ...]]) -> str:
    if not refusals:
        return "No backend serves it."
    return "Excluded: " + "; ".join(f"{bid} ({', '.join(why)})" for bid, why in sorted(refusals.items())) + "."


def _url(backend: Backend) -> str:
    if backend.url is None:  # the loader requires a url for every engine this adapter serves
        raise ValueError(f"backend {backend.id} has no url")
    return backend.url
