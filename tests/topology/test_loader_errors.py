"""Every class of configuration error names the exact field path and says what was wrong."""

from __future__ import annotations

import pytest

from tests.topology.builders import (
    Doc,
    Mutation,
    assert_error_at,
    base,
    delete_at,
    dump,
    error_of,
    parse,
    set_at,
    set_policy,
)

DC = "datacenters.dc-1"
BACKEND = "backends.b-1"
POLICY = "tenants.t.policy"


def _parents(*links: tuple[str, float, float]) -> Mutation:
    return set_at("organisations.child.parents", [{"org": o, "capital": c, "voting": v} for o, c, v in links])


def _cycle(doc: Doc) -> None:
    doc["organisations"]["parent"]["parents"] = [{"org": "child", "capital": 10, "voting": 10}]


def _dc_certification(**fields: object) -> Mutation:
    return set_at(f"{DC}.certifications", [{"scheme": "C5", "evidence": "audit", **fields}])


CASES: list[tuple[str, Mutation, str, str]] = [
    # unknown keys, at every level
    ("unknown top key", set_at("tenant", {}), "tenant", "did you mean 'tenants'"),
    ("unknown datacenter key", set_at(f"{DC}.citty", "Paris"), f"{DC}.citty", "unknown key"),
    (
        "unknown data_handling key",
        set_at(f"{DC}.data_handling.retention", 1),
        f"{DC}.data_handling.retention",
        "unknown",
    ),
    ("unknown model key", set_at(f"{BACKEND}.models.m.served", "x"), f"{BACKEND}.models.m.served", "unknown key"),
    (
        "unknown accelerator key",
        set_at(f"{BACKEND}.accelerator.memory", 80),
        f"{BACKEND}.accelerator.memory",
        "unknown",
    ),
    (
        "unknown key in predicate",
        set_policy({"certified": {"scheme": "C5", "min_levle": "2"}}),
        f"{POLICY}.certified.min_levle",
        "did you mean 'min_level'",
    ),
    # missing required keys
    ("missing version", delete_at("version"), "version", "missing required key"),
    ("missing city", delete_at(f"{DC}.city"), f"{DC}.city", "missing required key"),
    (
        "missing evidence",
        set_at(f"{DC}.certifications", [{"scheme": "C5"}]),
        f"{DC}.certifications[0].evidence",
        "missing",
    ),
    (
        "missing parent voting",
        set_at("organisations.child.parents", [{"org": "parent", "capital": 1}]),
        "organisations.child.parents[0].voting",
        "missing required key",
    ),
    ("missing policy", delete_at(f"{POLICY}"), POLICY, "missing required key"),
    # wrong types
    ("capacity not a number", set_at(f"{BACKEND}.capacity", "fast"), f"{BACKEND}.capacity", "expected a number"),
    ("bool is not a count", set_at(f"{BACKEND}.accelerator.count", True), f"{BACKEND}.accelerator.count", "an integer"),
    ("city not a string", set_at(f"{DC}.city", 5), f"{DC}.city", "expected a non-empty string"),
    ("section not a mapping", set_at("gateways", ["gw"]), "gateways", "expected a mapping"),
    (
        "retention not an int",
        set_at(f"{DC}.data_handling.retention_days", 1.5),
        f"{DC}.data_handling.retention_days",
        "an integer",
    ),
    (
        "negative retention",
        set_at(f"{DC}.data_handling.retention_days", -1),
        f"{DC}.data_handling.retention_days",
        "at least 0",
    ),
    (
        "abuse_logging a word",
        set_at(f"{DC}.data_handling.abuse_logging", "no"),
        f"{DC}.data_handling.abuse_logging",
        "true or false",
    ),
    # unknown references
    (
        "unknown facility operator",
        set_at(f"{DC}.facility_operator", "nobody"),
        f"{DC}.facility_operator",
        "unknown organisation 'nobody'",
    ),
    (
        "unknown subprocessor",
        set_at(f"{DC}.subprocessors", ["op", "ghost"]),
        f"{DC}.subprocessors[1]",
        "unknown organisation 'ghost'",
    ),
    ("unknown parent org", _parents(("ghost", 10, 10)), "organisations.child.parents[0].org", "unknown organisation"),
    (
        "unknown backend datacenter",
        set_at(f"{BACKEND}.datacenter", "dc-9"),
        f"{BACKEND}.datacenter",
        "unknown datacenter 'dc-9'",
    ),
    ("unknown gateway datacenter", set_at("gateways.gw.datacenter", "dc-2"), "gateways.gw.datacenter", "did you mean"),
    ("unknown model in policy", set_policy({"models": ["m", "mm"]}), f"{POLICY}.models[1]", "no backend serves"),
    # ownership
    ("ownership cycle", _cycle, "organisations.child.parents", "ownership cycle: child -> parent -> child"),
    ("self ownership", _parents(("child", 10, 10)), "organisations.child.parents", "child -> child"),
    ("capital above 100", _parents(("parent", 101, 50)), "organisations.child.parents[0].capital", "at most 100"),
    ("voting below 0", _parents(("parent", 50, -1)), "organisations.child.parents[0].voting", "at least 0"),
    (
        "capital sums above 100",
        _parents(("parent", 60, 40), ("op", 50, 10)),
        "organisations.child.parents",
        "110% of the capital",
    ),
    (
        "voting sums above 100",
        _parents(("parent", 10, 60), ("op", 10, 60)),
        "organisations.child.parents",
        "120% of the voting",
    ),
    (
        "parent listed twice",
        _parents(("parent", 10, 10), ("parent", 5, 5)),
        "organisations.child.parents[1].org",
        "listed twice",
    ),
    ("bad LEI", set_at("organisations.op.lei", "INR2EJN1ERAN0W5ZP975"), "organisations.op.lei", "not a valid LEI"),
    # countries and jurisdiction sets
    (
        "unknown country",
        set_at("organisations.op.country", "XX"),
        "organisations.op.country",
        "'XX' is not an assigned",
    ),
    ("lower-case country", set_at(f"{DC}.country", "fr"), f"{DC}.country", "write 'FR'"),
    ("set name as country", set_at("organisations.op.hq", "EU"), "organisations.op.hq", "'EU' is not an assigned"),
    ("unknown set in policy", set_policy({"processing_in": "EUU"}), f"{POLICY}.processing_in", "did you mean 'EU'"),
    ("unknown code in policy list", set_policy({"storage_in": ["FR", "ZZ"]}), f"{POLICY}.storage_in[1]", "'ZZ'"),
    ("empty set in policy", set_policy({"processing_in": []}), f"{POLICY}.processing_in", "empty list"),
    ("set cycle", set_at("jurisdiction_sets", {"A": ["B"], "B": ["FR", "A"]}), "jurisdiction_sets.B[1]", "A -> B -> A"),
    ("unknown set in set", set_at("jurisdiction_sets", {"A": ["FR", "NOPE"]}), "jurisdiction_sets.A[1]", "'NOPE'"),
    ("set named like a country", set_at("jurisdiction_sets", {"DE": ["FR"]}), "jurisdiction_sets.DE", "country code"),
    (
        "storage_in unknown code",
        set_at(f"{DC}.data_handling.storage_in", ["FR", "QQ"]),
        f"{DC}.data_handling.storage_in[1]",
        "'QQ'",
    ),
    # backends
    (
        "unknown input modality",
        set_at(f"{BACKEND}.models.m.input", ["text", "smell"]),
        f"{BACKEND}.models.m.input[1]",
        "one of text, image, audio, video",
    ),
    ("unknown engine", set_at(f"{BACKEND}.engine", "vllm"), f"{BACKEND}.engine", "one of openai, embedded"),
    ("zero capacity", set_at(f"{BACKEND}.capacity", 0), f"{BACKEND}.capacity", "greater than 0"),
    ("negative capacity", set_at(f"{BACKEND}.capacity", -2.5), f"{BACKEND}.capacity", "greater than 0"),
    ("zero max_concurrency", set_at(f"{BACKEND}.max_concurrency", 0), f"{BACKEND}.max_concurrency", "at least 1"),
    ("openai without url", delete_at(f"{BACKEND}.url"), f"{BACKEND}.url", "engine 'openai'"),
    ("url not http", set_at(f"{BACKEND}.url", "ftp://127.0.0.1/v1"), f"{BACKEND}.url", "http:// or https://"),
    ("url without host", set_at("gateways.gw.url", "http:///v1"), "gateways.gw.url", "with a host"),
    ("url bad port", set_at("gateways.gw.url", "http://h:99999/v1"), "gateways.gw.url", "bad URL"),
    ("model_path on openai", set_at(f"{BACKEND}.model_path", "/m.gguf"), f"{BACKEND}.model_path", "embedded"),
    (
        "bad weights digest",
        set_at(f"{BACKEND}.models.m.weights_digest", "sha256:XYZ"),
        f"{BACKEND}.models.m.weights_digest",
        "64 lower-case hex",
    ),
    ("no models", set_at(f"{BACKEND}.models", {}), f"{BACKEND}.models", "at least one model"),
    ("no output modality", set_at(f"{BACKEND}.models.m.output", []), f"{BACKEND}.models.m.output", "empty list"),
    # version, dates, evidence, keys_held_by
    ("version 2", set_at("version", 2), "version", "unsupported version 2"),
    ("version as string", set_at("version", "1"), "version", "an integer"),
    ("impossible date", _dc_certification(valid_until="2027-13-01"), f"{DC}.certifications[0].valid_until", "bad date"),
    (
        "date in another format",
        _dc_certification(valid_from="31/12/2027"),
        f"{DC}.certifications[0].valid_from",
        "YYYY-MM-DD",
    ),
    (
        "validity reversed",
        _dc_certification(valid_from="2027-01-01", valid_until="2026-01-01"),
        f"{DC}.certifications[0].valid_until",
        "before valid_from",
    ),
    (
        "evidence value",
        _dc_certification(evidence="audited"),
        f"{DC}.certifications[0].evidence",
        "did you mean 'audit'",
    ),
    (
        "keys_held_by value",
        set_at(f"{DC}.data_handling.keys_held_by", "tenant"),
        f"{DC}.data_handling.keys_held_by",
        "one of customer, operator, third_party",
    ),
    ("bad id", set_at("gateways.gw two", {"datacenter": "dc-1", "url": "http://h/v1"}), "gateways.gw two", "bad id"),
]


