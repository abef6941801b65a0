"""Properties of the pure core over random worlds, places and policy trees."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from regiongate.policy import ast
from regiongate.policy.evaluate import evaluate
from regiongate.policy.ownership import CONTROL_THRESHOLD, derive_org_facts, percent
from regiongate.policy.place import Offering, Place
from regiongate.topology.records import Organisation
from tests.policy.strategies import days, offerings, places, policies, worlds

PREFS = settings(deadline=None, max_examples=150)


@PREFS
@given(policies, places(), offerings, days)
def test_double_negation_is_identity(policy: ast.Policy, where: Place, offer: Offering | None, day: dt.date) -> None:
    assert evaluate(ast.Not(ast.Not(policy)), where, offer, day).allowed == evaluate(policy, where, offer, day).allowed


@PREFS
@given(st.lists(policies, min_size=1, max_size=4), places(), offerings, days)
def test_all_of_is_conjunction_and_any_of_disjunction(
    items: list[ast.Policy], where: Place, offer: Offering | None, day: dt.date
) -> None:
    each = [evaluate(p, where, offer, day) for p in items]
    conjunction = evaluate(ast.AllOf(tuple(items)), where, offer, day)
    assert conjunction.allowed == all(d.allowed for d in each)
    assert set(conjunction.failed) == {f for d in each for f in d.failed}
    assert evaluate(ast.AnyOf(tuple(items)), where, offer, day).allowed == any(d.allowed for d in each)


@PREFS
@given(policies, places(), offerings, days)
def test_decisions_are_deterministic_and_consistent(
    policy: ast.Policy, where: Place, offer: Offering | None, day: dt.date
) -> None:
    decision = evaluate(policy, where, offer, day)
    assert evaluate(policy, where, offer, day) == decision
    assert decision.allowed == (not decision.failed)  # refused ⇒ at least one failure; allowed ⇒ none
    assert all(f.predicate in ast.PREDICATE_NAMES | {"not"} and f.reason for f in decision.failed)


@PREFS
@given(worlds())
def test_ownership_invariants(world: dict[str, Organisation]) -> None:
    facts = derive_org_facts(world)
    for org_id, fact in facts.items():
        assert fact.control_chain[0] == org_id
        assert len(set(fact.control_chain)) == len(fact.control_chain)
        assert facts[fact.ultimate_parent].controlling_parent is None
        assert fact.ultimate_parent == fact.control_chain[-1]
        for parent in world[org_id].parents:
            controls = percent(parent.voting) > CONTROL_THRESHOLD
            assert (fact.controlling_parent == parent.org) or not controls
        assert all(0 <= h.share <= 100 for h in fact.ancestors)
        assert {h.org for h in fact.ancestors} >= {p.org for p in world[org_id].parents}
        for parent in world[org_id].parents:  # a direct link is a path: the effective share is at least it
            assert fact.effective_share(parent.org) >= percent(parent.capital)
