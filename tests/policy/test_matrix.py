"""The compliance matrix over a small hand-built world: candidates, refusals, gateways, expiry, policy hashes."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings

from regiongate.policy.ast import (
    AllOf,
    Certified,
    ForeignControl,
    MaxRetentionDays,
    Modalities,
    Models,
    NotExposedTo,
    Policy,
    ProcessingIn,
)
from regiongate.policy.evaluate import evaluate
from regiongate.policy.matrix import MODALITY_SETS, ComplianceMatrix, policy_hash
from regiongate.policy.place import Offering
from regiongate.topology.records import DataHandlingSpec, Modality, Topology
from tests.policy.strategies import policies
from tests.policy.worlds import ALL_INPUTS, CLEAN, DAY, EU, backend, cert, datacenter, org, orgs, topology

TEXT, IMAGE, VIDEO = Modality.TEXT, Modality.IMAGE, Modality.VIDEO
NONE: frozenset[Modality] = frozenset()
EU_ONLY = AllOf((ProcessingIn(EU), NotExposedTo(frozenset({"US_CLOUD_ACT"}))))
TEXT_ONLY = AllOf((ProcessingIn(EU), Modalities(frozenset({TEXT})), Models(frozenset({"m"}))))
C5 = Certified("C5", min_level="type2")


def world(extra: dict[str, Policy] | None = None) -> Topology:
    organisations = orgs(org("eu-op", "DE"), org("us-corp", "US"), org("us-de", "DE", ("us-corp", 100, 100)))
    c5 = [cert("C5", "type2", valid_until=dt.date(2027, 1, 31)), cert("C5", "type2", valid_from=dt.date(2027, 6, 1))]
    fra = datacenter("fra", "DE", "eu-op", certifications=c5)
    iad = datacenter("iad", "US", "us-corp", handling=DataHandlingSpec(retention_days=30).over(CLEAN))
    frus = datacenter("frus", "DE", "us-de")
    backends = [
        backend("fra-a", fra, {"m": ALL_INPUTS, "n": frozenset({TEXT})}),
        backend("fra-b", fra, {"m": frozenset({TEXT, IMAGE})}),
        backend("iad-a", iad),
        backend("frus-a", frus),
    ]
    tenants: dict[str, Policy] = {"eu": EU_ONLY, "text": TEXT_ONLY, "c5": C5, "month": MaxRetentionDays(30)}
    tenants.update(extra or {})
    return topology(organisations, [fra, iad, frus], backends, {"gw-fra": "fra", "gw-iad": "iad"}, tenants)


@pytest.fixture(scope="module")
def matrix() -> ComplianceMatrix:
    return ComplianceMatrix.build(world(), DAY)


def test_candidates_need_compliance_the_model_and_every_modality(matrix: ComplianceMatrix) -> None:
    assert matrix.candidates("eu", "m", frozenset({TEXT})) == ("fra-a", "fra-b")
    assert matrix.candidates("eu", "m", frozenset({TEXT, VIDEO})) == ("fra-a",)
    assert matrix.candidates("eu", "n", NONE) == ("fra-a",)
    assert matrix.candidates("month", "m", frozenset({VIDEO})) == ("fra-a", "frus-a", "iad-a")


def test_unknown_tenants_and_models_get_no_candidates(matrix: ComplianceMatrix) -> None:
    assert matrix.candidates("ghost", "m", NONE) == ()
    assert matrix.candidates("eu", "no-such-model", NONE) == ()
    assert matrix.refusals("ghost", "m", NONE) == {}


def test_refusals_say_why_each_server_of_the_model_was_excluded(matrix: ComplianceMatrix) -> None:
    assert dict(matrix.refusals("eu", "m", frozenset({VIDEO}))) == {
        "fra-b": ("lacks modality video",),
        "frus-a": ("not_exposed_to: us-de exposed to US_CLOUD_ACT via us-corp",),
        "iad-a": (
            "processing_in: datacenter country US not in {AT, BE, BG, CY, CZ, DE, ... 27 in all}",
            "not_exposed_to: us-corp exposed to US_CLOUD_ACT",
        ),
    }


def test_model_and_modality_predicates_act_per_request(matrix: ComplianceMatrix) -> None:
    assert matrix.candidates("text", "m", frozenset({TEXT})) == ("fra-a", "fra-b", "frus-a")
    assert matrix.candidates("text", "m", frozenset({TEXT, IMAGE})) == ()
    assert matrix.refusals("text", "m", frozenset({IMAGE}))["fra-a"] == ("modalities: modality image not in {text}",)
    assert matrix.candidates("text", "n", frozenset({TEXT})) == ()
    assert matrix.refusals("text", "n", NONE) == {"fra-a": ("models: model n not in {m}",)}
    assert matrix.decision("text", "fra-a").allowed  # a place decision holds for some request


def test_models_for(matrix: ComplianceMatrix) -> None:
    assert matrix.models_for("eu") == ("m", "n")
    assert matrix.models_for("text") == ("m",)
    assert matrix.models_for("ghost") == ()


def test_gateways(matrix: ComplianceMatrix) -> None:
    assert matrix.gateway_allowed("eu", "gw-fra")
    assert not matrix.gateway_allowed("eu", "gw-iad")
    assert not matrix.gateway_allowed("eu", "gw-nowhere")
    assert not matrix.gateway_allowed("ghost", "gw-fra")
    assert matrix.compliant_gateways("eu") == ("gw-fra",)
    assert matrix.compliant_gateways("month") == ("gw-fra", "gw-iad")
    assert matrix.gateway_decision("eu", "gw-iad").failed[0].predicate == "processing_in"


def test_the_index_covers_every_modality_subset() -> None:
    assert len(MODALITY_SETS) == 16
    assert len(set(MODALITY_SETS)) == 16


def test_certifications_decide_at_the_build_date_and_say_when_to_rebuild(matrix: ComplianceMatrix) -> None:
    assert matrix.allowed_backends("c5") == ("fra-a", "fra-b")
    assert matrix.valid_until() == dt.date(2027, 2, 1)  # the first day after the last valid one
    assert matrix.valid_until(dt.date(2027, 2, 1)) == dt.date(2027, 6, 1)
    assert matrix.valid_until(dt.date(2027, 6, 1)) is None
    gap = ComplianceMatrix.build(world(), dt.date(2027, 2, 1))
    assert gap.allowed_backends("c5") == ()
    assert gap.candidates("c5", "m", NONE) == ()
    assert ComplianceMatrix.build(world(), dt.date(2027, 6, 1)).allowed_backends("c5") == ("fra-a", "fra-b")


def test_policy_hash_is_canonical() -> None:
    a = ForeignControl(outside=frozenset({"FR", "DE", "IT"}), max_single=24, max_total=39.0)
    b = ForeignControl(outside=frozenset(["IT", "DE", "FR"]), max_single=24.0, max_total=39)
    assert policy_hash(a) == policy_hash(b)
    assert policy_hash(a) != policy_hash(ForeignControl(outside=frozenset({"FR", "DE"}), max_single=24, max_total=39))
    # Pinned: the hash is recorded in ledger receipts, so it must not move between runs or releases.
    assert policy_hash(C5) == "1f9f311eef6547747b73064b87b791f57d97fff2d2a076153339927f55e2721a"
    with_sets = AllOf(
        (
            ProcessingIn(frozenset({"AT", "BE", "DE", "FR", "IT", "NL", "PL"})),
            NotExposedTo(frozenset({"US_CLOUD_ACT", "CN_NIL_ART7"})),
            C5,
        )
    )
    assert policy_hash(with_sets) == "4d9fc8db2072bcd14b4ff098dac1029705d5d1522483e92f35a67e7e5024c519"


def test_policy_hash_per_tenant(matrix: ComplianceMatrix) -> None:
    assert matrix.policy_hash("c5") == policy_hash(C5)
    assert matrix.policy_hash("eu") != matrix.policy_hash("text")
    with pytest.raises(KeyError):
        matrix.policy_hash("ghost")


@settings(deadline=None, max_examples=60)
@given(policies)
def test_the_index_equals_evaluating_every_request(policy: Policy) -> None:
    """The precomputed index (one evaluation per request signature) against brute force over every request."""
    topo = world({"t": policy})
    matrix = ComplianceMatrix.build(topo, DAY)
    for model in ("m", "n"):
        for modalities in MODALITY_SETS:
            expected = tuple(
                b
                for b in sorted(topo.backends)
                if model in topo.backends[b].models
                and modalities <= topo.backends[b].models[model].input
                and evaluate(policy, matrix.place(b), Offering(model, modalities), DAY).allowed
            )
            assert matrix.candidates("t", model, modalities) == expected
            refused = set(matrix.refusals("t", model, modalities))
            assert refused.isdisjoint(expected)
            assert refused | set(expected) == {b for b in topo.backends if model in topo.backends[b].models}
