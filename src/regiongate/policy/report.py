"""Rendering compliance decisions for people and scripts (the CLI's ``check`` and ``explain``).

Pure: builds values (a JSON-ready dict, :class:`rich.table.Table` objects); printing is the caller's business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypedDict

from rich.table import Table
from rich.text import Text

from regiongate.policy.evaluate import Decision
from regiongate.policy.matrix import ComplianceMatrix

ALLOWED_MARK = "✓"
REFUSED_MARK = "✗"


class DecisionJson(TypedDict):
    allowed: bool
    failed: list[str]  # predicate names, in evaluation order
    reasons: list[str]  # reasons[i] explains failed[i]


class ExplainJson(TypedDict):
    backends: dict[str, DecisionJson]
    gateways: dict[str, DecisionJson]


def decision_json(decision: Decision) -> DecisionJson:
    return {
        "allowed": decision.allowed,
        "failed": [f.predicate for f in decision.failed],
        "reasons": [f.reason for f in decision.failed],
    }


def explain_json(matrix: ComplianceMatrix, tenant_id: str) -> ExplainJson:
    """One tenant's decisions for every backend and gateway. Raises KeyError for an unknown tenant."""
    if tenant_id not in matrix.tenants:
        raise KeyError(tenant_id)
    return {
        "backends": {b: decision_json(matrix.decision(tenant_id, b)) for b in matrix.backends},
        "gateways": {g: decision_json(matrix.gateway_decision(tenant_id, g)) for g in matrix.gateways},
    }


def matrix_table(matrix: ComplianceMatrix, *, gateways: bool = False) -> Table:
    """Tenants × backends (or × gateways): ✓ when allowed, ✗ and the failed predicates' names when refused."""
    columns = matrix.gateways if gateways else matrix.backends
    decide: Callable[[str, str], Decision] = matrix.gateway_decision if gateways else matrix.decision
    table = Table(title=f"compliance on {matrix.at.isoformat()}", show_lines=True)
    table.add_column("tenant", style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for tenant_id in matrix.tenants:
        table.add_row(tenant_id, *(_cell(decide(tenant_id, c)) for c in columns))
    return table


def explain_table(matrix: ComplianceMatrix, tenant_id: str) -> Table:
    """One tenant: every backend and gateway, where it is, and every failed predicate with its reason."""
    table = Table(title=f"{tenant_id} on {matrix.at.isoformat()}", show_lines=True)
    for name in ("place", "kind", "datacenter", "country", "decision"):
        table.add_column(name)
    table.add_column("reasons", overflow="fold")
    rows = [(b, matrix.decision(tenant_id, b)) for b in matrix.backends]
    rows += [(g, matrix.gateway_decision(tenant_id, g)) for g in matrix.gateways]
    for place_id, decision in rows:
        place = matrix.place(place_id)
        mark = _mark(decision.allowed)
        reasons = Text("\n".join(str(f) for f in decision.failed))
        table.add_row(place_id, place.kind.value, place.datacenter, place.country, mark, reasons)
    return table


def _cell(decision: Decision) -> Text:
    if decision.allowed:
        return _mark(True)
    names = list(dict.fromkeys(f.predicate for f in decision.failed))
    return Text.assemble(_mark(False), " ", Text(", ".join(names), style="red"))


def _mark(allowed: bool) -> Text:
    return Text(ALLOWED_MARK, style="green") if allowed else Text(REFUSED_MARK, style="bold red")
