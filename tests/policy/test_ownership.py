"""Ownership facts: control chains, the 50% boundary, exposure laws and effective shares."""

from __future__ import annotations

from fractions import Fraction

import pytest

from regiongate.errors import ConfigError
from regiongate.policy.ownership import Exposure, derive_org_facts, percent
from tests.policy.worlds import EU, org, orgs


def test_control_chain_follows_voting_majorities_to_the_ultimate_parent() -> None:
    world = orgs(
        org("top", "CN", country="KY"),
        org("mid", "SG", ("top", 60, 60)),
        org("leaf", "DE", ("mid", 100, 100)),
    )
    leaf = derive_org_facts(world)["leaf"]
    assert leaf.controlling_parent == "mid"
    assert leaf.control_chain == ("leaf", "mid", "top")
    assert (leaf.ultimate_parent, leaf.ultimate_parent_hq) == ("top", "CN")


def test_an_uncontrolled_organisation_is_its_own_ultimate_parent() -> None:
    facts = derive_org_facts(orgs(org("solo", "FR")))["solo"]
    assert facts.controlling_parent is None
    assert facts.control_chain == ("solo",)
    assert facts.ultimate_parent == "solo"
    assert facts.ancestors == ()


@pytest.mark.parametrize(
    ("voting", "controls"),
    [(50, False), (50.01, True), (49.99, False), (51, True), (100, True)],
)
def test_control_needs_strictly_more_than_half_the_votes(voting: float, controls: bool) -> None:
    world = orgs(org("p", "US"), org("c", "FR", ("p", 10, voting)))
    facts = derive_org_facts(world)["c"]
    assert (facts.controlling_parent == "p") is controls
    assert (facts.ultimate_parent == "p") is controls


def test_control_follows_votes_not_capital() -> None:
    world = orgs(org("p", "US"), org("c", "FR", ("p", 90, 40)))
    assert derive_org_facts(world)["c"].ultimate_parent == "c"


def test_exposure_laws_come_from_country_or_hq_of_any_chain_member() -> None:
    world = orgs(
        org("alibaba-group", "CN", country="KY"),
        org("alibaba-cloud-de", "DE", ("alibaba-group", 100, 100)),
        org("us-registered", "IE", country="US"),
        org("eu-sub", "NL", ("us-registered", 100, 100)),
        org("vodafone-group", "GB"),
        org("vodafone-de", "DE", ("vodafone-group", 100, 100)),
    )
    facts = derive_org_facts(world)
    assert facts["alibaba-cloud-de"].exposures == (Exposure("CN_NIL_ART7", "alibaba-group"),)
    assert facts["eu-sub"].exposure_laws == {"US_CLOUD_ACT"}  # registered office counts, not only hq
    assert facts["vodafone-de"].exposure_laws == frozenset()


def test_a_minority_shareholder_brings_no_exposure() -> None:
    world = orgs(org("fonds", "FR"), org("pacific", "US"), org("lumiere", "FR", ("fonds", 70, 70), ("pacific", 20, 20)))
    lumiere = derive_org_facts(world)["lumiere"]
    assert lumiere.exposure_laws == frozenset()
    assert lumiere.ultimate_parent == "fonds"
    assert [(h.org, h.share) for h in lumiere.foreign_shares(EU)] == [("pacific", Fraction(20))]


def test_exposure_uses_the_given_law_table() -> None:
    world = orgs(org("r", "RU"), org("c", "DE", ("r", 100, 100)))
    facts = derive_org_facts(world, {"RU_SORM": "RU"})["c"]
    assert facts.exposures == (Exposure("RU_SORM", "r"),)


def test_effective_share_multiplies_capital_along_a_path() -> None:
    world = orgs(org("a", "US"), org("b", "FR", ("a", 40, 40)), org("c", "FR", ("b", 60, 60)))
    c = derive_org_facts(world)["c"]
    assert c.effective_share("b") == 60
    assert c.effective_share("a") == 24  # 60% of 40%
    assert c.effective_share("nobody") == 0


def test_effective_share_takes_the_largest_path() -> None:
    # a holds c directly (10%) and through b (50% of 30% = 15%): the larger path counts, not the sum.
    world = orgs(org("a", "US"), org("b", "FR", ("a", 50, 50)), org("c", "FR", ("a", 10, 10), ("b", 30, 30)))
    c = derive_org_facts(world)["c"]
    assert c.effective_share("a") == 15
    assert [h.org for h in c.ancestors] == ["a", "b"]


def test_effective_shares_are_exact_decimals() -> None:
    world = orgs(org("a", "US"), org("b", "FR", ("a", 30, 30)), org("c", "FR", ("b", 80, 80)))
    assert derive_org_facts(world)["c"].effective_share("a") == 24  # 0.3 * 0.8 is not 0.24 in binary floats
    assert percent(0.1) == Fraction(1, 10)


def test_foreign_shares_are_ancestors_with_hq_outside_the_set() -> None:
    world = orgs(
        org("us", "US"),
        org("gb", "GB"),
        org("fr", "FR"),
        org("c", "DE", ("us", 20, 20), ("gb", 19, 19), ("fr", 61, 61)),
    )
    c = derive_org_facts(world)["c"]
    assert [h.org for h in c.foreign_shares(EU)] == ["gb", "us"]
    assert [h.org for h in c.foreign_shares(EU | {"GB"})] == ["us"]


def test_cycles_are_configuration_errors() -> None:
    world = orgs(org("a", "FR", ("b", 60, 60)), org("b", "FR", ("a", 60, 60)))
    with pytest.raises(ConfigError, match="ownership cycle"):
        derive_org_facts(world)


def test_unknown_parents_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="unknown organisation 'ghost'"):
        derive_org_facts(orgs(org("a", "FR", ("ghost", 60, 60))))


def test_two_controlling_parents_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="more than one parent holds over 50% of the votes: a, b"):
        derive_org_facts(orgs(org("a", "FR"), org("b", "US"), org("c", "FR", ("a", 10, 60), ("b", 10, 60))))
