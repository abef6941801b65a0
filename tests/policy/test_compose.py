"""``all_of``, ``any_of`` and ``not``: what they decide and the failures they report."""

from __future__ import annotations

from regiongate.policy.ast import AllOf, AnyOf, MaxRetentionDays, NoHumanReview, Not, ProcessingIn, ZeroDataRetention
from regiongate.policy.evaluate import Failure, evaluate, render
from regiongate.policy.place import Place
from regiongate.topology.records import DataHandlingSpec
from tests.policy.worlds import DAY, datacenter, org, orgs, place

KEEPS_30 = DataHandlingSpec(retention_days=30, abuse_logging=True, human_review=True)
IN_US = ProcessingIn(frozenset({"US"}))
IN_DE = ProcessingIn(frozenset({"DE"}))


def us_place() -> Place:
    return place(orgs(org("op", "US")), datacenter("iad", "US", "op", handling=KEEPS_30))


def test_all_of_fails_with_the_union_of_its_children_failures() -> None:
    decision = evaluate(AllOf((IN_DE, MaxRetentionDays(7), IN_US, NoHumanReview())), us_place(), None, DAY)
    assert not decision.allowed
    assert [f.predicate for f in decision.failed] == ["processing_in", "max_retention_days", "no_human_review"]


def test_all_of_reports_a_repeated_failure_once() -> None:
    decision = evaluate(AllOf((IN_DE, AllOf((IN_DE,)))), us_place(), None, DAY)
    assert decision.failed == (Failure("processing_in", "datacenter country US not in {DE}"),)


def test_any_of_holds_when_one_child_holds() -> None:
    assert evaluate(AnyOf((IN_DE, IN_US)), us_place(), None, DAY).allowed


def test_any_of_fails_listing_every_child_failure() -> None:
    decision = evaluate(AnyOf((IN_DE, ZeroDataRetention())), us_place(), None, DAY)
    assert [str(f) for f in decision.failed] == [
        "processing_in: datacenter country US not in {DE}",
        "zero_data_retention: b keeps 30 days; b keeps abuse logs",
    ]


def test_not_inverts_and_names_what_held() -> None:
    assert evaluate(Not(IN_DE), us_place(), None, DAY).allowed
    decision = evaluate(Not(IN_US), us_place(), None, DAY)
    assert decision.failed == (Failure("not", "not(processing_in)"),)


def test_not_of_a_composition_renders_the_tree() -> None:
    policy = Not(AnyOf((IN_US, Not(NoHumanReview()))))
    assert render(policy) == "not(any_of(processing_in, not(no_human_review)))"
    assert [f.reason for f in evaluate(policy, us_place(), None, DAY).failed] == [
        "not(any_of(processing_in, not(no_human_review)))"
    ]
