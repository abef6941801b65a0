"""Deciding a policy at a processing place: pure, deterministic, fail-closed.

Every predicate means exactly what ``topology.md`` says. Ownership predicates must hold for every party of the
place; a data-handling term a predicate needs but nobody declared (``None``) makes that predicate fail. Reasons are
short, name the fact that failed, and list sets sorted so the same inputs always give the same text.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeVar

from regiongate.policy.ast import (
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
    Predicate,
    ProcessingIn,
    StaffAccessFrom,
    StorageIn,
    UltimateParentIn,
    UltimateParentNotIn,
    ZeroDataRetention,
)
from regiongate.policy.ownership import OrgFacts, percent
from regiongate.policy.place import Offering, Place
from regiongate.topology.records import Certification

__all__ = ["ALLOWED", "Decision", "Failure", "Offering", "Place", "evaluate", "level_at_least", "render"]

T = TypeVar("T")
_SET_SHOWN = 8  # longer sets are abbreviated in reasons: the EU's 27 codes would drown the message


@dataclass(frozen=True, slots=True)
class Failure:
    predicate: str  # the predicate's name, e.g. "processing_in", or "not" for a negation that failed
    reason: str

    def __str__(self) -> str:
        return f"{self.predicate}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    failed: tuple[Failure, ...] = ()  # empty exactly when allowed

    @classmethod
    def of(cls, failed: tuple[Failure, ...]) -> Decision:
        return cls(allowed=not failed, failed=_unique(failed))


ALLOWED = Decision(allowed=True)


def evaluate(policy: Policy, place: Place, offering: Offering | None, at: dt.date) -> Decision:
    """Decide ``policy`` for ``place`` on day ``at``. ``models``/``modalities`` hold when ``offering`` is None."""
    match policy:
        case AllOf(items=items):
            return Decision.of(tuple(f for item in items for f in evaluate(item, place, offering, at).failed))
        case AnyOf(items=items):
            decisions = [evaluate(item, place, offering, at) for item in items]
            if any(d.allowed for d in decisions):
                return ALLOWED
            return Decision.of(tuple(f for d in decisions for f in d.failed))
        case Not(item=item):
            if evaluate(item, place, offering, at).allowed:
                return Decision.of((Failure("not", f"not({render(item)})"),))
            return ALLOWED
        case _:
            reasons = _check(policy, place, offering, at)
            return Decision.of((Failure(policy.name, "; ".join(reasons)),)) if reasons else ALLOWED


def render(policy: Policy) -> str:
    """A compact, deterministic name for a (sub)policy, e.g. ``all_of(processing_in, not(no_human_review))``."""
    match policy:
        case AllOf(items=items) | AnyOf(items=items):
            return f"{policy.name}({', '.join(render(i) for i in items)})"
        case Not(item=item):
            return f"not({render(item)})"
        case _:
            return policy.name


def _check(predicate: Predicate, place: Place, offering: Offering | None, at: dt.date) -> tuple[str, ...]:
    """The reasons ``predicate`` fails at ``place`` (empty when it holds)."""
    handling = place.data_handling
    match predicate:
        case ProcessingIn(countries=allowed):
            return _outside("datacenter country", {place.country}, allowed)
        case StorageIn(countries=allowed):
            return _outside(f"{place.id} stores data in", handling.storage_in, allowed)
        case StaffAccessFrom(countries=allowed):
            return _outside(f"{place.id} staff access from", handling.staff_access_from, allowed)
        case OperatorHqIn(countries=allowed):
            return tuple(f"{p.id} hq {p.hq} not in {fmt_set(allowed)}" for p in place.parties if p.hq not in allowed)
        case UltimateParentIn(countries=allowed):
            tops = _unique(tuple((p.ultimate_parent, p.ultimate_parent_hq) for p in place.parties))
            return tuple(f"{top} hq {hq} not in {fmt_set(allowed)}" for top, hq in tops if hq not in allowed)
        case UltimateParentNotIn(countries=refused):
            tops = _unique(tuple((p.ultimate_parent, p.ultimate_parent_hq) for p in place.parties))
            return tuple(f"{top} hq {hq}" for top, hq in tops if hq in refused)
        case NotExposedTo(laws=laws):
            return tuple(_via(p.id, e.law, e.via) for p in place.parties for e in p.exposures if e.law in laws)
        case ForeignControl():
            return tuple(r for p in place.parties for r in _foreign_control(predicate, p))
        case Certified():
            return _certified(predicate, place, at)
        case Models(names=names):
            if offering is None or offering.model in names:
                return ()
            return (f"model {offering.model} not in {fmt_set(names)}",)
        case Modalities(allowed=allowed):
            if offering is None:
                return ()
            return _outside("modality", {str(m) for m in offering.modalities}, {str(m) for m in allowed})
        case _:
            return _check_terms(predicate, place)


def _check_terms(
    predicate: KeysHeldBy | MaxRetentionDays | ZeroDataRetention | NoHumanReview, place: Place
) -> tuple[str, ...]:
    """Data-handling terms: an undeclared term fails the predicate that needs it (fail-closed)."""
    handling = place.data_handling
    match predicate:
        case KeysHeldBy(holder=holder):
            return _keys(place, holder.value)
        case MaxRetentionDays(days=days):
            kept = handling.retention_days
            if kept is None:
                return (f"{place.id} retention_days undeclared",)
            return (f"{place.id} keeps {kept} days > {days}",) if kept > days else ()
        case ZeroDataRetention():
            return _zero_retention(place)
        case NoHumanReview():
            if handling.human_review is None:
                return (f"{place.id} human_review undeclared",)
            return (f"{place.id} has human review",) if handling.human_review else ()


def _outside(what: str, actual: frozenset[str] | set[str], allowed: frozenset[str] | set[str]) -> tuple[str, ...]:
    extra = sorted(set(actual) - set(allowed))
    return (f"{what} {', '.join(extra)} not in {fmt_set(allowed)}",) if extra else ()


def _via(party: str, law: str, via: str) -> str:
    return f"{party} exposed to {law}" if via == party else f"{party} exposed to {law} via {via}"


def _foreign_control(rule: ForeignControl, party: OrgFacts) -> tuple[str, ...]:
    single, total = percent(rule.max_single), percent(rule.max_total)
    foreign = party.foreign_shares(rule.outside)
    reasons = [
        f"{party.id}: {h.org} ({h.hq}) holds {fmt_pct(h.share)}% > {fmt_pct(single)}"
        for h in foreign
        if h.share > single
    ]
    summed = sum((h.share for h in foreign), Fraction(0))
    if summed > total:
        reasons.append(f"{party.id}: foreign total {fmt_pct(summed)}% > {fmt_pct(total)}")
    return tuple(reasons)


def _keys(place: Place, wanted: str) -> tuple[str, ...]:
    holder = place.data_handling.keys_held_by
    if holder is None:
        return (f"{place.id} keys_held_by undeclared",)
    return (f"{place.id} keys held by {holder.value}, not {wanted}",) if holder.value != wanted else ()


def _zero_retention(place: Place) -> tuple[str, ...]:
    handling, reasons = place.data_handling, []
    if handling.retention_days is None:
        reasons.append(f"{place.id} retention_days undeclared")
    elif handling.retention_days != 0:
        reasons.append(f"{place.id} keeps {handling.retention_days} days")
    if handling.abuse_logging is None:
        reasons.append(f"{place.id} abuse_logging undeclared")
    elif handling.abuse_logging:
        reasons.append(f"{place.id} keeps abuse logs")
    return tuple(reasons)


def _certified(rule: Certified, place: Place, at: dt.date) -> tuple[str, ...]:
    """Holds when one certification of the scheme passes every test; otherwise says why each one failed."""
    same_scheme = [c for c in place.certifications if c.scheme.casefold() == rule.scheme.casefold()]
    if not same_scheme:
        return (f"{place.datacenter} holds no {rule.scheme} certification",)
    problems = [_certificate_problems(rule, cert, at) for cert in same_scheme]
    if any(not p for p in problems):
        return ()
    return tuple(
        f"{place.datacenter} {_cert_name(cert)}: {', '.join(p)}" for cert, p in zip(same_scheme, problems, strict=True)
    )


def _certificate_problems(rule: Certified, cert: Certification, at: dt.date) -> list[str]:
    problems = []
    if rule.min_level is not None:
        if cert.level is None:
            problems.append("level undeclared")
        elif not level_at_least(cert.level, rule.min_level):
            problems.append(f"level {cert.level} < {rule.min_level}")
    if cert.evidence < rule.min_evidence:
        problems.append(f"evidence {cert.evidence.name.lower()} < {rule.min_evidence.name.lower()}")
    if cert.valid_from is not None and at < cert.valid_from:
        problems.append(f"valid from {cert.valid_from.isoformat()}")
    if cert.valid_until is not None and at > cert.valid_until:
        problems.append(f"expired {cert.valid_until.isoformat()}")
    return problems


def _cert_name(cert: Certification) -> str:
    return f"{cert.scheme} {cert.level}" if cert.level is not None else cert.scheme


def level_at_least(level: str, minimum: str) -> bool:
    """``level >= minimum`` for dotted levels compared part by part: numbers as numbers (``3.10`` > ``3.2``),
    letters as words (``type2`` > ``type1``). Parts that cannot be compared (a number against a word, or two
    different words) make the answer False: an incomparable level is not proof of the required one."""
    have, need = _level_parts(level), _level_parts(minimum)
    for a, b in zip(have, need, strict=False):
        if a == b:
            continue
        if isinstance(a, int) and isinstance(b, int):
            return a > b
        return False
    return len(have) >= len(need)  # "3" is below "3.2"; "3.2" meets "3"


def _level_parts(level: str) -> tuple[int | str, ...]:
    return tuple(int(t) if t.isdigit() else t for t in re.findall(r"\d+|[a-z]+", level.casefold()))


def fmt_set(values: frozenset[str] | set[str]) -> str:
    items = sorted(values)
    if len(items) > _SET_SHOWN:
        items = [*items[: _SET_SHOWN - 2], f"... {len(values)} in all"]
    return "{" + ", ".join(items) + "}"


def fmt_pct(value: Fraction) -> str:
    """A percentage for people: at most two decimals, no trailing zeros (``20``, ``35.5``, ``33.33``)."""
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def _unique(items: tuple[T, ...]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(items))
