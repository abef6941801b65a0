"""Tour step 7: the closing summary, read back from the gateways' decision records (not from what the client saw);
the same decisions are leaves of the region logs."""

from __future__ import annotations

from collections import Counter, defaultdict

from rich.table import Table

from regiongate.demo.context import Tour, joined
from regiongate.ledger.decisions import DecisionRecord

UNATTRIBUTED = "(no tenant)"  # a record refused before the gateway knew the tenant


async def summary(tour: Tour) -> None:
    tour.heading(7, "Summary from the decision records")
    world = tour.world
    expected = {g: tour.client.sent[world.gateway_url(g).rstrip("/")] for g in world.topology.gateways}
    by_gateway = await world.records(expected)
    records = [r for rs in by_gateway.values() for r in rs]
    sent = sum(expected.values())
    logs = world.log_paths()
    tour.note(
        f"{len(records)} records from {len(by_gateway)} gateways; the same decisions are leaves of {len(logs)} region "
        f"logs ({joined(path.name for path in logs.values())}) under {world.data_dir}"
    )
    tour.checks.expect(
        f"one decision record per request ({sent} sent, {len(records)} recorded)",
        all(len(by_gateway.get(g, ())) == n for g, n in expected.items()),
        joined(f"{g}: {len(by_gateway.get(g, ()))}/{n}" for g, n in expected.items()),
    )
    tour.console.print(_per_datacenter(tour, records))
    tour.console.print(_refusals(tour, records))
    retried = [r for r in records if r.backend is not None and len(r.attempts) > 1]
    if retried:
        moves = Counter(" → ".join(r.attempts) for r in retried)
        paths = joined(f"{m} ×{n}" for m, n in moves.items())
        tour.note(f"{len(retried)} requests were retried inside their compliant set: {paths}")
    violations = out_of_policy(tour, records)
    tour.console.print(f"out-of-policy routings, recomputed from the records against the matrix: {len(violations)}")
    tour.checks.expect(
        "no request was routed, or tried, outside its tenant's policy", not violations, joined(violations)
    )


def tenant_label(tour: Tour, record: DecisionRecord) -> str:
    return tour.world.tenant_of(record.tenant_hash) or UNATTRIBUTED


def out_of_policy(tour: Tour, records: list[DecisionRecord]) -> list[str]:
    """Every routed record whose tenant, gateway, backend or any attempted backend the matrix refuses."""
    matrix = tour.matrix
    found: list[str] = []
    for r in records:
        touched = [*r.attempts, *([r.backend] if r.backend else [])]
        if not touched:
            continue  # refused before any backend was tried
        tenant = tour.world.tenant_of(r.tenant_hash)
        if tenant is None:
            found.append(f"{r.request_id}: routed without a known tenant")
            continue
        if not matrix.gateway_allowed(tenant, r.gateway):
            found.append(f"{r.request_id}: {tenant} processed at {r.gateway}")
        found += [f"{r.request_id}: {tenant} → {b}" for b in touched if not matrix.decision(tenant, b).allowed]
    return found


def _per_datacenter(tour: Tour, records: list[DecisionRecord]) -> Table:
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for r in records:
        counts[tenant_label(tour, r)][r.datacenter or "refused"] += 1
    datacenters = sorted({dc for c in counts.values() for dc in c if dc != "refused"})
    table = Table(title="requests per tenant per datacenter", title_justify="left")
    table.add_column("tenant")
    for dc in datacenters:
        city = tour.world.topology.datacenters[dc].city
        table.add_column(f"{dc}\n{city}", justify="right")
    table.add_column("refused", justify="right")
    table.add_column("total", justify="right")
    for tenant in sorted(counts):
        row = counts[tenant]
        cells = [str(row[dc] or "·") for dc in datacenters]
        table.add_row(tenant, *cells, str(row["refused"] or "·"), str(sum(row.values())))
    return table


def _refusals(tour: Tour, records: list[DecisionRecord]) -> Table:
    refused = [r for r in records if r.outcome == "refused"]
    by_reason: defaultdict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    for r in refused:
        by_reason[r.reason or "?", r.status][tenant_label(tour, r)] += 1
    table = Table(title=f"refusals by reason ({len(refused)})", title_justify="left")
    table.add_column("reason")
    table.add_column("status", justify="right")
    table.add_column("count", justify="right")
    table.add_column("tenants")
    for (reason, status), tenants in sorted(by_reason.items()):
        table.add_row(reason, str(status), str(sum(tenants.values())), joined(f"{t} ×{n}" for t, n in tenants.items()))
    return table
