"""Policy YAML → AST: every predicate's form, compositions, and a round trip over random trees."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regiongate.errors import ConfigError
from regiongate.policy.ast import (
    PREDICATE_NAMES,
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
from regiongate.policy.parse import PARSERS, parse_policy
from regiongate.topology.fields import Reader
from regiongate.topology.jurisdictions import BUILTIN_SETS
from regiongate.topology.laws import KNOWN_LAWS
from regiongate.topology.records import Evidence, KeyHolder, Modality
from regiongate.topology.yamlsafe import Document
from tests.topology.builders import base, parse, set_policy

READER = Reader("t.yaml", Document(None, MappingProxyType({}), MappingProxyType({})))
EU = BUILTIN_SETS["EU"]


def read(value: object) -> Policy:
    return parse_policy(READER, value, "policy")


def test_every_predicate_of_the_ast_has_a_parser() -> None:
    assert set(PARSERS) == PREDICATE_NAMES | {"all_of", "any_of", "not"}


@pytest.mark.parametrize(
    ("value", "policy"),
    [
        ({"processing_in": "EU"}, ProcessingIn(EU)),
        ({"storage_in": ["EU", "CH"]}, StorageIn(EU | {"CH"})),
        ({"operator_hq_in": ["FR"]}, OperatorHqIn(frozenset({"FR"}))),
        ({"ultimate_parent_in": "EEA"}, UltimateParentIn(BUILTIN_SETS["EEA"])),
        ({"ultimate_parent_not_in": ["CN", "RU"]}, UltimateParentNotIn(frozenset({"CN", "RU"}))),
        ({"staff_access_from": "EFTA"}, StaffAccessFrom(BUILTIN_SETS["EFTA"])),
        ({"not_exposed_to": "US_CLOUD_ACT"}, NotExposedTo(frozenset({"US_CLOUD_ACT"}))),
        ({"not_exposed_to": ["US_CLOUD_ACT", "CN_NIL_ART7"]}, NotExposedTo(KNOWN_LAWS)),
        (
            {"foreign_control": {"outside": "EU", "max_single": 24, "max_total": 39.5}},
            ForeignControl(outside=EU, max_single=24.0, max_total=39.5),
        ),
        ({"certified": {"scheme": "C5"}}, Certified(scheme="C5", min_level=None, min_evidence=Evidence.CONTRACT)),
        (
            {"certified": {"scheme": "ISO27001", "min_evidence": "self_declared"}},
            Certified(scheme="ISO27001", min_evidence=Evidence.SELF_DECLARED),
        ),
        ({"certified": {"scheme": "C5", "min_level": "type2"}}, Certified(scheme="C5", min_level="type2")),
        ({"keys_held_by": "customer"}, KeysHeldBy(KeyHolder.CUSTOMER)),
        ({"keys_held_by": "third_party"}, KeysHeldBy(KeyHolder.THIRD_PARTY)),
        ({"max_retention_days": 0}, MaxRetentionDays(0)),
        ({"zero_data_retention": True}, ZeroDataRetention()),
        ({"no_human_review": True}, NoHumanReview()),
        ({"models": ["a", "b"]}, Models(frozenset({"a", "b"}))),
        ({"modalities": ["text", "image"]}, Modalities(frozenset({Modality.TEXT, Modality.IMAGE}))),
        ({"not": {"processing_in": "CN"}}, Not(ProcessingIn(frozenset({"CN"})))),
        (
            {"any_of": [{"processing_in": "FR"}, {"all_of": [{"no_human_review": True}]}]},
            AnyOf((ProcessingIn(frozenset({"FR"})), AllOf((NoHumanReview(),)))),
        ),
    ],
)
def test_predicate_forms(value: object, policy: Policy) -> None:
    assert read(value) == policy


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ({"modalities": "text"}, "policy.modalities"),
        ({"models": "m"}, "policy.models"),
        ({"max_retention_days": 1.5}, "policy.max_retention_days"),
        ({"not": None}, "policy.not"),
        ({"not": {}}, "policy.not"),
        ({"all_of": {"processing_in": "EU"}}, "policy.all_of"),
        ({"any_of": [{"processing_in": "EU"}, []]}, "policy.any_of[1]"),
        ({"certified": {"min_level": "3"}}, "policy.certified.scheme"),
        (
            {"foreign_control": {"outside": "EU", "max_single": "24%", "max_total": 39}},
            "policy.foreign_control.max_single",
        ),
        ({5: True}, "policy.5"),
    ],
)
def test_policy_errors_name_the_path(value: object, path: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read(value)
    assert caught.value.path == path


def test_models_are_not_checked_when_a_backend_is_broken() -> None:
    doc = base()
    doc["backends"]["b-1"]["capacity"] = 0
    set_policy({"models": ["typo"]})(doc)
    with pytest.raises(ConfigError) as caught:
        parse(doc)
    assert caught.value.path == "backends.b-1.capacity"  # and no second, misleading error about 'typo'
    assert "1 more" not in str(caught.value)


CODES = st.sampled_from(["FR", "DE", "NO", "CN", "US", "BR"])
country_sets = st.frozensets(CODES, min_size=1, max_size=4)
percent = st.integers(0, 100).map(float)
leaves: st.SearchStrategy[Policy] = st.one_of(
    country_sets.map(ProcessingIn),
    country_sets.map(StorageIn),
    country_sets.map(OperatorHqIn),
    country_sets.map(UltimateParentIn),
    country_sets.map(UltimateParentNotIn),
    country_sets.map(StaffAccessFrom),
    st.frozensets(st.sampled_from(sorted(KNOWN_LAWS)), min_size=1).map(NotExposedTo),
    st.builds(ForeignControl, outside=country_sets, max_single=percent, max_total=percent),
    st.sampled_from(KeyHolder).map(KeysHeldBy),
    st.builds(
        Certified,
        scheme=st.sampled_from(["C5", "SecNumCloud"]),
        min_level=st.sampled_from([None, "2", "3.2"]),
        min_evidence=st.sampled_from(Evidence),
    ),
    st.integers(0, 3650).map(MaxRetentionDays),
    st.just(ZeroDataRetention()),
    st.just(NoHumanReview()),
    st.frozensets(st.sampled_from(["m1", "m2"]), min_size=1).map(Models),
    st.frozensets(st.sampled_from(Modality), min_size=1).map(Modalities),
)
policies = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda items: AllOf(tuple(items))),
        st.lists(inner, min_size=1, max_size=3).map(lambda items: AnyOf(tuple(items))),
        inner.map(Not),
    ),
    max_leaves=12,
)


def render(policy: Policy) -> object:
    """The YAML data of ``policy``, as a topology author would write it."""
    match policy:
        case AllOf(items) | AnyOf(items):
            return {policy.name: [render(item) for item in items]}
        case Not(item):
            return {"not": render(item)}
        case ForeignControl(outside, max_single, max_total):
            return {"foreign_control": {"outside": sorted(outside), "max_single": max_single, "max_total": max_total}}
        case Certified(scheme, min_level, min_evidence):
            spec: dict[str, object] = {"scheme": scheme, "min_evidence": min_evidence.name.lower()}
            return {"certified": spec if min_level is None else {**spec, "min_level": min_level}}
        case ZeroDataRetention() | NoHumanReview():
            return {policy.name: True}
        case KeysHeldBy(holder):
            return {"keys_held_by": holder.value}
        case MaxRetentionDays(days):
            return {"max_retention_days": days}
        case Modalities(allowed):
            return {"modalities": sorted(m.value for m in allowed)}
        case NotExposedTo(names) | Models(names):
            return {policy.name: sorted(names)}
        case _:
            return {policy.name: sorted(policy.countries)}


@given(policies)
def test_rendered_policies_parse_back_to_themselves(policy: Policy) -> None:
    assert read(render(policy)) == policy
