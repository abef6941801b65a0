"""The compliance matrix: every tenant's decision for every backend and gateway, computed once at load.

A request then pays dictionary lookups: :meth:`ComplianceMatrix.candidates` answers from an index precomputed over
every (tenant, model, set of input modalities). The matrix is exact on the day it was built for; certifications
start and expire, so :meth:`ComplianceMatrix.valid_until` says when it must be rebuilt.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from enum import Enum
from itertools import combinations
from types import MappingProxyType

from regiongate.policy.ast import AllOf, AnyOf, Modalities, Models, Not, Policy
from regiongate.policy.evaluate import Decision, evaluate
from regiongate.policy.ownership import derive_org_facts
from regiongate.policy.place import Offering, Place, certification_dates
from regiongate.topology.laws import LAW_COUNTRIES
from regiongate.topology.records import Modality, Topology

ModalitySet = frozenset[Modality]
# Every subset of the input modalities (16 of them): the index is precomputed for each.
MODALITY_SETS: tuple[ModalitySet, ...] = tuple(
    frozenset(c) for n in range(len(Modality) + 1) for c in combinations(tuple(Modality), n)
)
_NO_REFUSALS: Mapping[str, tuple[str, ...]] = MappingProxyType({})


class ComplianceMatrix:
    """Immutable after :meth:`build`. Unknown tenants, models or gateways get empty answers (fail-closed)."""

    def __init__(
        self, topology: Topology, at: dt.date, places: Mapping[str, Place], gw_places: Mapping[str, Place]
    ) -> None:
        self.topology = topology
        self.at = at
        self._places = places
        self._gw_places = gw_places
        self._serving = _serving_backends(topology)
        self._capable = _capable_backends(topology, self._serving)
        self._backend: dict[tuple[str, str], Decision] = {}
        self._gateway: dict[tuple[str, str], Decision] = {}
        self._index: dict[tuple[str, str, ModalitySet], tuple[str, ...]] = {}
        self._models: dict[str, tuple[str, ...]] = {}
        self._hashes = {t: policy_hash(tenant.policy) for t, tenant in topology.tenants.items()}
        self._request_leaves = {t: _request_leaves(tenant.policy) for t, tenant in topology.tenants.items()}
        self._changes = tuple(sorted(certification_dates((*places.values(), *gw_places.values()))))

    @classmethod
    def build(cls, topology: Topology, at: dt.date, laws: Mapping[str, str] = LAW_COUNTRIES) -> ComplianceMatrix:
        facts = derive_org_facts(topology.organisations, laws)
        places = {b: Place.of_backend(topology, facts, b) for b in sorted(topology.backends)}
        gw_places = {g: Place.of_gateway(topology, facts, g) for g in sorted(topology.gateways)}
        matrix = cls(topology, at, places, gw_places)
        for tenant_id in sorted(topology.tenants):
            matrix._fill(tenant_id)
        return matrix

    def _fill(self, tenant_id: str) -> None:
        policy = self.topology.tenants[tenant_id].policy
        for backend_id, place in self._places.items():
            self._backend[tenant_id, backend_id] = evaluate(policy, place, None, self.at)
        for gateway_id, place in self._gw_places.items():
            self._gateway[tenant_id, gateway_id] = evaluate(policy, place, None, self.at)
        # A request changes the decision only through the policy's models/modalities leaves: requests that make
        # those leaves hold or fail alike get the same compliant set, so evaluate once per distinct signature.
        leaves = self._request_leaves[tenant_id]
        compliant: dict[tuple[bool, ...], frozenset[str]] = {}
        for (model, modalities), capable in self._capable.items():
            signature = _signature(leaves, model, modalities)
            if signature not in compliant:
                compliant[signature] = self._compliant(tenant_id, Offering(model, modalities) if leaves else None)
            self._index[tenant_id, model, modalities] = tuple(b for b in capable if b in compliant[signature])
        reachable = (m for m in self._serving if any(self._index[tenant_id, m, s] for s in MODALITY_SETS))
        self._models[tenant_id] = tuple(sorted(reachable))

    def _compliant(self, tenant_id: str, offering: Offering | None) -> frozenset[str]:
        if offering is None:
            return frozenset(b for b in self._places if self._backend[tenant_id, b].allowed)
        policy = self.topology.tenants[tenant_id].policy
        return frozenset(b for b, place in self._places.items() if evaluate(policy, place, offering, self.at).allowed)

    def _exclusions(self, tenant_id: str, backend_id: str, model: str, modalities: ModalitySet) -> tuple[str, ...]:
        """Why ``backend_id`` cannot take this request for this tenant; empty when it can."""
        missing = modalities - self.topology.backends[backend_id].models[model].input
        lacks = (f"lacks modality {', '.join(sorted(missing))}",) if missing else ()
        return lacks + tuple(str(f) for f in self._offer_decision(tenant_id, backend_id, model, modalities).failed)

    def _offer_decision(self, tenant_id: str, backend_id: str, model: str, modalities: ModalitySet) -> Decision:
        if not self._request_leaves[tenant_id]:
            return self._backend[tenant_id, backend_id]  # the request cannot change the answer: reuse it
        policy = self.topology.tenants[tenant_id].policy
        return evaluate(policy, self._places[backend_id], Offering(model, modalities), self.at)

    # -- request time ----------------------------------------------------------------------------------------------

    def candidates(self, tenant_id: str, model: str, modalities: ModalitySet) -> tuple[str, ...]:
        """Backend ids, sorted, that are compliant for the tenant and serve ``model`` with every input modality."""
        return self._index.get((tenant_id, model, modalities), ())

    def refusals(self, tenant_id: str, model: str, modalities: ModalitySet) -> Mapping[str, tuple[str, ...]]:
        """For each backend serving ``model`` that is not a candidate: why (``"processing_in: ..."``, or
        ``"lacks modality video"``). Computed on demand: it is only needed to explain an empty candidate set."""
        if tenant_id not in self.topology.tenants:
            return _NO_REFUSALS
        found = {b: self._exclusions(tenant_id, b, model, modalities) for b in self._serving.get(model, ())}
        return MappingProxyType({b: why for b, why in found.items() if why})

    def gateway_allowed(self, tenant_id: str, gateway_id: str) -> bool:
        decision = self._gateway.get((tenant_id, gateway_id))
        return decision is not None and decision.allowed

    def compliant_gateways(self, tenant_id: str) -> tuple[str, ...]:
        return tuple(g for g in self._gw_places if self.gateway_allowed(tenant_id, g))

    def models_for(self, tenant_id: str) -> tuple[str, ...]:
        """Public model names, sorted, for which some request of this tenant has a compliant backend."""
        return self._models.get(tenant_id, ())

    # -- explanation and lifecycle ----------------------------------------------------------------------------------

    @property
    def tenants(self) -> tuple[str, ...]:
        return tuple(sorted(self.topology.tenants))

    @property
    def backends(self) -> tuple[str, ...]:
        return tuple(self._places)

    @property
    def gateways(self) -> tuple[str, ...]:
        return tuple(self._gw_places)

    def decision(self, tenant_id: str, backend_id: str) -> Decision:
        """The tenant's decision for a backend, for any request (``models``/``modalities`` taken as holding)."""
        return self._backend[tenant_id, backend_id]

    def gateway_decision(self, tenant_id: str, gateway_id: str) -> Decision:
        return self._gateway[tenant_id, gateway_id]

    def allowed_backends(self, tenant_id: str) -> tuple[str, ...]:
        return tuple(b for b in self._places if self._backend[tenant_id, b].allowed)

    def place(self, place_id: str) -> Place:
        """The resolved processing place of a backend or gateway id (what receipts and explanations describe)."""
        return self._places.get(place_id) or self._gw_places[place_id]

    def valid_until(self, at: dt.date | None = None) -> dt.date | None:
        """The first day after ``at`` (default: the day built for) on which a certification starts or has expired,
        i.e. the day this matrix must be rebuilt; None when no certification ever changes state."""
        day = self.at if at is None else at
        return next((d for d in self._changes if d > day), None)

    def policy_hash(self, tenant_id: str) -> str:
        return self._hashes[tenant_id]


