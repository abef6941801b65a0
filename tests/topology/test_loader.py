"""The loader builds the right records: the reference example, defaults and overrides."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest

from regiongate.errors import ConfigError
from regiongate.policy.ast import AllOf, Certified, ForeignControl, NotExposedTo, ProcessingIn, ZeroDataRetention
from regiongate.topology.fields import ConfigErrors
from regiongate.topology.jurisdictions import BUILTIN_SETS
from regiongate.topology.loader import key_digest, load_topology, parse_topology
from regiongate.topology.records import Engine, Evidence, KeyHolder, Modality, ParentLink
from tests.topology.builders import EXAMPLE, KEY, Doc, base, dump, parse


def test_example_loads_with_its_sections() -> None:
    topo = load_topology(EXAMPLE)
    assert topo.source == str(EXAMPLE)
    assert len(topo.organisations) == 15
    assert len(topo.datacenters) == 7
    assert len(topo.backends) == 8
    assert set(topo.gateways) == {"gw-fra", "gw-fra3", "gw-par", "gw-gru", "gw-hgh"}
    assert set(topo.tenants) == {"eu-ministry", "de-bank", "eu-retailer", "br-fintech", "global-startup", "cn-app"}
    assert topo.jurisdiction_sets["LATAM"] == frozenset({"AR", "BR", "CL", "CO", "MX", "PE", "UY"})


def test_example_organisations() -> None:
    orgs = load_topology(EXAMPLE).organisations
    assert orgs["alibaba-group"].country == "KY"
    assert orgs["alibaba-group"].hq == "CN"
    assert orgs["alibaba-cloud-de"].parents == (ParentLink(org="alibaba-group", capital=100.0, voting=100.0),)
    assert [p.org for p in orgs["lumiere-cloud"].parents] == ["fonds-souverain", "pacific-capital"]
    assert orgs["lumiere-cloud"].lei is None


def test_example_datacenter_and_certifications() -> None:
    dc = load_topology(EXAMPLE).datacenters["par-1"]
    assert (dc.country, dc.city, dc.region) == ("FR", "Paris", "eu-west")
    assert dc.parties == ("lumiere-cloud",)
    secnum, gaiax = dc.certifications
    assert (secnum.scheme, secnum.level, secnum.evidence) == ("SecNumCloud", "3.2", Evidence.AUDIT)
    assert secnum.valid_until == dt.date(2028, 3, 31)
    assert secnum.valid_from is None
    assert (gaiax.level, gaiax.evidence) == ("3", Evidence.CONTRACT)


def test_example_backend_and_effective_data_handling() -> None:
    topo = load_topology(EXAMPLE)
    backend = topo.backends["fra-2-h100"]
    assert backend.engine is Engine.OPENAI
    assert backend.url == "http://127.0.0.1:18003/v1"
    assert (backend.accelerator.vendor, backend.accelerator.count, backend.capacity) == ("nvidia", 8, 10.0)
    model = backend.models["qwen3-omni"]
    assert model.served_as == "Qwen/Qwen3-Omni-30B-A3B-Instruct"
    assert model.input == frozenset(Modality)
    assert model.output == {Modality.TEXT, Modality.AUDIO}
    handling = backend.data_handling
    assert handling.storage_in == {"DE"}  # default: the datacenter's country
    assert handling.staff_access_from == {"DE", "IE", "US"}
    assert (handling.retention_days, handling.abuse_logging, handling.human_review) == (30, True, True)
    assert handling.keys_held_by is KeyHolder.CUSTOMER
    assert topo.backends["ams-1-mi300"].models["qwen3-omni"].output == {Modality.TEXT}


def test_example_tenants_keys_and_policies() -> None:
    tenants = load_topology(EXAMPLE).tenants
    assert tenants["eu-ministry"].key_hashes == (hashlib.sha256(b"rg-demo-eu-ministry").digest(),)
    ministry = tenants["eu-ministry"].policy
    assert isinstance(ministry, AllOf)
    assert ministry.items[0] == ProcessingIn(BUILTIN_SETS["EU"])
    assert ministry.items[3] == ForeignControl(outside=BUILTIN_SETS["EU"], max_single=24.0, max_total=39.0)
    assert ministry.items[4] == Certified(scheme="SecNumCloud", min_level="3.2", min_evidence=Evidence.AUDIT)
    assert ministry.items[5] == ZeroDataRetention()
    bank = tenants["de-bank"].policy
    assert isinstance(bank, AllOf)
    assert bank.items[1] == NotExposedTo(frozenset({"US_CLOUD_ACT", "CN_NIL_ART7"}))
    retailer = tenants["eu-retailer"].policy
    assert retailer == ProcessingIn(BUILTIN_SETS["EEA"] | BUILTIN_SETS["GDPR_ADEQUATE"])
    assert tenants["cn-app"].policy == ProcessingIn(frozenset({"CN"}))


def test_records_are_read_only() -> None:
    topo = load_topology(EXAMPLE)
    with pytest.raises(TypeError):
        topo.backends["x"] = topo.backends["fra-1-ppu"]  # type: ignore[index]
    with pytest.raises(TypeError):
        topo.backends["fra-1-ppu"].models["x"] = topo.backends["fra-1-ppu"].models["qwen3-omni"]  # type: ignore[index]


def test_backend_data_handling_overrides_its_datacenter_key_by_key() -> None:
    doc = base()
    doc["datacenters"]["dc-1"]["data_handling"] = {"retention_days": 0, "human_review": False, "storage_in": ["FR"]}
    doc["backends"]["b-1"]["data_handling"] = {"retention_days": 7, "storage_in": ["EU", "CH"]}
    handling = parse(doc).backends["b-1"].data_handling
    assert handling.retention_days == 7
    assert handling.storage_in == BUILTIN_SETS["EU"] | {"CH"}
    assert handling.human_review is False  # from the datacenter
    assert handling.staff_access_from == {"FR"}  # default: the datacenter's country
    assert handling.abuse_logging is None  # declared nowhere: stays unknown so predicates fail closed
    assert handling.keys_held_by is None


def test_served_as_defaults_to_the_public_name_and_optional_model_fields() -> None:
    digest = "sha256:" + "ab" * 32
    doc = base()
    doc["backends"]["b-1"]["models"]["m"]["weights_digest"] = digest
    doc["backends"]["b-2"] = {
        "datacenter": "dc-1",
        "engine": "embedded",
        "model_path": "/models/qwen.gguf",
        "accelerator": {"vendor": "cpu", "model": "EPYC", "count": 1},
        "capacity": 0.5,
        "max_concurrency": 2,
        "models": {"m": {"served_as": "qwen", "input": ["text", "image"], "output": ["text"]}},
    }
    topo = parse(doc)
    assert topo.backends["b-1"].models["m"].served_as == "m"
    assert topo.backends["b-1"].models["m"].weights_digest == digest
    embedded = topo.backends["b-2"]
    assert (embedded.engine, embedded.url, embedded.model_path) == (Engine.EMBEDDED, None, "/models/qwen.gguf")
    assert (embedded.capacity, embedded.max_concurrency) == (0.5, 2)
    assert embedded.models["m"].served_as == "qwen"


@pytest.mark.parametrize(("written", "level"), [("3", "3"), ("3.2", "3.2"), ("3.20", "3.20"), ('"3.2"', "3.2")])
def test_certification_levels_keep_their_spelling(written: str, level: str) -> None:
    text = dump(base()).replace("level: type2", f"level: {written}")
    assert parse_topology(text, "t.yaml").datacenters["dc-1"].certifications[0].level == level


def test_min_level_written_as_a_number_keeps_its_spelling() -> None:
    text = dump(base()).replace("processing_in: EU", "certified: {scheme: SecNumCloud, min_level: 3.20}")
    assert parse_topology(text, "t.yaml").tenants["t"].policy == Certified(scheme="SecNumCloud", min_level="3.20")


def test_norway_stays_norway() -> None:
    text = dump(base()).replace("country: FR\n    hq: FR", "country: NO\n    hq: 'NO'")
    op = parse_topology(text, "t.yaml").organisations["op"]
    assert (op.country, op.hq) == ("NO", "NO")


def test_file_sets_override_builtins_only_by_explicit_entry() -> None:
    doc: Doc = base()
    doc["jurisdiction_sets"] = {"EU": ["FR", "DE"], "CORE": ["EU", "CH"], "OLD": ["GDPR_ADEQUATE@2025-07"]}
    sets = parse(doc).jurisdiction_sets
    assert sets["EU"] == {"FR", "DE"}
    assert sets["CORE"] == {"FR", "DE", "CH"}
    assert sets["EEA"] == BUILTIN_SETS["EEA"]  # not named by the file, so unchanged
    assert len(sets["EEA"]) == 30
    assert sets["OLD"] == sets["GDPR_ADEQUATE"]


def test_lei_is_accepted_when_its_check_digits_hold() -> None:
    doc = base()
    doc["organisations"]["parent"]["lei"] = "INR2EJN1ERAN0W5ZP974"  # Microsoft Corporation
    assert parse(doc).organisations["parent"].lei == "INR2EJN1ERAN0W5ZP974"


def test_key_digest_matches_the_stored_form() -> None:
    assert key_digest("rg-test-key") == KEY
    assert parse(base()).tenants["t"].key_hashes == (bytes.fromhex(KEY.removeprefix("sha256:")),)


def test_upper_case_key_hex_is_accepted() -> None:
    doc = base()
    doc["tenants"]["t"]["keys"] = [KEY.upper().replace("SHA256:", "sha256:")]
    assert parse(doc).tenants["t"].key_hashes == (bytes.fromhex(KEY.removeprefix("sha256:")),)


def test_several_broken_entries_are_all_reported_in_file_order() -> None:
    doc = base()
    doc["datacenters"]["dc-1"]["city"] = 5
    doc["gateways"]["gw"]["url"] = "ftp://x"
    doc["organisations"]["op"]["hq"] = "XX"
    with pytest.raises(ConfigErrors) as caught:
        parse(doc)
    paths = [error.path for error in caught.value.errors]
    assert paths == ["organisations.op.hq", "datacenters.dc-1.city", "gateways.gw.url"]
    assert caught.value.path == "organisations.op.hq"
    assert "and 2 more" in str(caught.value)


def test_a_broken_organisation_does_not_make_its_users_look_broken() -> None:
    doc = base()
    doc["organisations"]["child"]["hq"] = "??"
    with pytest.raises(ConfigErrors) as caught:
        parse(doc)
    assert [error.path for error in caught.value.errors] == ["organisations.child.hq"]


def test_errors_name_the_line() -> None:
    text = dump(base())
    line = text.splitlines().index("    city: Paris") + 1
    with pytest.raises(ConfigError) as caught:
        parse_topology(text.replace("city: Paris", "city: ''"), "t.yaml")
    assert caught.value.path == "datacenters.dc-1.city"
    assert f"(line {line})" in str(caught.value)
    assert str(caught.value).startswith("t.yaml: datacenters.dc-1.city: ")


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match="cannot read"):
        load_topology(missing)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"version: 1\ncity: \xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_topology(latin)


def test_load_from_a_string_path(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(dump(base()), encoding="utf-8")
    assert load_topology(str(path)).source == str(path)


def test_sections_are_optional_but_version_is_not() -> None:
    topo = parse_topology("version: 1\n", "t.yaml")
    assert dict(topo.backends) == {}
    assert set(topo.jurisdiction_sets) == set(BUILTIN_SETS)


def test_policies_may_name_known_schemes_and_the_file_s_own() -> None:
    doc = base()
    doc["datacenters"]["dc-1"]["certifications"][0]["scheme"] = "HDS"
    doc["tenants"]["t"]["policy"] = {"any_of": [{"certified": {"scheme": "HDS"}}, {"certified": {"scheme": "GaiaX"}}]}
    parse(doc)
