"""Hypothesis strategies for the policy tests: random organisation graphs, places and policy trees."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from regiongate.policy import ast
from regiongate.policy.place import Offering, Place
from regiongate.topology.records import Certification, DataHandlingSpec, Evidence, KeyHolder, Modality, Organisation
from tests.policy.worlds import datacenter, org, place

COUNTRIES = ("DE", "FR", "US", "CN", "GB", "KY")
countries = st.frozensets(st.sampled_from(COUNTRIES), max_size=4)
shares = st.sampled_from((0, 10, 20, 24, 30, 39, 50, 50.5, 60, 100))
days = st.dates(dt.date(2025, 1, 1), dt.date(2029, 12, 31))
modality_sets = st.frozensets(st.sampled_from(tuple(Modality)))


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, Organisation]:
    """Organisations whose parents are always earlier ones: acyclic by construction."""
    world: dict[str, Organisation] = {}
    for i in range(draw(st.integers(1, 6))):
        parents = draw(st.lists(st.sampled_from(sorted(world)), unique=True, max_size=3)) if world else []
        links = [(p, draw(shares), draw(shares)) for p in parents]
        # Valid data: at most 100% of the capital and of the votes is held by parents.
        while sum(c for _, c, _ in links) > 100 or sum(v for _, _, v in links) > 100:
            links.pop()
        hq, country = draw(st.sampled_from(COUNTRIES)), draw(st.sampled_from(COUNTRIES))
        world[f"o{i}"] = org(f"o{i}", hq, *links, country=country)
    return world


optional_bool = st.none() | st.booleans()
handlings = st.builds(
    DataHandlingSpec,
    retention_days=st.none() | st.integers(0, 40),
    abuse_logging=optional_bool,
    human_review=optional_bool,
    storage_in=st.none() | countries.filter(bool),
    staff_access_from=st.none() | countries.filter(bool),
    keys_held_by=st.none() | st.sampled_from(tuple(KeyHolder)),
)
certs = st.builds(
    Certification,
    scheme=st.sampled_from(("C5", "SecNumCloud")),
    evidence=st.sampled_from(tuple(Evidence)),
    level=st.none() | st.sampled_from(("type1", "type2", "3.1", "3.2", "3.10")),
    valid_from=st.none() | days,
    valid_until=st.none() | days,
)


@st.composite
def places(draw: st.DrawFn) -> Place:
    world = draw(worlds())
    ids = sorted(world)
    dc = datacenter(
        "dc",
        draw(st.sampled_from(COUNTRIES)),
        draw(st.sampled_from(ids)),
        draw(st.sampled_from(ids)),
        draw(st.lists(st.sampled_from(ids), max_size=2)),
        draw(st.lists(certs, max_size=3)),
        draw(handlings),
    )
    return place(world, dc, draw(handlings))


leaves: st.SearchStrategy[ast.Policy] = st.one_of(
    st.builds(ast.ProcessingIn, countries),
    st.builds(ast.StorageIn, countries),
    st.builds(ast.OperatorHqIn, countries),
    st.builds(ast.UltimateParentIn, countries),
    st.builds(ast.UltimateParentNotIn, countries),
    st.builds(ast.NotExposedTo, st.frozensets(st.sampled_from(("US_CLOUD_ACT", "CN_NIL_ART7")), min_size=1)),
    st.builds(ast.ForeignControl, countries, shares, shares),
    st.builds(ast.StaffAccessFrom, countries),
    st.builds(ast.KeysHeldBy, st.sampled_from(tuple(KeyHolder))),
    st.builds(
        ast.Certified,
        st.sampled_from(("C5", "SecNumCloud")),
        st.none() | st.sampled_from(("type2", "3.2")),
        st.sampled_from(tuple(Evidence)),
    ),
    st.builds(ast.MaxRetentionDays, st.integers(0, 40)),
    st.just(ast.ZeroDataRetention()),
    st.just(ast.NoHumanReview()),
    st.builds(ast.Models, st.frozensets(st.sampled_from(("m", "n")))),
    st.builds(ast.Modalities, modality_sets),
)
policies: st.SearchStrategy[ast.Policy] = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: ast.AllOf(tuple(xs))),
        st.lists(inner, min_size=1, max_size=3).map(lambda xs: ast.AnyOf(tuple(xs))),
        inner.map(ast.Not),
    ),
    max_leaves=8,
)
offerings = st.none() | st.builds(Offering, st.sampled_from(("m", "n")), modality_sets)