def policy_hash(policy: Policy) -> str:
    """SHA-256 hex of the policy's canonical encoding: sorted keys and sets, integral numbers as integers."""
    encoded = json.dumps(
        {"regiongate_policy": 1, "policy": _canonical(policy)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _canonical(node: object) -> object:
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        fields = {f.name: _canonical(getattr(node, f.name)) for f in dataclasses.fields(node)}
        return {"predicate": str(getattr(node, "name", type(node).__name__)), **fields}
    if isinstance(node, Enum):
        return node.name.lower()  # stable whether the enum's value is an int (Evidence) or a string
    if isinstance(node, frozenset | set):
        return sorted((_canonical(v) for v in node), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(node, tuple | list):
        return [_canonical(v) for v in node]
    if isinstance(node, float) and node.is_integer():
        return int(node)  # a threshold read as 24 or 24.0 is the same policy
    return node


def _request_leaves(policy: Policy) -> tuple[Models | Modalities, ...]:
    """The predicates through which a request can change the decision (``models`` and ``modalities``)."""
    match policy:
        case AllOf(items=items) | AnyOf(items=items):
            return tuple(leaf for i in items for leaf in _request_leaves(i))
        case Not(item=item):
            return _request_leaves(item)
        case Models() | Modalities():
            return (policy,)
        case _:
            return ()


def _signature(leaves: tuple[Models | Modalities, ...], model: str, modalities: ModalitySet) -> tuple[bool, ...]:
    """Which of ``leaves`` hold for a request of ``model`` with ``modalities``."""
    return tuple(model in leaf.names if isinstance(leaf, Models) else modalities <= leaf.allowed for leaf in leaves)


def _capable_backends(
    topology: Topology, serving: Mapping[str, tuple[str, ...]]
) -> Mapping[tuple[str, ModalitySet], tuple[str, ...]]:
    """(model, input modalities) → ids of the backends serving the model with every one of those inputs."""
    return {
        (model, modalities): tuple(b for b in ids if modalities <= topology.backends[b].models[model].input)
        for model, ids in serving.items()
        for modalities in MODALITY_SETS
    }


def _serving_backends(topology: Topology) -> Mapping[str, tuple[str, ...]]:
    """Public model name → ids of the backends serving it, sorted."""
    serving: dict[str, list[str]] = {}
    for backend_id in sorted(topology.backends):
        for model in topology.backends[backend_id].models:
            serving.setdefault(model, []).append(backend_id)
    return {m: tuple(ids) for m, ids in sorted(serving.items())}
