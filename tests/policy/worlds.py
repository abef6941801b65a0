"""Small hand-built worlds for the policy tests: records made directly, no loader, no files."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from regiongate.policy.ast import Policy
from regiongate.policy.ownership import derive_org_facts
from regiongate.policy.place import Place
from regiongate.topology.records import (
    Accelerator,
    Backend,
    Certification,
    Datacenter,
    DataHandling,
    DataHandlingSpec,
    Engine,
    Evidence,
    Gateway,
    KeyHolder,
    Modality,
    Organisation,
    ParentLink,
    ServedModel,
    Tenant,
    Topology,
)

DAY = dt.date(2026, 11, 24)
# The 27 member states, written out: these tests must not depend on the loader's set tables.
EU = frozenset(
    (
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    )
)
ALL_INPUTS = frozenset(Modality)
# Every term declared, nothing kept, nobody reads it: the baseline the data-handling tests vary.
CLEAN = DataHandlingSpec(retention_days=0, abuse_logging=False, human_review=False, keys_held_by=KeyHolder.CUSTOMER)


def org(org_id: str, hq: str, *parents: tuple[str, float, float], country: str | None = None) -> Organisation:
    """An organisation; each parent is ``(org, capital %, voting %)``."""
    links = tuple(ParentLink(o, capital, voting) for o, capital, voting in parents)
    return Organisation(id=org_id, name=org_id.title(), country=country or hq, hq=hq, parents=links)


def orgs(*items: Organisation) -> dict[str, Organisation]:
    return {o.id: o for o in items}


def cert(
    scheme: str,
    level: str | None = None,
    evidence: Evidence = Evidence.AUDIT,
    valid_from: dt.date | None = None,
    valid_until: dt.date | None = None,
) -> Certification:
    return Certification(scheme, evidence, level, valid_from, valid_until)


def datacenter(
    dc_id: str,
    country: str,
    service: str,
    facility: str | None = None,
    subprocessors: Iterable[str] = (),
    certifications: Iterable[Certification] = (),
    handling: DataHandlingSpec = CLEAN,
) -> Datacenter:
    return Datacenter(
        id=dc_id,
        region=f"region-{country.lower()}",
        country=country,
        city="City",
        facility_operator=facility or service,
        service_operator=service,
        subprocessors=tuple(subprocessors),
        certifications=tuple(certifications),
        data_handling=handling,
    )


def place(organisations: Mapping[str, Organisation], dc: Datacenter, handling: DataHandlingSpec | None = None) -> Place:
    """A backend place at ``dc``; ``handling`` is the backend's own terms over the datacenter's."""
    world = topology(organisations, [dc], [backend("b", dc, handling=handling)])
    return Place.of_backend(world, derive_org_facts(organisations), "b")


def backend(
    backend_id: str,
    dc: Datacenter,
    models: Mapping[str, frozenset[Modality]] | None = None,
    handling: DataHandlingSpec | None = None,
) -> Backend:
    served = {
        name: ServedModel(name, name, inputs, frozenset({Modality.TEXT}))
        for name, inputs in (models or {"m": ALL_INPUTS}).items()
    }
    spec = (handling or DataHandlingSpec()).over(dc.data_handling)
    return Backend(
        id=backend_id,
        datacenter=dc.id,
        engine=Engine.OPENAI,
        accelerator=Accelerator("nvidia", "H100", 1),
        capacity=1.0,
        models=served,
        data_handling=DataHandling.resolve(spec, dc.country),
        url=f"http://127.0.0.1:1/{backend_id}/v1",
    )


def topology(
    organisations: Mapping[str, Organisation],
    datacenters: Iterable[Datacenter],
    backends: Iterable[Backend],
    gateways: Mapping[str, str] | None = None,
    tenants: Mapping[str, Policy] | None = None,
) -> Topology:
    """A topology; ``gateways`` maps gateway id → datacenter id, ``tenants`` tenant id → policy."""
    return Topology(
        source="<test>",
        jurisdiction_sets={"EU": EU},
        organisations=dict(organisations),
        datacenters={d.id: d for d in datacenters},
        backends={b.id: b for b in backends},
        gateways={g: Gateway(g, dc, f"http://127.0.0.1:2/{g}/v1") for g, dc in (gateways or {}).items()},
        tenants={t: Tenant(t, (bytes(32),), p) for t, p in (tenants or {}).items()},
    )
