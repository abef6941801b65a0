"""What decision records and response headers say about tenants and backends, computed once per process.

Per tenant: its id hashed under the deployment salt, its own salt, and keyed HMAC states for its tags and output
digest. Per backend: its place (headers, datacenter, country, operators). From them, :meth:`Recording.template`:
the decision record to try a backend for a tenant, but for what is the request's own (ids, times, media, outcome).
Nothing here changes while the gateway runs, so none of it is recomputed on the request path.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TypeVar

from regiongate.api.place import Place
from regiongate.ledger.decisions import DecisionRecord, salted_digest
from regiongate.ledger.leaves import Tagger, output_hasher, tenant_salt
from regiongate.topology.records import Backend, Gateway, Modality, Tenant, Topology

T = TypeVar("T")


class Recording:
    def __init__(self, deployment_salt: bytes, topology: Topology, gateway: Gateway) -> None:
        self._salt = deployment_salt
        here, dcs = topology.datacenters[gateway.datacenter], topology.datacenters
        self._places = {None: Place.nowhere(gateway, here)} | {
            b.id: Place.of(gateway, here, b, dcs[b.datacenter]) for b in topology.backends.values()
        }
        # Per tenant id ("" before authentication): bounded by the tenants of the topology.
        self._hashes: dict[str, str] = {}
        self._salts: dict[str, bytes] = {}
        self._taggers: dict[str, Tagger] = {}
        self._tags: dict[str, str] = {}
        self._outputs: dict[str, hmac.HMAC] = {}
        self._modality_names: dict[frozenset[Modality], tuple[str, ...]] = {}

    def tenant_hash(self, tenant: Tenant | None) -> str:
        """HMAC(deployment salt, tenant id): what plain decision records name the tenant by."""
        return _once(self._hashes, tenant, lambda t: salted_digest(self._salt, t) if t else "")

    def tenant_salt(self, tenant: Tenant | None) -> bytes:
        """The tenant's own salt for its tags in the log (given to it in its receipts; never the deployment's)."""
        return _once(self._salts, tenant, lambda t: tenant_salt(self._salt, t))

    def tagger(self, tenant: Tenant | None) -> Tagger:
        """Tags under the tenant's own salt (what its receipts let it recompute)."""
        return _once(self._taggers, tenant, lambda _: Tagger(self.tenant_salt(tenant)))

    def tenant_tag(self, tenant: Tenant | None) -> str:
        return _once(self._tags, tenant, lambda t: self.tagger(tenant).tag("tenant", t))

    def output_hasher(self, tenant: Tenant | None) -> hmac.HMAC:
        """A fresh running tag("output", …): a copy of one keyed per tenant (cheaper than keying one per request)."""
        return _once(self._outputs, tenant, lambda _: output_hasher(self.tenant_salt(tenant))).copy()

    def modality_names(self, modalities: frozenset[Modality]) -> tuple[str, ...]:
        found = self._modality_names.get(modalities)
        if found is None:
            found = self._modality_names[modalities] = tuple(sorted(m.value for m in modalities))
        return found

    def place(self, backend: Backend | None) -> Place:
        return self._places[backend.id if backend is not None else None]

    def response_headers(self, backend: Backend | None) -> dict[str, str]:
        """A new dict of the headers every answer from ``backend`` (None: from no backend) carries."""
        return dict(self.place(backend).headers)

    def template(
        self,
        tenant: Tenant | None,
        model: str | None,
        modalities: frozenset[Modality],
        backend: Backend | None,
        policy_hash: str,
    ) -> DecisionRecord:
        """The record of routing to ``backend`` (None: of a refusal), with none of the request's own fields set."""
        place = self.place(backend)
        served = backend.models.get(model) if backend is not None and model else None
        return DecisionRecord(
            request_id="",
            tenant_hash=self.tenant_hash(tenant),
            gateway=place.gateway,
            region=place.log_region,
            outcome="routed" if backend is not None else "refused",
            status=0,
            policy_hash=policy_hash,
            model=model,
            modalities=self.modality_names(modalities),
            backend=place.backend,
            datacenter=place.datacenter,
            tenant_tag=self.tenant_tag(tenant),
            country=place.country,
            operators=place.operators,
            weights_digest=served.weights_digest if served else None,
        )


def _once(cache: dict[str, T], tenant: Tenant | None, make: Callable[[str], T]) -> T:
    tenant_id = tenant.id if tenant else ""
    found = cache.get(tenant_id)
    if found is None:
        found = cache[tenant_id] = make(tenant_id)
    return found
