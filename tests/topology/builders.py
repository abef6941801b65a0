"""A small valid topology as plain data, to break one field at a time in tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from regiongate.errors import ConfigError
from regiongate.topology.loader import parse_topology
from regiongate.topology.records import Topology

EXAMPLE = Path(__file__).parents[2] / "src" / "regiongate" / "data" / "example-topology.yaml"
KEY = "sha256:" + hashlib.sha256(b"rg-test-key").hexdigest()
OTHER_KEY = "sha256:" + hashlib.sha256(b"rg-other-key").hexdigest()

Doc = dict[str, Any]
Mutation = Callable[[Doc], object]


def base() -> Doc:
    """Three organisations, one datacenter, one backend, one gateway, one tenant: all valid."""
    return {
        "version": 1,
        "organisations": {
            "op": {"name": "Op SAS", "country": "FR", "hq": "FR"},
            "parent": {"name": "Parent Inc", "country": "US", "hq": "US"},
            "child": {
                "name": "Child GmbH",
                "country": "DE",
                "hq": "DE",
                "parents": [{"org": "parent", "capital": 60, "voting": 60}],
            },
        },
        "datacenters": {
            "dc-1": {
                "region": "eu-west",
                "country": "FR",
                "city": "Paris",
                "facility_operator": "op",
                "service_operator": "child",
                "certifications": [
                    {"scheme": "C5", "level": "type2", "valid_until": "2027-12-31", "evidence": "audit"}
                ],
                "data_handling": {"retention_days": 0, "abuse_logging": False, "keys_held_by": "operator"},
            }
        },
        "backends": {
            "b-1": {
                "datacenter": "dc-1",
                "engine": "openai",
                "url": "http://127.0.0.1:9000/v1",
                "accelerator": {"vendor": "nvidia", "model": "H100", "count": 1},
                "capacity": 1,
                "models": {"m": {"input": ["text"], "output": ["text"]}},
            }
        },
        "gateways": {"gw": {"datacenter": "dc-1", "url": "http://127.0.0.1:8080/v1"}},
        "tenants": {"t": {"keys": [KEY], "policy": {"processing_in": "EU"}}},
    }


def dump(doc: Doc) -> str:
    return yaml.safe_dump(doc, sort_keys=False)


def parse(doc: Doc) -> Topology:
    return parse_topology(dump(doc), "test.yaml")


def set_at(path: str, value: object) -> Mutation:
    """Set the field at a dotted path (keys only, no list indexes)."""

    def mutate(doc: Doc) -> None:
        *parents, last = path.split(".")
        _walk(doc, parents)[last] = value

    return mutate


def delete_at(path: str) -> Mutation:
    def mutate(doc: Doc) -> None:
        *parents, last = path.split(".")
        del _walk(doc, parents)[last]

    return mutate


def _walk(doc: Doc, keys: list[str]) -> Any:
    node: Any = doc
    for key in keys:
        node = node[key]
    return node


def set_policy(policy: object) -> Mutation:
    def mutate(doc: Doc) -> None:
        doc["tenants"]["t"]["policy"] = policy

    return mutate


def assert_error_at(doc: Doc, path: str, fragment: str) -> None:
    """Loading ``doc`` fails first at ``path`` with a problem containing ``fragment``."""
    with pytest.raises(ConfigError) as caught:
        parse(doc)
    assert (caught.value.path, fragment in caught.value.problem) == (path, True), str(caught.value)
    assert caught.value.source == "test.yaml"


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_topology(text, "test.yaml")
    return caught.value
