"""Ownership facts derived once per organisation, as ``topology.md`` defines them.

- **controlling parent**: the parent holding more than 50% of the voting rights (50% exactly does not control);
- **control chain**: the organisation, its controlling parent, that one's controlling parent, ...;
- **ultimate parent**: the last organisation of the control chain (itself when nobody controls it);
- **exposure laws**: a law reaches an organisation when any member of its control chain has ``country`` or ``hq``
  equal to the law's country;
- **effective share** of an ancestor (via any parent link, controlling or not): the product of the capital
  fractions along a path, the largest over all paths.

Shares are exact :class:`~fractions.Fraction` percentages, built from the decimal text of each declared figure, so
that a boundary such as "24% held, max_single 24" never flips on binary rounding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

from regiongate.errors import ConfigError
from regiongate.topology.laws import LAW_COUNTRIES
from regiongate.topology.records import Organisation

CONTROL_THRESHOLD = Fraction(50)  # strictly more than this share of the voting rights controls


def percent(value: float) -> Fraction:
    """An exact percentage from a declared figure: ``repr`` gives the shortest decimal that reads back as it."""
    return Fraction(repr(float(value)))


@dataclass(frozen=True, slots=True)
class Holding:
    """An ancestor of an organisation and its effective share (percent of capital) in it."""

    org: str
    hq: str
    share: Fraction


@dataclass(frozen=True, slots=True)
class Exposure:
    """A law that reaches an organisation and the member of its control chain that brings it in."""

    law: str
    via: str


@dataclass(frozen=True, slots=True)
class OrgFacts:
    id: str
    country: str
    hq: str
    controlling_parent: str | None
    control_chain: tuple[str, ...]  # starts with ``id``
    ultimate_parent: str
    ultimate_parent_hq: str
    exposures: tuple[Exposure, ...]  # sorted by law
    ancestors: tuple[Holding, ...]  # every ancestor reachable by any parent link, sorted by org id

    @property
    def exposure_laws(self) -> frozenset[str]:
        return frozenset(e.law for e in self.exposures)

    def effective_share(self, ancestor: str) -> Fraction:
        """The effective share of ``ancestor`` in this organisation; 0 when it is not an ancestor."""
        return next((h.share for h in self.ancestors if h.org == ancestor), Fraction(0))

    def foreign_shares(self, home: frozenset[str]) -> tuple[Holding, ...]:
        """Ancestors whose ``hq`` is outside ``home``, sorted by org id."""
        return tuple(h for h in self.ancestors if h.hq not in home)


def controlling_parent(org: Organisation) -> str | None:
    """The parent with more than 50% of the voting rights, if any."""
    controllers = _controllers(org)
    return controllers[0] if controllers else None


def _controllers(org: Organisation) -> list[str]:
    return sorted({p.org for p in org.parents if percent(p.voting) > CONTROL_THRESHOLD})


def derive_org_facts(
    organisations: Mapping[str, Organisation], laws: Mapping[str, str] = LAW_COUNTRIES
) -> Mapping[str, OrgFacts]:
    """Facts for every organisation. ``laws`` maps a law id to its country (default: the project's law table).

    Raises :class:`ConfigError` on a parent cycle, an unknown parent or two controlling parents (the loader should
    refuse these first; this keeps hand-built topologies honest too).
    """
    _check_acyclic(organisations)
    shares: dict[str, dict[str, Fraction]] = {}
    facts = {
        org_id: _facts(organisations, org_id, laws, _effective_shares(organisations, org_id, shares))
        for org_id in sorted(organisations)
    }
    return MappingProxyType(facts)


def _facts(
    organisations: Mapping[str, Organisation], org_id: str, laws: Mapping[str, str], shares: Mapping[str, Fraction]
) -> OrgFacts:
    org = organisations[org_id]
    chain = _control_chain(organisations, org_id)
    top = organisations[chain[-1]]
    return OrgFacts(
        id=org_id,
        country=org.country,
        hq=org.hq,
        controlling_parent=controlling_parent(org),
        control_chain=chain,
        ultimate_parent=top.id,
        ultimate_parent_hq=top.hq,
        exposures=_exposures(organisations, chain, laws),
        ancestors=tuple(Holding(a, organisations[a].hq, shares[a]) for a in sorted(shares)),
    )


def _control_chain(organisations: Mapping[str, Organisation], org_id: str) -> tuple[str, ...]:
    chain = [org_id]
    while (parent := controlling_parent(organisations[chain[-1]])) is not None:
        chain.append(parent)  # terminates: the parent graph is acyclic (checked first)
    return tuple(chain)


def _exposures(
    organisations: Mapping[str, Organisation], chain: tuple[str, ...], laws: Mapping[str, str]
) -> tuple[Exposure, ...]:
    found: list[Exposure] = []
    for law in sorted(laws):
        country = laws[law]
        # The nearest member of the chain that brings the law in is the most useful one to name in a reason.
        via = next((o for o in chain if country in (organisations[o].country, organisations[o].hq)), None)
        if via is not None:
            found.append(Exposure(law, via))
    return tuple(found)


def _effective_shares(
    organisations: Mapping[str, Organisation], org_id: str, memo: dict[str, dict[str, Fraction]]
) -> dict[str, Fraction]:
    """Ancestor → the largest product of capital fractions over the paths to it (percent). Memoised per org."""
    if org_id in memo:
        return memo[org_id]
    result: dict[str, Fraction] = {}
    for link in organisations[org_id].parents:
        direct = percent(link.capital)
        _keep_max(result, link.org, direct)
        for ancestor, share in _effective_shares(organisations, link.org, memo).items():
            _keep_max(result, ancestor, direct * share / 100)
    memo[org_id] = result
    return result


def _keep_max(shares: dict[str, Fraction], org: str, share: Fraction) -> None:
    if share > shares.get(org, Fraction(-1)):
        shares[org] = share


def _check_acyclic(organisations: Mapping[str, Organisation]) -> None:
    done: set[str] = set()
    for start in sorted(organisations):
        _visit(organisations, start, (), done)


def _visit(organisations: Mapping[str, Organisation], org_id: str, path: tuple[str, ...], done: set[str]) -> None:
    if org_id in done:
        return
    if org_id in path:
        cycle = " -> ".join((*path[path.index(org_id) :], org_id))
        raise ConfigError("<topology>", f"organisations.{org_id}.parents", f"ownership cycle: {cycle}")
    org = organisations.get(org_id)
    if org is None:
        raise ConfigError("<topology>", f"organisations.{path[-1]}.parents", f"unknown organisation {org_id!r}")
    if len(controllers := _controllers(org)) > 1:
        # Picking one would silently drop the other's exposure laws from the control chain.
        problem = f"more than one parent holds over 50% of the votes: {', '.join(controllers)}"
        raise ConfigError("<topology>", f"organisations.{org_id}.parents", problem)
    for link in org.parents:
        _visit(organisations, link.org, (*path, org_id), done)
    done.add(org_id)
