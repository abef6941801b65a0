"""Every leaf predicate, holding and failing, with the fail-closed cases of topology.md."""

from __future__ import annotations

import pytest

from regiongate.policy.ast import (
    ForeignControl,
    KeysHeldBy,
    MaxRetentionDays,
    Modalities,
    Models,
    NoHumanReview,
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
from regiongate.policy.evaluate import Decision, Failure, evaluate
from regiongate.policy.place import Offering, Place
from regiongate.topology.records import DataHandlingSpec, KeyHolder, Modality
from tests.policy.worlds import CLEAN, DAY, EU, datacenter, org, orgs, place

WORLD = orgs(
    org("eu-op", "DE"),
    org("us-corp", "US"),
    org("us-de", "DE", ("us-corp", 100, 100)),
    org("cn-group", "CN", country="KY"),
    org("cn-de", "DE", ("cn-group", 100, 100)),
    org("telco-group", "GB"),
    org("telco-de", "DE", ("telco-group", 100, 100)),
    org("fonds", "FR"),
    org("pacific", "US"),
    org("lumiere", "FR", ("fonds", 70, 70), ("pacific", 20, 20)),
    org("split", "FR", ("pacific", 20, 20), ("telco-group", 20, 20), ("fonds", 60, 60)),
    org("thirty", "FR", ("pacific", 30, 30), ("fonds", 70, 70)),
)
TEXT = frozenset({Modality.TEXT})


def at(
    service: str = "eu-op",
    facility: str | None = None,
    subprocessors: tuple[str, ...] = (),
    country: str = "DE",
    handling: DataHandlingSpec = CLEAN,
) -> Place:
    return place(WORLD, datacenter("dc", country, service, facility, subprocessors, handling=handling))


def decide(policy: Policy, where: Place, offering: Offering | None = None) -> Decision:
    return evaluate(policy, where, offering, DAY)


def only_failure(policy: Policy, where: Place, offering: Offering | None = None) -> Failure:
    decision = decide(policy, where, offering)
    assert not decision.allowed
    assert len(decision.failed) == 1
    return decision.failed[0]


def test_processing_in() -> None:
    assert decide(ProcessingIn(EU), at()).allowed
    failure = only_failure(ProcessingIn(frozenset({"FR", "DE"})), at(country="US"))
    assert str(failure) == "processing_in: datacenter country US not in {DE, FR}"


def test_long_sets_are_abbreviated_in_reasons() -> None:
    reason = only_failure(ProcessingIn(EU), at(country="US")).reason
    assert reason == "datacenter country US not in {AT, BE, BG, CY, CZ, DE, ... 27 in all}"


def test_storage_in_defaults_to_the_datacenter_country() -> None:
    assert decide(StorageIn(frozenset({"DE"})), at()).allowed
    assert not decide(StorageIn(frozenset({"FR"})), at()).allowed


def test_storage_in_needs_every_storage_country() -> None:
    where = at(handling=DataHandlingSpec(storage_in=frozenset({"DE", "US"})).over(CLEAN))
    assert only_failure(StorageIn(EU), where).reason.startswith("b stores data in US not in")
    assert decide(StorageIn(EU | {"US"}), where).allowed


def test_staff_access_from() -> None:
    assert decide(StaffAccessFrom(frozenset({"DE"})), at()).allowed  # default: the datacenter's country
    where = at(handling=DataHandlingSpec(staff_access_from=frozenset({"DE", "IE", "US"})).over(CLEAN))
    assert only_failure(StaffAccessFrom(EU), where).reason.startswith("b staff access from US not in")


def test_operator_hq_in_checks_every_party() -> None:
    assert decide(OperatorHqIn(EU), at("eu-op", "lumiere", ("us-de",))).allowed  # us-de's own hq is DE
    failure = only_failure(OperatorHqIn(EU), at("eu-op", "us-corp"))
    assert failure.reason.startswith("us-corp hq US not in")


def test_ultimate_parent_in_fails_on_a_foreign_facility_operator_alone() -> None:
    assert decide(UltimateParentIn(EU), at("eu-op", "lumiere")).allowed
    failure = only_failure(UltimateParentIn(EU), at("eu-op", "us-de"))
    assert failure.reason.startswith("us-corp hq US not in")


def test_ultimate_parent_not_in() -> None:
    refused = frozenset({"CN"})
    assert decide(UltimateParentNotIn(refused), at("eu-op", "us-de")).allowed
    assert str(only_failure(UltimateParentNotIn(refused), at("cn-de"))) == "ultimate_parent_not_in: cn-group hq CN"


def test_not_exposed_to_fails_on_a_subprocessor_or_facility_operator() -> None:
    laws = NotExposedTo(frozenset({"US_CLOUD_ACT", "CN_NIL_ART7"}))
    assert decide(laws, at("eu-op", "telco-de", ("lumiere",))).allowed  # GB parent, 20% US minority
    assert only_failure(laws, at("eu-op", "us-de")).reason == "us-de exposed to US_CLOUD_ACT via us-corp"
    assert only_failure(laws, at("eu-op", None, ("cn-de",))).reason == "cn-de exposed to CN_NIL_ART7 via cn-group"
    assert only_failure(laws, at("us-corp")).reason == "us-corp exposed to US_CLOUD_ACT"


def test_not_exposed_to_ignores_unlisted_laws() -> None:
    assert decide(NotExposedTo(frozenset({"CN_NIL_ART7"})), at("us-de")).allowed


SECNUMCLOUD = ForeignControl(outside=EU, max_single=24, max_total=39)


def test_foreign_control_accepts_a_20_percent_us_minority() -> None:
    assert decide(SECNUMCLOUD, at("lumiere")).allowed


def test_foreign_control_single_and_total_limits() -> None:
    assert only_failure(SECNUMCLOUD, at("thirty")).reason == "thirty: pacific (US) holds 30% > 24"
    # 20% US + 20% GB: each under 24, together over 39.
    assert only_failure(SECNUMCLOUD, at("split")).reason == "split: foreign total 40% > 39"
    assert decide(ForeignControl(outside=EU, max_single=24, max_total=40), at("split")).allowed
    assert not decide(ForeignControl(outside=EU, max_single=19.5, max_total=100), at("lumiere")).allowed


def test_foreign_control_holds_for_every_party() -> None:
    assert not decide(SECNUMCLOUD, at("lumiere", "telco-de")).allowed  # the building's owner is GB-held


def test_keys_held_by() -> None:
    customer = KeysHeldBy(KeyHolder.CUSTOMER)
    assert decide(customer, at()).allowed
    operator = at(handling=DataHandlingSpec(keys_held_by=KeyHolder.OPERATOR).over(CLEAN))
    assert only_failure(customer, operator).reason == "b keys held by operator, not customer"
    assert only_failure(customer, at(handling=DataHandlingSpec())).reason == "b keys_held_by undeclared"


@pytest.mark.parametrize(("days", "limit", "allowed"), [(0, 0, True), (7, 7, True), (8, 7, False), (30, 30, True)])
def test_max_retention_days(days: int, limit: int, allowed: bool) -> None:
    where = at(handling=DataHandlingSpec(retention_days=days))
    assert decide(MaxRetentionDays(limit), where).allowed is allowed


def test_max_retention_days_reasons() -> None:
    where = at(handling=DataHandlingSpec(retention_days=30))
    assert str(only_failure(MaxRetentionDays(7), where)) == "max_retention_days: b keeps 30 days > 7"
    undeclared = only_failure(MaxRetentionDays(365), at(handling=DataHandlingSpec()))
    assert undeclared.reason == "b retention_days undeclared"


def test_a_backend_term_overrides_its_datacenter() -> None:
    dc = datacenter("dc", "DE", "eu-op", handling=DataHandlingSpec(retention_days=30))
    assert decide(MaxRetentionDays(0), place(WORLD, dc, DataHandlingSpec(retention_days=0))).allowed
    assert not decide(MaxRetentionDays(0), place(WORLD, dc)).allowed


@pytest.mark.parametrize(
    ("handling", "reason"),
    [
        (DataHandlingSpec(retention_days=0, abuse_logging=False), None),
        (DataHandlingSpec(retention_days=1, abuse_logging=False), "b keeps 1 days"),
        (DataHandlingSpec(retention_days=0, abuse_logging=True), "b keeps abuse logs"),
        (DataHandlingSpec(retention_days=0), "b abuse_logging undeclared"),
        (DataHandlingSpec(abuse_logging=False), "b retention_days undeclared"),
        (DataHandlingSpec(), "b retention_days undeclared; b abuse_logging undeclared"),
    ],
)
def test_zero_data_retention(handling: DataHandlingSpec, reason: str | None) -> None:
    decision = decide(ZeroDataRetention(), at(handling=handling))
    assert [f.reason for f in decision.failed] == ([reason] if reason else [])


@pytest.mark.parametrize(
    ("human_review", "reason"), [(False, None), (True, "b has human review"), (None, "b human_review undeclared")]
)
def test_no_human_review(human_review: bool | None, reason: str | None) -> None:
    decision = decide(NoHumanReview(), at(handling=DataHandlingSpec(human_review=human_review)))
    assert [f.reason for f in decision.failed] == ([reason] if reason else [])


def test_models_restrict_requests_not_places() -> None:
    models = Models(frozenset({"qwen3-omni"}))
    assert decide(models, at()).allowed
    assert decide(models, at(), Offering("qwen3-omni", TEXT)).allowed
    assert only_failure(models, at(), Offering("llama", TEXT)).reason == "model llama not in {qwen3-omni}"


def test_modalities_restrict_requests_not_places() -> None:
    allowed = Modalities(frozenset({Modality.TEXT, Modality.IMAGE}))
    assert decide(allowed, at()).allowed
    assert decide(allowed, at(), Offering("m", frozenset({Modality.IMAGE}))).allowed
    asked = Offering("m", frozenset({Modality.TEXT, Modality.VIDEO, Modality.AUDIO}))
    assert only_failure(allowed, at(), asked).reason == "modality audio, video not in {image, text}"
