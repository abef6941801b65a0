"""A tenant's policy: YAML → :mod:`regiongate.policy.ast`.

A policy node is a mapping with exactly one key, a predicate or a composition. Anything else is an error naming
its path (``tenants.de-bank.policy.all_of[1].not_exposed_to[0]``): a typo in a sovereignty policy must never be
ignored, and an empty policy must never mean "allow everything".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from regiongate.policy.ast import (
    AllOf,
    AnyOf,
    Certified,
    ForeignControl,
    KeysHeldBy,
    MaxRetentionDays,
    Modalities,
    Models,
    NoHumanReview,
    Not,
    NotExposedTo,
    OperatorHqIn,
    Policy,
    ProcessingIn,
    StaffAccessFrom,
    StorageIn,
    UltimateParentIn,
    UltimateParentNotIn,
    ZeroDataRetention,
)
from regiongate.topology.fields import Reader, suggest
from regiongate.topology.laws import KNOWN_LAWS
from regiongate.topology.places import EVIDENCE, KEY_HOLDERS, MODALITIES
from regiongate.topology.records import Countries, Evidence
from regiongate.topology.yamlsafe import join

Parse = Callable[[Reader, object, str], Policy]


def parse_policy(reader: Reader, value: object, path: str) -> Policy:
    """The policy tree of ``value``, found at ``path`` (e.g. ``tenants.de-bank.policy``)."""
    if value is None:
        raise reader.error(path, "missing policy: write the predicates that must hold (nothing is allowed by default)")
    if not isinstance(value, dict):
        raise reader.expected(path, "a policy: a mapping with one predicate, all_of, any_of or not", value)
    if not value:
        raise reader.error(path, "empty policy: it would allow everything; write the predicates that must hold")
    if len(value) > 1:
        keys = ", ".join(sorted(map(str, value)))
        raise reader.error(path, f"a policy node has exactly one key, found {keys}: combine them under all_of")
    ((name, argument),) = value.items()
    parse = PARSERS.get(name) if isinstance(name, str) else None
    if parse is None:
        raise reader.error(join(path, name), f"unknown predicate{suggest(str(name), PARSERS)}")
    return parse(reader, argument, join(path, name))


def _items(reader: Reader, value: object, path: str) -> tuple[Policy, ...]:
    return tuple(reader.items(value, path, lambda v, p: parse_policy(reader, v, p)))


def _all_of(reader: Reader, value: object, path: str) -> Policy:
    return AllOf(_items(reader, value, path))


def _any_of(reader: Reader, value: object, path: str) -> Policy:
    return AnyOf(_items(reader, value, path))


def _not(reader: Reader, value: object, path: str) -> Policy:
    return Not(parse_policy(reader, value, path))


def _country_set(make: Callable[[Countries], Policy]) -> Parse:
    def parse(reader: Reader, value: object, path: str) -> Policy:
        return make(reader.countries(value, path))

    return parse


def _flag(make: Callable[[], Policy]) -> Parse:
    """``zero_data_retention: true``-style predicates: ``false`` would read as a negation, which it is not."""

    def parse(reader: Reader, value: object, path: str) -> Policy:
        if reader.boolean(value, path) is False:
            raise reader.error(path, "only 'true' is meaningful here; to require the opposite, use 'not:'")
        return make()

    return parse


def _not_exposed_to(reader: Reader, value: object, path: str) -> Policy:
    def law(v: object, p: str) -> str:
        name = reader.string(v, p)
        if name not in KNOWN_LAWS:
            known = ", ".join(sorted(KNOWN_LAWS))
            raise reader.error(p, f"unknown law {name!r}{suggest(name, KNOWN_LAWS)} (known: {known})")
        return name

    laws = [law(value, path)] if isinstance(value, str) else reader.items(value, path, law)
    return NotExposedTo(frozenset(laws))


def _foreign_control(reader: Reader, value: object, path: str) -> Policy:
    f = reader.fields(value, path, ("outside", "max_single", "max_total"))
    return ForeignControl(
        outside=f.get("outside", reader.countries),
        max_single=f.get("max_single", reader.percent),
        max_total=f.get("max_total", reader.percent),
    )


def _certified(reader: Reader, value: object, path: str) -> Policy:
    f = reader.fields(value, path, ("scheme",), ("min_level", "min_evidence"))
    evidence = f.opt("min_evidence", lambda v, p: reader.choice(v, p, EVIDENCE))
    return Certified(
        scheme=f.get("scheme", lambda v, p: _scheme(reader, v, p)),
        min_level=f.opt("min_level", reader.level),
        min_evidence=Evidence.CONTRACT if evidence is None else evidence,
    )


def _scheme(reader: Reader, value: object, path: str) -> str:
    scheme = reader.string(value, path)
    if reader.schemes is not None and scheme not in reader.schemes:
        known = ", ".join(sorted(reader.schemes))
        raise reader.error(
            path, f"unknown certification scheme {scheme!r}{suggest(scheme, reader.schemes)} (known: {known})"
        )
    return scheme


def _keys_held_by(reader: Reader, value: object, path: str) -> Policy:
    return KeysHeldBy(reader.choice(value, path, KEY_HOLDERS))


def _max_retention_days(reader: Reader, value: object, path: str) -> Policy:
    return MaxRetentionDays(reader.integer(value, path, minimum=0))


def _models(reader: Reader, value: object, path: str) -> Policy:
    def name(v: object, p: str) -> str:
        model = reader.string(v, p)
        if reader.models is not None and model not in reader.models:
            raise reader.error(p, f"no backend serves a model named {model!r}{suggest(model, reader.models)}")
        return model

    return Models(frozenset(reader.items(value, path, name)))


def _modalities(reader: Reader, value: object, path: str) -> Policy:
    if isinstance(value, str):
        raise reader.expected(path, "a list of modalities", value)
    return Modalities(frozenset(reader.items(value, path, lambda v, p: reader.choice(v, p, MODALITIES))))


PARSERS: Mapping[str, Parse] = MappingProxyType(
    {
        "all_of": _all_of,
        "any_of": _any_of,
        "not": _not,
        "processing_in": _country_set(ProcessingIn),
        "storage_in": _country_set(StorageIn),
        "operator_hq_in": _country_set(OperatorHqIn),
        "ultimate_parent_in": _country_set(UltimateParentIn),
        "ultimate_parent_not_in": _country_set(UltimateParentNotIn),
        "staff_access_from": _country_set(StaffAccessFrom),
        "not_exposed_to": _not_exposed_to,
        "foreign_control": _foreign_control,
        "certified": _certified,
        "keys_held_by": _keys_held_by,
        "max_retention_days": _max_retention_days,
        "zero_data_retention": _flag(ZeroDataRetention),
        "no_human_review": _flag(NoHumanReview),
        "models": _models,
        "modalities": _modalities,
    }
)
