"""The example topology, decided on 2026-11-24: the sets every other part of regiongate relies on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import regiongate
from regiongate.policy.matrix import ComplianceMatrix
from regiongate.policy.report import explain_json
from regiongate.topology.loader import load_topology
from regiongate.topology.records import Modality, Topology

EXAMPLE = Path(regiongate.__file__).parent / "data" / "example-topology.yaml"
DAY = dt.date(2026, 11, 24)
MODEL = "qwen3-omni"

BACKENDS = {
    "eu-ministry": ("par-1-cpu",),
    "de-bank": ("fra-3-h200", "par-1-cpu"),
    "eu-retailer": ("ams-1-mi300", "fra-1-h20", "fra-1-ppu", "fra-2-h100", "fra-3-h200", "par-1-cpu"),
    "br-fintech": ("gru-1-ppu",),
    "global-startup": ("ams-1-mi300", "fra-1-h20", "fra-1-ppu", "fra-3-h200", "par-1-cpu"),
    "cn-app": ("hgh-1-ascend",),
}
GATEWAYS = {
    "eu-ministry": ("gw-par",),
    "de-bank": ("gw-fra3", "gw-par"),
    "eu-retailer": ("gw-fra", "gw-fra3", "gw-par"),
    "br-fintech": ("gw-gru",),
    "global-startup": ("gw-fra", "gw-fra3", "gw-par"),
    "cn-app": ("gw-hgh",),
}


def load_example() -> Topology:
    return load_topology(EXAMPLE)


@pytest.fixture(scope="module")
def matrix() -> ComplianceMatrix:
    return ComplianceMatrix.build(load_example(), DAY)


def test_allowed_backends(matrix: ComplianceMatrix) -> None:
    assert {t: matrix.allowed_backends(t) for t in matrix.tenants} == BACKENDS


def test_allowed_gateways(matrix: ComplianceMatrix) -> None:
    assert {t: matrix.compliant_gateways(t) for t in matrix.tenants} == GATEWAYS


def test_candidates_follow_modalities(matrix: ComplianceMatrix) -> None:
    video = frozenset({Modality.TEXT, Modality.VIDEO})
    assert matrix.candidates("de-bank", MODEL, frozenset({Modality.TEXT})) == ("fra-3-h200", "par-1-cpu")
    assert matrix.candidates("de-bank", MODEL, video) == ("fra-3-h200",)  # par-1 serves no video
    assert matrix.candidates("eu-ministry", MODEL, video) == ()
    assert matrix.refusals("eu-ministry", MODEL, video)["par-1-cpu"] == ("lacks modality video",)
    assert all(matrix.models_for(t) == (MODEL,) for t in matrix.tenants)


def test_reasons_name_the_parties(matrix: ComplianceMatrix) -> None:
    bank = explain_json(matrix, "de-bank")["backends"]
    assert bank["fra-1-ppu"]["reasons"] == ["alibaba-cloud-de exposed to CN_NIL_ART7 via alibaba-group"]
    assert bank["fra-2-h100"]["reasons"] == ["microsoft-de exposed to US_CLOUD_ACT via microsoft-corp"]
    assert bank["ams-1-mi300"]["failed"] == ["not_exposed_to"]
    ministry = explain_json(matrix, "eu-ministry")["backends"]
    # fra-3's building belongs to Vodafone Germany, wholly held from the UK: the facility operator counts.
    assert ministry["fra-3-h200"]["failed"] == ["foreign_control", "certified"]
    assert ministry["fra-3-h200"]["reasons"][0] == (
        "vodafone-de: vodafone-group (GB) holds 100% > 24; vodafone-de: foreign total 100% > 39"
    )


def test_the_matrix_expires_with_the_next_certificate(matrix: ComplianceMatrix) -> None:
    assert matrix.valid_until() == dt.date(2027, 7, 1)  # GaiaX at par-1 is valid through 2027-06-30
    after_secnumcloud = ComplianceMatrix.build(load_example(), dt.date(2028, 4, 1))
    assert after_secnumcloud.allowed_backends("eu-ministry") == ()
    assert after_secnumcloud.compliant_gateways("eu-ministry") == ()
