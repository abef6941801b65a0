"""Who and what stands behind a backend, in words: datacenter, city, operators and their ultimate parents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from regiongate.policy.ownership import OrgFacts, derive_org_facts
from regiongate.topology.records import Topology


@dataclass(frozen=True, slots=True)
class PlaceInfo:
    backend: str
    datacenter: str
    city: str
    country: str
    service_operator: str  # "Alibaba Cloud (Germany) GmbH ⇒ Alibaba Group Holding Ltd (CN)"
    facility_operator: str
    accelerator: str  # "8× nvidia H200"


class Places:
    """Describes the backends of one topology. Control follows the topology's >50% voting parents."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.facts: Mapping[str, OrgFacts] = derive_org_facts(topology.organisations)

    def organisation(self, org_id: str) -> str:
        """The organisation's name and, when someone controls it, its ultimate parent and that parent's hq."""
        org = self.topology.organisations[org_id]
        facts = self.facts[org_id]
        if facts.ultimate_parent == org_id:
            return f"{org.name} ({org.hq})"
        top = self.topology.organisations[facts.ultimate_parent]
        return f"{org.name} ⇒ {top.name} ({top.hq})"

    def ultimate_parent(self, org_id: str) -> str:
        return self.facts[org_id].ultimate_parent

    def backend(self, backend_id: str) -> PlaceInfo:
        backend = self.topology.backends[backend_id]
        dc = self.topology.datacenters[backend.datacenter]
        acc = backend.accelerator
        return PlaceInfo(
            backend=backend_id,
            datacenter=dc.id,
            city=dc.city,
            country=dc.country,
            service_operator=self.organisation(dc.service_operator),
            facility_operator=self.organisation(dc.facility_operator),
            accelerator=f"{acc.count}× {acc.vendor} {acc.model}",
        )
