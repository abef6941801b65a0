"""``certified``: scheme, level, evidence and validity dates."""

from __future__ import annotations

import datetime as dt

import pytest

from regiongate.policy.ast import Certified
from regiongate.policy.evaluate import evaluate, level_at_least
from regiongate.policy.place import Place
from regiongate.topology.records import Certification, Evidence
from tests.policy.worlds import DAY, cert, datacenter, org, orgs, place

WORLD = orgs(org("op", "FR"))
SNC = Certified("SecNumCloud", min_level="3.2", min_evidence=Evidence.AUDIT)


def holding(*certifications: Certification) -> Place:
    return place(WORLD, datacenter("par", "FR", "op", certifications=certifications))


def reasons(rule: Certified, where: Place, day: dt.date = DAY) -> list[str]:
    return [f.reason for f in evaluate(rule, where, None, day).failed]


@pytest.mark.parametrize(
    ("level", "minimum", "ok"),
    [
        ("3.2", "3.2", True),
        ("3.10", "3.2", True),  # numbers compare as numbers, not text
        ("3.2", "3.10", False),
        ("3", "3.2", False),
        ("3.2", "3", True),
        ("type2", "type1", True),
        ("type1", "type2", False),
        ("Type2", "type2", True),
        ("type10", "type2", True),
        ("type2", "3.2", False),  # incomparable: not proof of the required level
        ("basic", "high", False),
        ("4", "3.2", True),
    ],
)
def test_level_at_least(level: str, minimum: str, ok: bool) -> None:
    assert level_at_least(level, minimum) is ok


def test_a_matching_certification_holds() -> None:
    assert reasons(SNC, holding(cert("SecNumCloud", "3.2", valid_until=dt.date(2028, 3, 31)))) == []


def test_scheme_names_ignore_case() -> None:
    assert reasons(SNC, holding(cert("secnumcloud", "3.2"))) == []


def test_no_certification_of_the_scheme() -> None:
    assert reasons(SNC, holding(cert("C5", "type2"))) == ["par holds no SecNumCloud certification"]


def test_level_and_evidence_must_both_suffice() -> None:
    weak = holding(cert("SecNumCloud", "3.1", Evidence.CONTRACT))
    assert reasons(SNC, weak) == ["par SecNumCloud 3.1: level 3.1 < 3.2, evidence contract < audit"]


def test_an_undeclared_level_fails_a_minimum_but_not_a_scheme_only_rule() -> None:
    assert reasons(SNC, holding(cert("SecNumCloud"))) == ["par SecNumCloud: level undeclared"]
    assert reasons(Certified("SecNumCloud"), holding(cert("SecNumCloud"))) == []


def test_default_minimum_evidence_is_contract() -> None:
    rule = Certified("ISO27001")
    assert reasons(rule, holding(cert("ISO27001", evidence=Evidence.CONTRACT))) == []
    assert reasons(rule, holding(cert("ISO27001", evidence=Evidence.SELF_DECLARED))) == [
        "par ISO27001: evidence self_declared < contract"
    ]


def test_validity_dates_are_inclusive() -> None:
    where = holding(cert("C5", "type2", valid_from=dt.date(2026, 1, 1), valid_until=dt.date(2027, 12, 31)))
    rule = Certified("C5", min_level="type2")
    assert reasons(rule, where, dt.date(2026, 1, 1)) == []
    assert reasons(rule, where, dt.date(2027, 12, 31)) == []
    assert reasons(rule, where, dt.date(2025, 12, 31)) == ["par C5 type2: valid from 2026-01-01"]
    assert reasons(rule, where, dt.date(2028, 1, 1)) == ["par C5 type2: expired 2027-12-31"]


def test_any_one_valid_certification_is_enough() -> None:
    where = holding(
        cert("C5", "type1"),
        cert("C5", "type2", valid_until=dt.date(2026, 1, 1)),
        cert("C5", "type2", valid_from=dt.date(2026, 6, 1)),
    )
    rule = Certified("C5", min_level="type2")
    assert reasons(rule, where) == []
    # One failure for the predicate; its reason lists why each certificate of the scheme fell short.
    assert reasons(rule, where, dt.date(2026, 3, 1)) == [
        "par C5 type1: level type1 < type2; par C5 type2: expired 2026-01-01; par C5 type2: valid from 2026-06-01"
    ]