@pytest.mark.parametrize(("mutate", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_error_names_the_path(mutate: Mutation, path: str, fragment: str) -> None:
    doc = base()
    mutate(doc)
    assert_error_at(doc, path, fragment)


def test_cases_start_from_a_valid_document() -> None:
    parse(base())


def test_duplicate_key_names_path_and_both_lines() -> None:
    text = dump(base()).replace("    city: Paris\n", "    city: Paris\n    city: Lyon\n")
    error = error_of(text)
    assert error.path == "datacenters.dc-1.city"
    line = text.splitlines().index("    city: Lyon") + 1
    assert f"duplicate key (line {line}; first defined at line {line - 1})" in error.problem


def test_yes_is_not_a_boolean() -> None:
    error = error_of(dump(base()).replace("abuse_logging: false", "abuse_logging: no"))
    assert error.path == "datacenters.dc-1.data_handling.abuse_logging"
    assert "the string 'no'" in error.problem


def test_empty_file_and_non_mapping_document() -> None:
    assert "empty file" in error_of("").problem
    assert "expected a mapping" in error_of("- version: 1\n").problem


def test_syntax_error_names_the_line() -> None:
    error = error_of("version: 1\norganisations: {a: [\n")
    assert error.path == ""
    assert "line 3" in error.problem
