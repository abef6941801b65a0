"""CLI renderings: the explain JSON shape and the rich tables."""

from __future__ import annotations

import datetime as dt

import pytest
from rich.console import Console
from rich.table import Table

from regiongate.policy.ast import AllOf, MaxRetentionDays, ProcessingIn
from regiongate.policy.matrix import ComplianceMatrix
from regiongate.policy.report import explain_json, explain_table, matrix_table
from regiongate.topology.records import DataHandlingSpec
from tests.policy.worlds import CLEAN, backend, datacenter, org, orgs, topology

POLICY = AllOf((ProcessingIn(frozenset({"DE"})), MaxRetentionDays(7)))


@pytest.fixture(scope="module")
def matrix() -> ComplianceMatrix:
    organisations = orgs(org("op", "DE"))
    fra = datacenter("fra", "DE", "op")
    iad = datacenter("iad", "US", "op", handling=DataHandlingSpec(retention_days=30).over(CLEAN))
    world = topology(
        organisations,
        [fra, iad],
        [backend("fra-a", fra), backend("iad-a", iad)],
        {"gw-iad": "iad"},
        {"t": POLICY, "u": MaxRetentionDays(30)},
    )
    return ComplianceMatrix.build(world, dt.date(2026, 11, 24))


def rendered(table: Table) -> str:
    console = Console(record=True, width=240, color_system=None)
    console.print(table)
    return console.export_text()


def test_explain_json_shape(matrix: ComplianceMatrix) -> None:
    assert explain_json(matrix, "t") == {
        "backends": {
            "fra-a": {"allowed": True, "failed": [], "reasons": []},
            "iad-a": {
                "allowed": False,
                "failed": ["processing_in", "max_retention_days"],
                "reasons": ["datacenter country US not in {DE}", "iad-a keeps 30 days > 7"],
            },
        },
        "gateways": {
            "gw-iad": {
                "allowed": False,
                "failed": ["processing_in", "max_retention_days"],
                "reasons": ["datacenter country US not in {DE}", "gw-iad keeps 30 days > 7"],
            }
        },
    }


def test_explain_json_refuses_unknown_tenants(matrix: ComplianceMatrix) -> None:
    with pytest.raises(KeyError):
        explain_json(matrix, "ghost")


def test_matrix_table_marks_each_cell(matrix: ComplianceMatrix) -> None:
    text = rendered(matrix_table(matrix))
    assert "fra-a" in text
    assert "iad-a" in text
    t_row = next(line for line in text.splitlines() if line.startswith("│ t "))
    assert "✓" in t_row
    assert "✗ processing_in, max_retention_days" in t_row
    assert "✗" not in next(line for line in text.splitlines() if line.startswith("│ u "))
    assert "gw-iad" in rendered(matrix_table(matrix, gateways=True))


def test_explain_table_lists_places_and_reasons(matrix: ComplianceMatrix) -> None:
    text = rendered(explain_table(matrix, "t"))
    assert "max_retention_days: iad-a keeps 30 days > 7" in text
    assert "gw-iad" in text
    assert "gateway" in text
