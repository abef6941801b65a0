"""A realistic topology for benchmarks: 27 datacenters in 20 countries run by 31 organisations (subsidiaries of US and
Chinese groups, EU telcos, sovereign clouds with minority foreign shareholders), 60 backends, 23 tenants with varied
policies, 9 gateways. Every backend URL points at one of the given upstreams (round robin), so one fake upstream
process can stand in for all of them. Follows ``/work/shared/design/topology.md`` and the example topology.

The benchmark tenant is ``bench-eu-bank`` (EU processing, no US or Chinese reach, retention ≤ 7 days: 23 compliant
backends in 10 datacenters); its gateway ``gw-bench`` runs in ``fra-a``, which is compliant for it.

    python bench/topology_gen.py --upstream http://127.0.0.1:8300/v1 --gateway-port 8500 --out /tmp/topology.yaml
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

BENCH_TENANT = "bench-eu-bank"
BENCH_GATEWAY = "gw-bench"
BENCH_REGION = "eu-central"  # the region of fra-a, the gateway's datacenter: its log is the one written
MODEL = "qwen3-omni"


def api_key(tenant: str) -> str:
    return f"rg-bench-{tenant}"


def _digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _org(name: str, country: str, hq: str, *parents: tuple[str, int, int]) -> dict[str, Any]:
    org: dict[str, Any] = {"name": name, "country": country, "hq": hq}
    if parents:
        org["parents"] = [{"org": p, "capital": capital, "voting": voting} for p, capital, voting in parents]
    return org


ORGANISATIONS = {
    "stratus-inc": _org("Stratus Cloud Inc.", "US", "US"),
    "stratus-de": _org("Stratus Cloud Deutschland GmbH", "DE", "DE", ("stratus-inc", 100, 100)),
    "stratus-fr": _org("Stratus Cloud France SAS", "FR", "FR", ("stratus-inc", 100, 100)),
    "stratus-ie": _org("Stratus Cloud Ireland Ltd", "IE", "IE", ("stratus-inc", 100, 100)),
    "dragon-group": _org("Dragon Cloud Holding Ltd", "KY", "CN"),
    "dragon-de": _org("Dragon Cloud (Germany) GmbH", "DE", "DE", ("dragon-group", 100, 100)),
    "dragon-nl": _org("Dragon Cloud (Netherlands) B.V.", "NL", "NL", ("dragon-group", 100, 100)),
    "dragon-sg": _org("Dragon Cloud Singapore Pte Ltd", "SG", "SG", ("dragon-group", 100, 100)),
    "dragon-cn": _org("Dragon Cloud Computing Co. Ltd", "CN", "CN", ("dragon-group", 100, 100)),
    "teleurope": _org("Teleurope SE", "DE", "DE"),
    "teleurope-es": _org("Teleurope Espana S.A.", "ES", "ES", ("teleurope", 100, 100)),
    "teleurope-it": _org("Teleurope Italia S.p.A.", "IT", "IT", ("teleurope", 100, 100)),
    "fonds-numerique": _org("Fonds Numerique Souverain", "FR", "FR"),
    "atlantic-pe": _org("Atlantic Private Equity LLC", "US", "US"),
    "azur-cloud": _org("Azur Cloud SAS", "FR", "FR", ("fonds-numerique", 70, 70), ("atlantic-pe", 20, 20)),
    "rhein-colo": _org("Rhein Colocation GmbH", "DE", "DE"),
    "polder-dc": _org("Polder Datacenters B.V.", "NL", "NL"),
    "vistula-cloud": _org("Vistula Cloud S.A.", "PL", "PL"),
    "nordvik-cloud": _org("Nordvik Cloud AB", "SE", "SE"),
    "suomi-compute": _org("Suomi Compute Oy", "FI", "FI", ("nordvik-cloud", 30, 30)),
    "alpen-cloud": _org("Alpen Cloud AG", "CH", "CH"),
    "fjord-dc": _org("Fjord Datasenter AS", "NO", "NO"),
    "thames-cloud": _org("Thames Cloud Ltd", "GB", "GB"),
    "sakura-compute": _org("Sakura Compute K.K.", "JP", "JP"),
    "paulista-colo": _org("Paulista Colocation Ltda", "BR", "BR"),
    "cerrado-cloud": _org("Cerrado Cloud Ltda", "BR", "BR"),
    "merlion-dc": _org("Merlion Datacentres Pte Ltd", "SG", "SG"),
    "potomac-colo": _org("Potomac Colocation LLC", "US", "US"),
    "maple-cloud": _org("Maple Cloud Inc.", "CA", "CA"),
    "southern-cross": _org("Southern Cross Compute Pty Ltd", "AU", "AU"),
    "deccan-cloud": _org("Deccan Cloud Pvt Ltd", "IN", "IN"),
}

_ZDR = {"retention_days": 0, "abuse_logging": False, "human_review": False}
_KEPT = {"retention_days": 30, "abuse_logging": True, "human_review": True}
_C5 = {"scheme": "C5", "level": "type2", "valid_until": "2030-12-31", "evidence": "audit"}
_ISO = {"scheme": "ISO27001", "valid_until": "2030-12-31", "evidence": "audit"}
_SNC = {"scheme": "SecNumCloud", "level": "3.2", "valid_until": "2030-12-31", "evidence": "audit"}

# id: region, country, city, facility operator, service operator, certifications, data handling (staff from, keys)
DATACENTERS: dict[str, tuple[str, str, str, str, str, list[dict[str, str]], dict[str, Any], list[str], str]] = {
    "fra-a": ("eu-central", "DE", "Frankfurt", "rhein-colo", "teleurope", [_C5, _ISO], _ZDR, ["DE"], "customer"),
    "fra-b": (
        "eu-central",
        "DE",
        "Frankfurt",
        "rhein-colo",
        "stratus-de",
        [_C5],
        _KEPT,
        ["DE", "IE", "US"],
        "operator",
    ),
    "ber-a": ("eu-central", "DE", "Berlin", "teleurope", "teleurope", [_C5], _ZDR, ["DE"], "customer"),
    "muc-a": ("eu-central", "DE", "Munich", "rhein-colo", "dragon-de", [_ISO], _ZDR, ["DE", "CN"], "operator"),
    "par-a": ("eu-west", "FR", "Paris", "azur-cloud", "azur-cloud", [_SNC, _ISO], _ZDR, ["FR"], "customer"),
    "par-b": ("eu-west", "FR", "Paris", "azur-cloud", "stratus-fr", [_ISO], _KEPT, ["FR", "US"], "operator"),
    "mrs-a": ("eu-west", "FR", "Marseille", "azur-cloud", "azur-cloud", [_SNC], _ZDR, ["FR"], "customer"),
    "ams-a": ("eu-west", "NL", "Amsterdam", "polder-dc", "polder-dc", [_ISO], _ZDR, ["NL"], "operator"),
    "ams-b": ("eu-west", "NL", "Amsterdam", "polder-dc", "dragon-nl", [], _ZDR, ["NL"], "operator"),
    "dub-a": ("eu-west", "IE", "Dublin", "stratus-ie", "stratus-ie", [_ISO], _KEPT, ["IE", "US"], "operator"),
    "mad-a": ("eu-south", "ES", "Madrid", "teleurope-es", "teleurope-es", [_ISO], _ZDR, ["ES"], "customer"),
    "mil-a": (
        "eu-south",
        "IT",
        "Milan",
        "teleurope-it",
        "teleurope-it",
        [],
        {**_ZDR, "retention_days": 7},
        ["IT"],
        "operator",
    ),
    "waw-a": ("eu-east", "PL", "Warsaw", "vistula-cloud", "vistula-cloud", [_ISO], _ZDR, ["PL"], "customer"),
    "sto-a": ("eu-north", "SE", "Stockholm", "nordvik-cloud", "nordvik-cloud", [_ISO], _ZDR, ["SE"], "customer"),
    "hel-a": ("eu-north", "FI", "Helsinki", "suomi-compute", "suomi-compute", [], _ZDR, ["FI"], "operator"),
    "zrh-a": ("eu-alps", "CH", "Zurich", "alpen-cloud", "alpen-cloud", [_ISO], _ZDR, ["CH"], "customer"),
    "osl-a": ("eu-north", "NO", "Oslo", "fjord-dc", "fjord-dc", [], _ZDR, ["NO"], "operator"),
    "lon-a": ("uk-south", "GB", "London", "thames-cloud", "thames-cloud", [_ISO], _KEPT, ["GB"], "operator"),
    "tyo-a": ("ap-northeast", "JP", "Tokyo", "sakura-compute", "sakura-compute", [_ISO], _ZDR, ["JP"], "operator"),
    "gru-a": (
        "sa-east",
        "BR",
        "Sao Paulo",
        "paulista-colo",
        "cerrado-cloud",
        [],
        {**_ZDR, "retention_days": 7},
        ["BR"],
        "operator",
    ),
    "gru-b": ("sa-east", "BR", "Sao Paulo", "paulista-colo", "stratus-inc", [_ISO], _KEPT, ["BR", "US"], "operator"),
    "sin-a": ("ap-southeast", "SG", "Singapore", "merlion-dc", "dragon-sg", [], _KEPT, ["SG", "CN"], "operator"),
    "hgh-a": ("cn-east", "CN", "Hangzhou", "dragon-cn", "dragon-cn", [], _KEPT, ["CN"], "operator"),
    "iad-a": ("us-east", "US", "Ashburn", "potomac-colo", "stratus-inc", [_ISO], _KEPT, ["US"], "operator"),
    "yul-a": ("ca-east", "CA", "Montreal", "maple-cloud", "maple-cloud", [_ISO], _ZDR, ["CA"], "customer"),
    "syd-a": ("ap-southeast", "AU", "Sydney", "southern-cross", "southern-cross", [], _ZDR, ["AU"], "operator"),
    "bom-a": (
        "ap-south",
        "IN",
        "Mumbai",
        "deccan-cloud",
        "deccan-cloud",
        [],
        {**_ZDR, "retention_days": 7},
        ["IN"],
        "operator",
    ),
}
_SUBPROCESSORS = {"fra-b": ["stratus-ie"], "gru-b": ["cerrado-cloud"]}
_INSTRUCT, _THINKING = "Qwen/Qwen3-Omni-30B-A3B-Instruct", "Qwen/Qwen3-Omni-30B-A3B-Thinking"
_ALL_IN, _AUDIO_OUT = ("text", "image", "audio", "video"), ("text", "audio")
# (accelerator vendor, model, count, capacity, served as, input modalities, output modalities)
ACCELERATORS = [
    ("nvidia", "H100", 8, 10.0, _INSTRUCT, _ALL_IN, _AUDIO_OUT),
    ("nvidia", "H200", 8, 12.0, _INSTRUCT, _ALL_IN, _AUDIO_OUT),
    ("amd", "MI300X", 8, 8.0, _THINKING, _ALL_IN, ("text",)),
    ("t-head", "PPU-810E", 8, 6.0, _INSTRUCT, _ALL_IN, _AUDIO_OUT),
    ("huawei", "Ascend-910B", 16, 12.0, _INSTRUCT, ("text", "image", "audio"), ("text",)),
    ("nvidia", "L40S", 4, 3.0, _INSTRUCT, ("text", "image"), ("text",)),
    ("cpu", "EPYC-9654", 2, 1.0, _INSTRUCT, ("text",), ("text",)),
]
_THREE_BACKENDS = {"fra-a", "par-a", "ams-a", "iad-a", "tyo-a", "gru-a"}  # 27 x 2 + 6 = 60

EU_BANK = {"all_of": [{"processing_in": "EU"}, {"not_exposed_to": ["US_CLOUD_ACT", "CN_NIL_ART7"]},
                      {"max_retention_days": 7}]}  # fmt: skip
TENANT_POLICIES: dict[str, Any] = {
    BENCH_TENANT: EU_BANK,
    "eu-ministry": {"all_of": [
        {"processing_in": "EU"}, {"storage_in": "EU"}, {"operator_hq_in": "EU"},
        {"foreign_control": {"outside": "EU", "max_single": 24, "max_total": 39}},
        {"certified": {"scheme": "SecNumCloud", "min_level": "3.2", "min_evidence": "audit"}},
        {"zero_data_retention": True}, {"staff_access_from": "EU"}]},
    "de-insurer": {"all_of": [{"processing_in": ["DE"]}, {"certified": {"scheme": "C5", "min_level": "type2"}}]},
    "eu-retailer": {"processing_in": ["EEA", "GDPR_ADEQUATE"]},
    "eu-health": {"all_of": [{"processing_in": "EU"}, {"zero_data_retention": True}, {"no_human_review": True},
                             {"keys_held_by": "customer"}]},
    "nordic-gov": {"all_of": [{"processing_in": "NORDICS"}, {"ultimate_parent_in": "NORDICS"}]},
    "ch-bank": {"all_of": [{"processing_in": ["CH"]}, {"storage_in": ["CH"]}, {"staff_access_from": ["CH"]}]},
    "uk-fintech": {"all_of": [{"processing_in": ["GB", "EEA"]}, {"max_retention_days": 30}]},
    "br-fintech": {"all_of": [{"processing_in": ["BR"]}, {"storage_in": ["BR"]}]},
    "latam-media": {"processing_in": "LATAM"},
    "cn-app": {"processing_in": ["CN"]},
    "jp-manufacturer": {"all_of": [{"processing_in": ["JP"]}, {"zero_data_retention": True}]},
    "us-startup": {"processing_in": ["US", "CA"]},
    "global-startup": {"all_of": [{"zero_data_retention": True}, {"no_human_review": True}]},
    "eu-no-china": {"all_of": [{"processing_in": "EU"}, {"ultimate_parent_not_in": ["CN"]}]},
    "eu-no-us": {"all_of": [{"processing_in": "EU"}, {"not_exposed_to": ["US_CLOUD_ACT"]}]},
    "apac-retail": {"processing_in": ["SG", "JP", "AU", "IN"]},
    "de-or-certified-fr": {"any_of": [
        {"processing_in": ["DE"]},
        {"all_of": [{"processing_in": ["FR"]}, {"certified": {"scheme": "SecNumCloud", "min_evidence": "audit"}}]}]},
    "eea-not-ireland": {"all_of": [{"processing_in": "EEA"}, {"not": {"processing_in": ["IE"]}}]},
    "eu-research": {"all_of": [{"processing_in": "EU"}, {"models": [MODEL]}]},
    "ca-gov": {"all_of": [{"processing_in": ["CA"]}, {"operator_hq_in": ["CA"]}]},
    "au-health": {"all_of": [{"processing_in": ["AU"]}, {"staff_access_from": ["AU"]}]},
    "in-payments": {"all_of": [{"processing_in": ["IN"]}, {"storage_in": ["IN"]}]},
}  # fmt: skip
GATEWAYS = ["par-a", "ams-a", "sto-a", "zrh-a", "lon-a", "gru-a", "hgh-a", "iad-a"]


def generate(upstreams: Sequence[str], gateway_port: int, other_gateway_ports: int = 18600) -> dict[str, Any]:
    """The topology as plain data; ``upstreams`` are base URLs ending in ``/v1``."""
    urls = itertools.cycle(upstreams)
    accelerators = itertools.cycle(ACCELERATORS)
    datacenters: dict[str, Any] = {}
    backends: dict[str, Any] = {}
    for dc, (region, country, city, facility, service, certs, handling, staff, keys) in DATACENTERS.items():
        datacenters[dc] = {"region": region, "country": country, "city": city, "facility_operator": facility,
                           "service_operator": service}  # fmt: skip
        if dc in _SUBPROCESSORS:
            datacenters[dc]["subprocessors"] = list(_SUBPROCESSORS[dc])
        if certs:
            datacenters[dc]["certifications"] = [dict(c) for c in certs]
        datacenters[dc]["data_handling"] = {**handling, "staff_access_from": list(staff), "keys_held_by": keys}
        for n in range(3 if dc in _THREE_BACKENDS else 2):
            vendor, model, count, capacity, served_as, inputs, outputs = next(accelerators)
            backends[f"{dc}-{model.lower()}-{n}"] = {
                "datacenter": dc, "engine": "openai", "url": next(urls),
                "accelerator": {"vendor": vendor, "model": model, "count": count},
                "capacity": capacity, "max_concurrency": 64 * count,
                "models": {MODEL: {"served_as": served_as, "input": list(inputs), "output": list(outputs)}},
            }  # fmt: skip
    gateways = {BENCH_GATEWAY: {"datacenter": "fra-a", "url": f"http://127.0.0.1:{gateway_port}/v1"}}
    for i, dc in enumerate(GATEWAYS):
        gateways[f"gw-{dc}"] = {"datacenter": dc, "url": f"http://127.0.0.1:{other_gateway_ports + i}/v1"}
    tenants = {t: {"keys": [_digest(api_key(t))], "policy": policy} for t, policy in TENANT_POLICIES.items()}
    return {
        "version": 1,
        "jurisdiction_sets": {"LATAM": ["AR", "BR", "CL", "CO", "MX", "PE", "UY"],
                              "NORDICS": ["DK", "FI", "IS", "NO", "SE"]},
        "organisations": ORGANISATIONS,
        "datacenters": datacenters,
        "backends": backends,
        "gateways": gateways,
        "tenants": tenants,
    }  # fmt: skip


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # every repeated value written out in full: a topology file has no anchors


def render(upstreams: Sequence[str], gateway_port: int) -> str:
    header = "# Generated by bench/topology_gen.py for bench/overhead.py: invented organisations, loopback URLs.\n"
    return header + yaml.dump(generate(upstreams, gateway_port), Dumper=_Dumper, sort_keys=False, width=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", action="append", required=True, help="backend base URL, .../v1 (repeatable)")
    parser.add_argument("--gateway-port", type=int, default=8500)
    parser.add_argument("--out", type=Path, help="default: standard output")
    args = parser.parse_args()
    text = render(args.upstream, args.gateway_port)
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text)
        print(f"{args.out}: tenant {BENCH_TENANT!r} (key {api_key(BENCH_TENANT)}) at gateway {BENCH_GATEWAY!r}")


if __name__ == "__main__":
    main()
