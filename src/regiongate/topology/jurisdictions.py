"""Jurisdiction sets: ISO 3166-1 alpha-2 codes and named sets of them, expanded to plain code sets.

A token that is an assigned country code means that country; any other token names a set (set names may not be
assigned codes, but may be two letters, like ``EU``, which ISO reserves and never assigns). Built-in sets are data
below. A topology file's own ``jurisdiction_sets`` may define new names or replace a built-in by an explicit entry
of the same name; replacing ``EU`` does not change the built-in ``EEA`` (built-ins are expanded among themselves
first), so nothing changes without being named.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType

from regiongate.topology.iso3166 import ISO3166_ALPHA2
from regiongate.topology.records import Countries

_CODE_SHAPE = re.compile(r"^[A-Z]{2}$")
# Versioned names (``GDPR_ADEQUATE@2025-07``) pin a list as published at a date; the bare name is the current one.
_SET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*(?:@[A-Za-z0-9._-]+)?$")

# The 27 member states (Greece as ISO's GR, not the EU's own "EL").
# fmt: off
EU_MEMBERS: tuple[str, ...] = (
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
    "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
)
# Countries with a Commission adequacy decision as of July 2025 (US: through the EU-US Data Privacy Framework).
GDPR_ADEQUATE_2025_07: tuple[str, ...] = (
    "AD", "AR", "CA", "FO", "GG", "IL", "IM", "JP", "JE", "NZ", "KR", "CH", "GB", "US", "UY",
)
# fmt: on

BUILTIN_DEFINITIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "EU": EU_MEMBERS,
        "EEA": ("EU", "IS", "LI", "NO"),
        "EFTA": ("CH", "IS", "LI", "NO"),
        "GDPR_ADEQUATE@2025-07": GDPR_ADEQUATE_2025_07,
        "GDPR_ADEQUATE": ("GDPR_ADEQUATE@2025-07",),
    }
)


class JurisdictionError(ValueError):
    """A bad token or set. ``set_name``/``index`` locate it inside a definition list when known."""

    def __init__(self, problem: str, *, set_name: str | None = None, index: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.set_name = set_name
        self.index = index

    def at(self, set_name: str | None, index: int | None) -> JurisdictionError:
        return JurisdictionError(self.problem, set_name=set_name, index=index)


def is_code_shaped(token: str) -> bool:
    return _CODE_SHAPE.match(token) is not None


def check_country(token: str) -> str:
    """``token`` if it is an assigned ISO 3166-1 alpha-2 code, else :class:`JurisdictionError`."""
    if token in ISO3166_ALPHA2:
        return token
    if token.upper() in ISO3166_ALPHA2:
        raise JurisdictionError(f"country codes are upper case: write {token.upper()!r}, not {token!r}")
    if is_code_shaped(token):
        raise JurisdictionError(f"{token!r} is not an assigned ISO 3166-1 alpha-2 country code")
    raise JurisdictionError(f"expected an ISO 3166-1 alpha-2 country code (two upper-case letters), got {token!r}")


def check_set_name(name: str) -> str:
    if name in ISO3166_ALPHA2:
        raise JurisdictionError(f"set name {name!r} is a country code; choose another name")
    if _SET_NAME.match(name) is None:
        raise JurisdictionError(f"bad set name {name!r}: use letters, digits, '_' or '-', optionally '@version'")
    return name


def lookup(token: str, sets: Mapping[str, Countries]) -> Countries:
    """The countries ``token`` stands for: itself if a country code, else the named set's."""
    if token in ISO3166_ALPHA2:
        return frozenset({token})
    if token in sets:
        return sets[token]
    if token.upper() in ISO3166_ALPHA2:
        check_country(token)  # raises, saying codes are upper case
    if is_code_shaped(token):
        raise JurisdictionError(f"{token!r} is neither an ISO 3166-1 alpha-2 country code nor a jurisdiction set")
    hint = difflib.get_close_matches(token, list(sets), n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    raise JurisdictionError(f"unknown jurisdiction set {token!r}{suggestion}")


def expand(tokens: Iterable[str], sets: Mapping[str, Countries]) -> Countries:
    """The union of what each token stands for. Errors carry the index of the bad token."""
    countries: set[str] = set()
    for index, token in enumerate(tokens):
        try:
            countries |= lookup(token, sets)
        except JurisdictionError as exc:
            raise exc.at(None, index) from None
    return frozenset(countries)


def resolve_sets(
    definitions: Mapping[str, Sequence[str]], base: Mapping[str, Countries] | None = None
) -> dict[str, Countries]:
    """Expand named ``definitions`` (which may refer to each other and to ``base``) over ``base``.

    A definition shadows a ``base`` set of the same name. Cycles and unknown names are errors.
    ``base`` defaults to the built-in sets.
    """
    resolved_base = BUILTIN_SETS if base is None else base
    for name in definitions:
        try:
            check_set_name(name)
        except JurisdictionError as exc:
            raise exc.at(name, None) from None
    done: dict[str, Countries] = {}
    for name in definitions:
        _resolve(name, definitions, resolved_base, done, [])
    return {**resolved_base, **done}


def _resolve(
    name: str,
    definitions: Mapping[str, Sequence[str]],
    base: Mapping[str, Countries],
    done: dict[str, Countries],
    stack: list[str],
) -> Countries:
    if name in done:
        return done[name]
    tokens = definitions[name]
    if not tokens:
        raise JurisdictionError("empty set: list at least one country code or set name", set_name=name)
    stack.append(name)
    countries: set[str] = set()
    for index, token in enumerate(tokens):
        if token in stack:
            cycle = " -> ".join([*stack[stack.index(token) :], token])
            problem = f"jurisdiction sets refer to each other in a cycle: {cycle}"
            raise JurisdictionError(problem, set_name=name, index=index)
        if token in definitions:
            countries |= _resolve(token, definitions, base, done, stack)
            continue
        try:
            countries |= lookup(token, base)
        except JurisdictionError as exc:
            raise exc.at(name, index) from None
    stack.pop()
    done[name] = frozenset(countries)
    return done[name]


BUILTIN_SETS: Mapping[str, Countries] = MappingProxyType(resolve_sets(BUILTIN_DEFINITIONS, {}))
