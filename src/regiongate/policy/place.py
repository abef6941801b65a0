"""Processing places: what a policy is evaluated against.

A place is a backend (its datacenter, with the backend's effective data handling) or a gateway (its datacenter,
with the datacenter's data handling: a gateway process handles payloads too). Everything a predicate needs is
resolved here, once, so evaluation never looks anything up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from regiongate.policy.ownership import OrgFacts
from regiongate.topology.records import Certification, DataHandling, Modality, Topology


class PlaceKind(StrEnum):
    BACKEND = "backend"
    GATEWAY = "gateway"


@dataclass(frozen=True, slots=True)
class Place:
    kind: PlaceKind
    id: str  # the backend or gateway id
    datacenter: str
    country: str  # where processing happens: the datacenter's country
    parties: tuple[OrgFacts, ...]  # service operator, facility operator, subprocessors (deduplicated, in that order)
    data_handling: DataHandling
    certifications: tuple[Certification, ...]  # the datacenter's

    @classmethod
    def of_backend(cls, topology: Topology, facts: Mapping[str, OrgFacts], backend_id: str) -> Place:
        backend = topology.backends[backend_id]
        return cls._at(topology, facts, PlaceKind.BACKEND, backend_id, backend.datacenter, backend.data_handling)

    @classmethod
    def of_gateway(cls, topology: Topology, facts: Mapping[str, OrgFacts], gateway_id: str) -> Place:
        gateway = topology.gateways[gateway_id]
        handling = topology.gateway_data_handling(gateway)
        return cls._at(topology, facts, PlaceKind.GATEWAY, gateway_id, gateway.datacenter, handling)

    @classmethod
    def _at(
        cls,
        topology: Topology,
        facts: Mapping[str, OrgFacts],
        kind: PlaceKind,
        place_id: str,
        datacenter_id: str,
        handling: DataHandling,
    ) -> Place:
        dc = topology.datacenters[datacenter_id]
        return cls(
            kind=kind,
            id=place_id,
            datacenter=dc.id,
            country=dc.country,
            parties=tuple(facts[org] for org in dc.parties),
            data_handling=handling,
            certifications=dc.certifications,
        )


@dataclass(frozen=True, slots=True)
class Offering:
    """What a request asks of a place: a public model name and the input modalities it carries."""

    model: str
    modalities: frozenset[Modality]


def certification_dates(places: tuple[Place, ...]) -> frozenset[dt.date]:
    """Every date on which some certification of these places becomes valid or stops being valid.

    A certification valid until D (inclusive) is first invalid on D + 1 day; one valid from D is first valid on D.
    """
    dates: set[dt.date] = set()
    for place in places:
        for cert in place.certifications:
            if cert.valid_from is not None:
                dates.add(cert.valid_from)
            if cert.valid_until is not None and cert.valid_until < dt.date.max:
                dates.add(cert.valid_until + dt.timedelta(days=1))
    return frozenset(dates)
