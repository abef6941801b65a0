"""Tenants: policy shapes, predicates' arguments and API keys, each error at its exact path."""

from __future__ import annotations

import pytest

from tests.topology.builders import KEY, OTHER_KEY, Mutation, assert_error_at, base, set_at, set_policy

POLICY = "tenants.t.policy"

CASES: list[tuple[str, Mutation, str, str]] = [
    (
        "unknown certification scheme",
        set_policy({"certified": {"scheme": "Secnumcloud"}}),
        f"{POLICY}.certified.scheme",
        "did you mean 'SecNumCloud'",
    ),
    # policy shape
    ("empty all_of", set_policy({"all_of": []}), f"{POLICY}.all_of", "empty list"),
    ("empty any_of", set_policy({"any_of": []}), f"{POLICY}.any_of", "empty list"),
    ("empty policy", set_policy({}), POLICY, "empty policy"),
    ("null policy", set_policy(None), POLICY, "missing policy"),
    ("policy a string", set_policy("processing_in: EU"), POLICY, "expected a policy"),
    ("two keys in a node", set_policy({"processing_in": "EU", "storage_in": "EU"}), POLICY, "exactly one key"),
    (
        "unknown predicate",
        set_policy({"all_of": [{"processing": "EU"}]}),
        f"{POLICY}.all_of[0].processing",
        "did you mean 'processing_in'",
    ),
    ("empty nested policy", set_policy({"not": {"any_of": [{}]}}), f"{POLICY}.not.any_of[0]", "empty policy"),
    (
        "unknown law",
        set_policy({"all_of": [{"processing_in": "EU"}, {"not_exposed_to": ["US_CLOUD_ACT", "FISA"]}]}),
        f"{POLICY}.all_of[1].not_exposed_to[1]",
        "unknown law 'FISA'",
    ),
    (
        "zero_data_retention false",
        set_policy({"zero_data_retention": False}),
        f"{POLICY}.zero_data_retention",
        "use 'not:'",
    ),
    (
        "no_human_review not a bool",
        set_policy({"no_human_review": "yes"}),
        f"{POLICY}.no_human_review",
        "true or false",
    ),
    (
        "foreign_control incomplete",
        set_policy({"foreign_control": {"outside": "EU", "max_single": 24}}),
        f"{POLICY}.foreign_control.max_total",
        "missing required key",
    ),
    (
        "foreign_control above 100",
        set_policy({"foreign_control": {"outside": "EU", "max_single": 24, "max_total": 140}}),
        f"{POLICY}.foreign_control.max_total",
        "at most 100",
    ),
    (
        "policy keys_held_by value",
        set_policy({"keys_held_by": "customers"}),
        f"{POLICY}.keys_held_by",
        "did you mean 'customer'",
    ),
    (
        "min_evidence value",
        set_policy({"certified": {"scheme": "C5", "min_evidence": "audited"}}),
        f"{POLICY}.certified.min_evidence",
        "one of self_declared, contract, audit",
    ),
    (
        "negative max_retention_days",
        set_policy({"max_retention_days": -1}),
        f"{POLICY}.max_retention_days",
        "at least 0",
    ),
    (
        "unknown policy modality",
        set_policy({"modalities": ["text", "smell"]}),
        f"{POLICY}.modalities[1]",
        "one of text, image, audio, video",
    ),
    # keys
    ("key not sha256", set_at("tenants.t.keys", ["md5:abcd"]), "tenants.t.keys[0]", "expected 'sha256:'"),
    ("raw key pasted", set_at("tenants.t.keys", ["rg-demo-secret"]), "tenants.t.keys[0]", "never the key itself"),
    ("short hex", set_at("tenants.t.keys", [KEY[:-1]]), "tenants.t.keys[0]", "64 hex digits"),
    ("no keys", set_at("tenants.t.keys", []), "tenants.t.keys", "empty list"),
    ("key twice in tenant", set_at("tenants.t.keys", [KEY, OTHER_KEY, KEY]), "tenants.t.keys[2]", "this tenant"),
    (
        "key shared by tenants",
        set_at("tenants.u", {"keys": [OTHER_KEY, KEY], "policy": {"processing_in": "EU"}}),
        "tenants.u.keys[1]",
        "tenant 't'",
    ),
]


@pytest.mark.parametrize(("mutate", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_names_the_path(mutate: Mutation, path: str, fragment: str) -> None:
    doc = base()
    mutate(doc)
    assert_error_at(doc, path, fragment)
