"""Topology file → frozen :class:`~regiongate.topology.records.Topology`, or :class:`ConfigError`.

The file is read once at start-up. Sections are parsed in dependency order (jurisdiction sets, organisations,
datacenters, backends, gateways, tenants); each broken entry is reported and the next one is still checked, so one
run lists every problem. References are checked against every id *declared* in the file, so a broken organisation
does not also make each datacenter that names it look wrong.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

from regiongate.errors import ConfigError
from regiongate.policy.parse import parse_policy
from regiongate.topology import yamlsafe
from regiongate.topology.fields import ConfigErrors, Fields, Issues, Reader
from regiongate.topology.jurisdictions import JurisdictionError, resolve_sets
from regiongate.topology.organisations import parse_organisations
from regiongate.topology.places import KNOWN_SCHEMES, parse_backends, parse_datacenters, parse_gateways
from regiongate.topology.records import Backend, Countries, Datacenter, Tenant, Topology
from regiongate.topology.yamlsafe import item, join

T = TypeVar("T")
__all__ = ["ConfigErrors", "key_digest", "load_topology", "parse_topology"]

VERSION = 1
SECTIONS = ("jurisdiction_sets", "organisations", "datacenters", "backends", "gateways", "tenants")
_KEY = re.compile(r"^sha256:([0-9a-fA-F]{64})$")


def load_topology(path: str | Path) -> Topology:
    """Read and check the topology file at ``path``. Raises :class:`ConfigError` (also if unreadable)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read the file: {exc.strerror or exc}") from exc
    return parse_topology(text, source)


def parse_topology(text: str, source: str) -> Topology:
    """Check the topology ``text`` (``source`` names it in messages). Raises :class:`ConfigError`.

    When several entries are broken the error is a :class:`~regiongate.topology.fields.ConfigErrors` listing
    all of them (its ``path``/``problem`` are the first one's, in file order).
    """
    doc = yamlsafe.load(text, source)
    reader = Reader(source, doc)
    if doc.data is None:
        raise reader.error("", f"empty file: expected a topology mapping starting with 'version: {VERSION}'")
    top = reader.fields(doc.data, "", ("version",), SECTIONS)
    top.get("version", lambda v, p: _version(reader, v, p))
    reader = dataclasses.replace(reader, sets=_jurisdiction_sets(reader, top))
    issues = Issues()
    topology = _parse_sections(reader, top, issues)
    issues.errors.sort(key=lambda error: doc.line_of(error.path) or math.inf)
    issues.raise_if_any()
    return topology


def _parse_sections(reader: Reader, top: Fields, issues: Issues) -> Topology:
    raw = {name: top.values.get(name, {}) for name in SECTIONS}
    declared = {
        name: frozenset(map(str, value)) if isinstance(value, dict) else frozenset() for name, value in raw.items()
    }
    orgs = _section(issues, lambda: parse_organisations(reader, raw["organisations"], issues))
    dcs = _section(issues, lambda: parse_datacenters(reader, raw["datacenters"], declared["organisations"], issues))
    backends = _section(issues, lambda: parse_backends(reader, raw["backends"], dcs, declared["datacenters"], issues))
    gateways = _section(issues, lambda: parse_gateways(reader, raw["gateways"], declared["datacenters"], issues))
    tenant_reader = dataclasses.replace(
        reader,
        models=_served_models(backends) if len(backends) == len(declared["backends"]) else None,
        schemes=_schemes(dcs) if len(dcs) == len(declared["datacenters"]) else None,
    )
    tenants = _section(issues, lambda: _tenants(tenant_reader, raw["tenants"], issues))
    return Topology(
        source=reader.source,
        jurisdiction_sets=reader.sets,
        organisations=MappingProxyType(orgs),
        datacenters=MappingProxyType(dcs),
        backends=MappingProxyType(backends),
        gateways=MappingProxyType(gateways),
        tenants=MappingProxyType(tenants),
    )


def _section(issues: Issues, parse: Callable[[], dict[str, T]]) -> dict[str, T]:
    """A section's parsed entries; a section that is not even a mapping is reported and treated as empty."""
    with issues.entry():
        return parse()
    return {}


def _version(reader: Reader, value: object, path: str) -> int:
    version = reader.integer(value, path)
    if version != VERSION:
        raise reader.error(path, f"unsupported version {version}: this regiongate reads version {VERSION}")
    return version


def _jurisdiction_sets(reader: Reader, top: Fields) -> Mapping[str, Countries]:
    """Built-ins overlaid with the file's own sets, expanded. Errors here stop loading: everything uses sets."""
    path = "jurisdiction_sets"
    definitions: dict[str, list[str]] = {}
    scalars: set[str] = set()  # sets written as one token, whose errors have no [index]
    if top.has(path):
        for name, tokens in reader.mapping(top.values[path], path, "set").items():
            where = join(path, name)
            if isinstance(tokens, str):
                scalars.add(name)
            listed = [tokens] if isinstance(tokens, str) else reader.sequence(tokens, where)
            definitions[name] = [reader.string(token, item(where, i)) for i, token in enumerate(listed)]
    try:
        return MappingProxyType(resolve_sets(definitions))
    except JurisdictionError as exc:
        where = join(path, exc.set_name) if exc.set_name is not None else path
        if exc.set_name is not None and exc.index is not None and exc.set_name not in scalars:
            where = item(where, exc.index)
        raise reader.error(where, exc.problem) from None


def _schemes(datacenters: Mapping[str, Datacenter]) -> frozenset[str]:
    return KNOWN_SCHEMES | {cert.scheme for dc in datacenters.values() for cert in dc.certifications}


def _served_models(backends: Mapping[str, Backend]) -> frozenset[str]:
    return frozenset(name for backend in backends.values() for name in backend.models)


def _tenants(reader: Reader, value: object, issues: Issues) -> dict[str, Tenant]:
    owners: dict[bytes, str] = {}  # key digest -> tenant: one key must never authenticate two tenants
    result: dict[str, Tenant] = {}
    for tid, body in reader.entries(value, "tenants"):
        with issues.entry():
            result[tid] = _tenant(reader, tid, body, join("tenants", tid), owners)
    return result


def _tenant(reader: Reader, tid: str, body: object, path: str, owners: dict[bytes, str]) -> Tenant:
    f = reader.fields(body, path, ("keys", "policy"))
    digests = f.get("keys", lambda v, p: reader.items(v, p, lambda k, q: _key_digest(reader, k, q)))
    for index, digest in enumerate(digests):
        if digest in owners:
            other = "this tenant" if owners[digest] == tid else f"tenant {owners[digest]!r}"
            raise reader.error(item(f.at("keys"), index), f"this key is already a key of {other}")
        owners[digest] = tid
    return Tenant(id=tid, key_hashes=tuple(digests), policy=f.get("policy", lambda v, p: parse_policy(reader, v, p)))


def _key_digest(reader: Reader, value: object, path: str) -> bytes:
    """``sha256:<64 hex>`` → the raw 32-byte digest (keys themselves are never stored)."""
    text = reader.string(value, path)
    match = _KEY.match(text)
    if match is None:
        hint = " (write the key's SHA-256, never the key itself)" if text.startswith("rg-") else ""
        raise reader.error(path, f"expected 'sha256:' and 64 hex digits{hint}")
    return bytes.fromhex(match.group(1))


def key_digest(api_key: str) -> str:
    """The ``sha256:<hex>`` form of ``api_key`` for a topology file."""
    return "sha256:" + hashlib.sha256(api_key.encode()).hexdigest()
