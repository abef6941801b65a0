"""Jurisdiction sets: built-ins as data, expansion, overrides and cycles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regiongate.topology.iso3166 import ISO3166_ALPHA2
from regiongate.topology.jurisdictions import (
    BUILTIN_SETS,
    EU_MEMBERS,
    JurisdictionError,
    check_country,
    expand,
    resolve_sets,
)
from regiongate.topology.laws import KNOWN_LAWS, LAW_COUNTRIES, laws_reaching

CODES = sorted(ISO3166_ALPHA2)
tokens = st.lists(st.sampled_from(CODES + sorted(BUILTIN_SETS)), max_size=12)


def test_iso_table_has_every_assigned_code() -> None:
    assert len(ISO3166_ALPHA2) == 249
    assert {"NO", "GR", "GB", "XK"} & ISO3166_ALPHA2 == {"NO", "GR", "GB"}


def test_builtin_sets() -> None:
    assert len(BUILTIN_SETS["EU"]) == 27
    assert BUILTIN_SETS["EU"] == frozenset(EU_MEMBERS)
    assert BUILTIN_SETS["EEA"] == BUILTIN_SETS["EU"] | {"IS", "LI", "NO"}
    assert BUILTIN_SETS["EFTA"] == {"CH", "IS", "LI", "NO"}
    adequate = {"AD", "AR", "CA", "FO", "GG", "IL", "IM", "JP", "JE", "NZ", "KR", "CH", "GB", "US", "UY"}
    assert BUILTIN_SETS["GDPR_ADEQUATE"] == adequate
    assert BUILTIN_SETS["GDPR_ADEQUATE@2025-07"] == adequate
    assert all(set(countries) <= ISO3166_ALPHA2 for countries in BUILTIN_SETS.values())


def test_expand_mixes_codes_and_sets() -> None:
    assert expand(["EFTA", "FR", "NO"], BUILTIN_SETS) == {"CH", "IS", "LI", "NO", "FR"}


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("XX", "'XX' is neither"),
        ("de", "write 'DE'"),
        ("EUU", "did you mean 'EU'"),
        ("", "unknown jurisdiction set ''"),
    ],
)
def test_expand_reports_the_bad_token_and_its_index(token: str, problem: str) -> None:
    with pytest.raises(JurisdictionError) as caught:
        expand(["FR", token], BUILTIN_SETS)
    assert caught.value.index == 1
    assert problem in caught.value.problem


def test_check_country() -> None:
    assert check_country("NO") == "NO"
    with pytest.raises(JurisdictionError, match="not an assigned"):
        check_country("EU")
    with pytest.raises(JurisdictionError, match="two upper-case letters"):
        check_country("FRA")


def test_file_sets_refer_to_each_other_and_to_builtins() -> None:
    sets = resolve_sets({"A": ["B", "FR"], "B": ["EFTA"], "C": ["A", "EU"]})
    assert sets["A"] == {"FR", "CH", "IS", "LI", "NO"}
    assert sets["C"] == sets["A"] | BUILTIN_SETS["EU"]
    assert sets["EEA"] == BUILTIN_SETS["EEA"]


def test_overriding_eu_changes_only_what_names_it() -> None:
    sets = resolve_sets({"EU": ["FR"], "MINE": ["EU"]})
    assert sets["EU"] == sets["MINE"] == {"FR"}
    assert sets["EEA"] == BUILTIN_SETS["EEA"]


@pytest.mark.parametrize(
    ("definitions", "set_name", "index", "problem"),
    [
        ({"A": ["A"]}, "A", 0, "A -> A"),
        ({"A": ["FR", "B"], "B": ["C"], "C": ["A"]}, "C", 0, "A -> B -> C -> A"),
        ({"A": []}, "A", None, "empty set"),
        ({"FR": ["DE"]}, "FR", None, "is a country code"),
        ({"bad name": ["DE"]}, "bad name", None, "bad set name"),
        ({"A": ["DE", "B"]}, "A", 1, "unknown jurisdiction set 'B'"),
    ],
)
def test_resolve_errors(definitions: dict[str, list[str]], set_name: str, index: int | None, problem: str) -> None:
    with pytest.raises(JurisdictionError) as caught:
        resolve_sets(definitions)
    assert (caught.value.set_name, caught.value.index) == (set_name, index)
    assert problem in caught.value.problem


@given(tokens, tokens)
def test_expansion_of_a_concatenation_is_the_union(a: list[str], b: list[str]) -> None:
    assert expand(a + b, BUILTIN_SETS) == expand(a, BUILTIN_SETS) | expand(b, BUILTIN_SETS)


@given(tokens)
def test_expansion_is_idempotent_and_order_free(a: list[str]) -> None:
    once = expand(a, BUILTIN_SETS)
    assert expand(sorted(once), BUILTIN_SETS) == once
    assert expand(list(reversed(a)) + a, BUILTIN_SETS) == once
    assert once <= ISO3166_ALPHA2


@st.composite
def layered_definitions(draw: st.DrawFn) -> dict[str, list[str]]:
    """Sets S0..Sn where Si may name codes, built-ins and any Sj with j < i (so: no cycles)."""
    count = draw(st.integers(1, 6))
    definitions: dict[str, list[str]] = {}
    for i in range(count):
        names = CODES + sorted(BUILTIN_SETS) + [f"S{j}" for j in range(i)]
        definitions[f"S{i}"] = draw(st.lists(st.sampled_from(names), min_size=1, max_size=6))
    return definitions


@given(layered_definitions())
def test_each_resolved_set_is_the_union_of_its_members(definitions: dict[str, list[str]]) -> None:
    sets = resolve_sets(definitions)
    for name, members in definitions.items():
        assert sets[name] == expand(members, sets)


@given(layered_definitions())
def test_closing_a_loop_is_always_a_cycle_error(definitions: dict[str, list[str]]) -> None:
    last = f"S{len(definitions) - 1}"
    looped = {**definitions, last: [*definitions[last], "S0"]}
    looped["S0"] = [*looped["S0"], last]  # S0 -> last -> S0 (or S0 -> S0)
    with pytest.raises(JurisdictionError, match="cycle"):
        resolve_sets(looped)


def test_law_table() -> None:
    assert LAW_COUNTRIES == {"US_CLOUD_ACT": "US", "CN_NIL_ART7": "CN"}
    assert sorted(KNOWN_LAWS) == ["CN_NIL_ART7", "US_CLOUD_ACT"]
    assert laws_reaching(["KY", "CN"]) == {"CN_NIL_ART7"}
    assert laws_reaching(["DE", "US", "CN"]) == KNOWN_LAWS
    assert laws_reaching(["FR"]) == frozenset()
