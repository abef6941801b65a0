"""A tenant's sovereignty policy as a tree of frozen values.

The loader (:mod:`regiongate.topology.loader`) builds these from YAML; :mod:`regiongate.policy.evaluate` decides
them. Compositions are never empty (the loader refuses that), so there is no "allow everything" policy.
Every country set is already expanded to ISO 3166-1 alpha-2 codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from regiongate.topology.records import Countries, Evidence, KeyHolder, Modality


@dataclass(frozen=True, slots=True)
class ProcessingIn:
    countries: Countries
    name = "processing_in"


@dataclass(frozen=True, slots=True)
class StorageIn:
    countries: Countries
    name = "storage_in"


@dataclass(frozen=True, slots=True)
class OperatorHqIn:
    countries: Countries
    name = "operator_hq_in"


@dataclass(frozen=True, slots=True)
class UltimateParentIn:
    countries: Countries
    name = "ultimate_parent_in"


@dataclass(frozen=True, slots=True)
class UltimateParentNotIn:
    countries: Countries
    name = "ultimate_parent_not_in"


@dataclass(frozen=True, slots=True)
class NotExposedTo:
    laws: frozenset[str]
    name = "not_exposed_to"


@dataclass(frozen=True, slots=True)
class ForeignControl:
    outside: Countries  # ancestors whose hq is NOT in this set are foreign
    max_single: float
    max_total: float
    name = "foreign_control"


@dataclass(frozen=True, slots=True)
class StaffAccessFrom:
    countries: Countries
    name = "staff_access_from"


@dataclass(frozen=True, slots=True)
class KeysHeldBy:
    holder: KeyHolder
    name = "keys_held_by"


@dataclass(frozen=True, slots=True)
class Certified:
    scheme: str
    min_level: str | None = None
    min_evidence: Evidence = Evidence.CONTRACT
    name = "certified"


@dataclass(frozen=True, slots=True)
class MaxRetentionDays:
    days: int
    name = "max_retention_days"


@dataclass(frozen=True, slots=True)
class ZeroDataRetention:
    name = "zero_data_retention"


@dataclass(frozen=True, slots=True)
class NoHumanReview:
    name = "no_human_review"


@dataclass(frozen=True, slots=True)
class Models:
    """Which public model names the tenant may use. Not about a place: holds at a gateway."""

    names: frozenset[str]
    name = "models"


@dataclass(frozen=True, slots=True)
class Modalities:
    """Which input modalities the tenant may send. Not about a place: holds at a gateway."""

    allowed: frozenset[Modality]
    name = "modalities"


Predicate = (
    ProcessingIn
    | StorageIn
    | OperatorHqIn
    | UltimateParentIn
    | UltimateParentNotIn
    | NotExposedTo
    | ForeignControl
    | StaffAccessFrom
    | KeysHeldBy
    | Certified
    | MaxRetentionDays
    | ZeroDataRetention
    | NoHumanReview
    | Models
    | Modalities
)


@dataclass(frozen=True, slots=True)
class AllOf:
    items: tuple[Policy, ...]  # never empty
    name = "all_of"


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Policy, ...]  # never empty
    name = "any_of"


@dataclass(frozen=True, slots=True)
class Not:
    item: Policy
    name = "not"


Policy = Predicate | AllOf | AnyOf | Not

PREDICATE_NAMES: frozenset[str] = frozenset(
    {
        "processing_in",
        "storage_in",
        "operator_hq_in",
        "ultimate_parent_in",
        "ultimate_parent_not_in",
        "not_exposed_to",
        "foreign_control",
        "staff_access_from",
        "keys_held_by",
        "certified",
        "max_retention_days",
        "zero_data_retention",
        "no_human_review",
        "models",
        "modalities",
    }
)
