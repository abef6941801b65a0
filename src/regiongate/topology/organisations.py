"""The ``organisations`` section: legal entities and who owns them."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from regiongate.topology.fields import Issues, Reader
from regiongate.topology.records import Organisation, ParentLink
from regiongate.topology.yamlsafe import item, join

_LEI = re.compile(r"^[A-Z0-9]{18}[0-9]{2}$")


def parse_organisations(reader: Reader, value: object, issues: Issues) -> dict[str, Organisation]:
    """Every organisation that parses; the others' errors go to ``issues``. Cycles are reported too."""
    path = "organisations"
    entries = reader.entries(value, path)
    declared = frozenset(oid for oid, _ in entries)
    orgs: dict[str, Organisation] = {}
    for oid, body in entries:
        with issues.entry():
            orgs[oid] = _organisation(reader, oid, body, join(path, oid), declared)
    for cycle in ownership_cycles(orgs):
        issues.errors.append(
            reader.error(join(join(path, cycle[0]), "parents"), f"ownership cycle: {' -> '.join(cycle)}")
        )
    return orgs


def _organisation(reader: Reader, oid: str, body: object, path: str, declared: Collection[str]) -> Organisation:
    f = reader.fields(body, path, ("name", "country", "hq"), ("parents", "lei"))
    parents = tuple(f.opt("parents", lambda v, p: _parents(reader, v, p, declared)) or ())
    return Organisation(
        id=oid,
        name=f.get("name", reader.string),
        country=f.get("country", reader.country),
        hq=f.get("hq", reader.country),
        parents=parents,
        lei=f.opt("lei", lambda v, p: _lei(reader, v, p)),
    )


def _parents(reader: Reader, value: object, path: str, declared: Collection[str]) -> list[ParentLink]:
    links = reader.items(value, path, lambda v, p: _parent(reader, v, p, declared))
    seen: set[str] = set()
    for index, link in enumerate(links):
        if link.org in seen:
            raise reader.error(join(item(path, index), "org"), f"{link.org!r} is listed twice as a parent")
        seen.add(link.org)
    for share in ("capital", "voting"):
        total = sum(getattr(link, share) for link in links)
        if total > 100:
            raise reader.error(path, f"parents hold {total:g}% of the {share} in total; at most 100% is possible")
    return links


def _parent(reader: Reader, value: object, path: str, declared: Collection[str]) -> ParentLink:
    f = reader.fields(value, path, ("org", "capital", "voting"))
    org = f.get("org", lambda v, p: reader.reference(v, p, declared, "organisation"))
    return ParentLink(org=org, capital=f.get("capital", reader.percent), voting=f.get("voting", reader.percent))


def _lei(reader: Reader, value: object, path: str) -> str:
    """An ISO 17442 Legal Entity Identifier: 20 characters whose ISO 7064 MOD 97-10 check holds."""
    text = reader.string(value, path)
    if _LEI.match(text) is None or int("".join(str(int(c, 36)) for c in text)) % 97 != 1:  # A=10 ... Z=35
        raise reader.error(path, f"not a valid LEI (20 characters, ISO 17442 check digits): {text!r}")
    return text


def ownership_cycles(orgs: Mapping[str, Organisation]) -> list[list[str]]:
    """Each ownership cycle once, as ``[a, b, ..., a]`` starting from its smallest id (links to unknown ids skipped)."""
    state: dict[str, int] = {}  # absent: not visited, 1: on the current path, 2: finished
    cycles: list[list[str]] = []
    for start in sorted(orgs):
        if start not in state:
            _visit(start, orgs, state, [], cycles)
    return cycles


def _visit(
    oid: str, orgs: Mapping[str, Organisation], state: dict[str, int], path: list[str], out: list[list[str]]
) -> None:
    state[oid] = 1
    path.append(oid)
    for link in orgs[oid].parents:
        if link.org not in orgs:
            continue
        if state.get(link.org) == 1:
            loop = path[path.index(link.org) :]
            first = loop.index(min(loop))
            out.append([*loop[first:], *loop[:first], min(loop)])
        elif link.org not in state:
            _visit(link.org, orgs, state, path, out)
    path.pop()
    state[oid] = 2
