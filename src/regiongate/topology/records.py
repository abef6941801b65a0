"""The world model: frozen, typed records built once by :mod:`regiongate.topology.loader`.

Records hold only valid values (the loader refuses anything else), so the rest of the code never re-checks them.
Country codes are ISO 3166-1 alpha-2 strings, upper case; sets of them are already expanded (no set names left).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from regiongate.policy.ast import Policy

Countries = frozenset[str]


class Modality(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"


class Engine(StrEnum):
    OPENAI = "openai"  # vLLM, SGLang, llama.cpp server, Ollama, TGI: anything OpenAI-compatible
    EMBEDDED = "embedded"  # regiongate's own engine process (still reached over the OpenAI protocol)


class Evidence(IntEnum):
    """How a certification is known; ordered so that ``>=`` means "at least as strong"."""

    SELF_DECLARED = 0
    CONTRACT = 1
    AUDIT = 2


class KeyHolder(StrEnum):
    CUSTOMER = "customer"
    OPERATOR = "operator"
    THIRD_PARTY = "third_party"


@dataclass(frozen=True, slots=True)
class ParentLink:
    org: str
    capital: float  # percent, 0-100
    voting: float  # percent, 0-100


@dataclass(frozen=True, slots=True)
class Organisation:
    id: str
    name: str
    country: str  # registered office
    hq: str
    parents: tuple[ParentLink, ...] = ()
    lei: str | None = None


@dataclass(frozen=True, slots=True)
class Certification:
    scheme: str
    evidence: Evidence
    level: str | None = None
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None

    def valid_at(self, day: dt.date) -> bool:
        if self.valid_from is not None and day < self.valid_from:
            return False
        return not (self.valid_until is not None and day > self.valid_until)


@dataclass(frozen=True, slots=True)
class DataHandlingSpec:
    """Data-handling terms as declared on a datacenter or a backend: ``None`` means "not declared here"."""

    retention_days: int | None = None
    abuse_logging: bool | None = None
    human_review: bool | None = None
    storage_in: Countries | None = None
    staff_access_from: Countries | None = None
    keys_held_by: KeyHolder | None = None

    def over(self, base: DataHandlingSpec) -> DataHandlingSpec:
        """These terms, falling back key by key to ``base`` (a backend's terms over its datacenter's)."""
        return DataHandlingSpec(
            retention_days=self.retention_days if self.retention_days is not None else base.retention_days,
            abuse_logging=self.abuse_logging if self.abuse_logging is not None else base.abuse_logging,
            human_review=self.human_review if self.human_review is not None else base.human_review,
            storage_in=self.storage_in if self.storage_in is not None else base.storage_in,
            staff_access_from=(
                self.staff_access_from if self.staff_access_from is not None else base.staff_access_from
            ),
            keys_held_by=self.keys_held_by if self.keys_held_by is not None else base.keys_held_by,
        )


@dataclass(frozen=True, slots=True)
class DataHandling:
    """Effective terms of a processing place. Undeclared terms stay ``None`` so predicates on them fail closed."""

    storage_in: Countries
    staff_access_from: Countries
    retention_days: int | None = None
    abuse_logging: bool | None = None
    human_review: bool | None = None
    keys_held_by: KeyHolder | None = None

    @classmethod
    def resolve(cls, spec: DataHandlingSpec, country: str) -> DataHandling:
        """Apply the defaults of ``topology.md``: storage and staff access default to the datacenter's country."""
        return cls(
            storage_in=spec.storage_in if spec.storage_in is not None else frozenset({country}),
            staff_access_from=(
                spec.staff_access_from if spec.staff_access_from is not None else frozenset({country})
            ),
            retention_days=spec.retention_days,
            abuse_logging=spec.abuse_logging,
            human_review=spec.human_review,
            keys_held_by=spec.keys_held_by,
        )


@dataclass(frozen=True, slots=True)
class Datacenter:
    id: str
    region: str
    country: str
    city: str
    facility_operator: str
    service_operator: str
    subprocessors: tuple[str, ...] = ()
    certifications: tuple[Certification, ...] = ()
    data_handling: DataHandlingSpec = field(default_factory=DataHandlingSpec)

    @property
    def parties(self) -> tuple[str, ...]:
        """Every organisation that can touch data here: physical access counts (fail-closed)."""
        seen: dict[str, None] = dict.fromkeys((self.service_operator, self.facility_operator, *self.subprocessors))
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class Accelerator:
    vendor: str
    model: str
    count: int


@dataclass(frozen=True, slots=True)
class ServedModel:
    public_name: str
    served_as: str  # the backend's own name for it (defaults to the public name)
    input: frozenset[Modality]
    output: frozenset[Modality]
    weights_digest: str | None = None
    # How the gateway prepares media for this model (``regiongate.media.profiles``) and writes it on the wire
    # (``regiongate.media.dialects``): the model's own declaration, else its backend's, else these defaults.
    media_profile: str = "passthrough"
    dialect: str = "openai"


@dataclass(frozen=True, slots=True)
class Backend:
    id: str
    datacenter: str
    engine: Engine
    accelerator: Accelerator
    capacity: float  # relative throughput, > 0
    models: Mapping[str, ServedModel]
    data_handling: DataHandling  # effective: the backend's terms over its datacenter's, defaults applied
    url: str | None = None  # base URL ending in /v1; required for engine openai
    max_concurrency: int | None = None
    model_path: str | None = None  # embedded engine: a local GGUF file
    media_profile: str = "passthrough"  # the default of its models (each ServedModel holds the effective one)
    dialect: str = "openai"


@dataclass(frozen=True, slots=True)
class Gateway:
    id: str
    datacenter: str
    url: str


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    key_hashes: tuple[bytes, ...]  # raw SHA-256 digests of the tenant's API keys
    policy: Policy


@dataclass(frozen=True, slots=True)
class Topology:
    source: str  # the file it was loaded from, for messages
    jurisdiction_sets: Mapping[str, Countries]  # built-ins and the file's own, fully expanded
    organisations: Mapping[str, Organisation]
    datacenters: Mapping[str, Datacenter]
    backends: Mapping[str, Backend]
    gateways: Mapping[str, Gateway]
    tenants: Mapping[str, Tenant]

    def gateway_data_handling(self, gateway: Gateway) -> DataHandling:
        """A gateway handles payloads too; its terms are its datacenter's."""
        dc = self.datacenters[gateway.datacenter]
        return DataHandling.resolve(dc.data_handling, dc.country)
