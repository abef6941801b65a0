"""Tour steps 1–3: where each tenant's requests go, what a refused gateway answers, and why places are refused."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from regiongate.demo.client import Reply
from regiongate.demo.context import OWNERSHIP_PREDICATES, Tour, joined

COMPLIANT_HEADER = "X-Regiongate-Compliant-Gateways"


async def every_tenant(tour: Tour) -> None:
    tour.heading(1, "Every tenant asks a compliant gateway, plain and streamed")
    table = Table(show_lines=True)
    for name in ("tenant", "gateway", "backend", "datacenter", "service operator", "facility operator"):
        table.add_column(name, overflow="fold")
    table.add_column("accelerator")
    table.add_column("answer (first words)", overflow="fold")
    table.add_column("stream")
    unanswered: list[str] = []
    outside: list[str] = []
    broken_streams: list[str] = []
    for tenant in tour.keys:
        gateway = tour.home(tenant)
        if gateway is None:
            unanswered.append(f"{tenant}: no compliant gateway")
            continue
        plain = await tour.chat(tenant, gateway)
        streamed = await tour.chat(tenant, gateway, stream=True)
        for kind, reply in (("plain", plain), ("streamed", streamed)):
            if not reply.ok:
                unanswered.append(f"{tenant} {kind}: {reply.status} {reply.code}")
            elif reply.backend not in tour.candidates(tenant):
                outside.append(f"{tenant} {kind} → {reply.backend}")
        if not (streamed.done and streamed.chunks > 0):
            broken_streams.append(
                f"{tenant}: {streamed.chunks} chunks, [DONE] {'seen' if streamed.done else 'missing'}"
            )
        table.add_row(*_row(tour, tenant, gateway, plain, streamed))
    tour.console.print(table)
    checks = tour.checks
    total = 2 * len(tour.keys)
    checks.expect(f"every tenant answered, plain and streamed ({total} requests)", not unanswered, joined(unanswered))
    checks.expect("every answer came from a backend the tenant's policy allows", not outside, joined(outside))
    checks.expect(
        "every stream was relayed chunk by chunk and ended with [DONE]", not broken_streams, joined(broken_streams)
    )


def _row(tour: Tour, tenant: str, gateway: str, plain: Reply, streamed: Reply) -> list[Text]:
    stream = f"{streamed.chunks} chunks" + (" + [DONE]" if streamed.done else ", no [DONE]")
    if plain.backend is None or plain.backend not in tour.world.topology.backends:
        failed = Text(f"{plain.status} {plain.code}", style="red")
        return [Text(tenant), Text(gateway), failed, *(Text() for _ in range(5)), Text(stream)]
    place = tour.places.backend(plain.backend)
    where = f"{place.datacenter} · {place.city} ({place.country})"
    cells = (plain.backend, where, place.service_operator, place.facility_operator, place.accelerator)
    return [Text(tenant), Text(gateway), *map(Text, cells), Text(plain.first_words()), Text(stream)]


async def misdirected(tour: Tour) -> None:
    tour.heading(2, "A tenant calls a gateway its policy refuses, then follows the error")
    tenant = tour.misdirecting_tenant()
    if tenant is None:
        tour.checks.expect("some tenant is refused by some gateway", False, "no tenant fits")
        return
    wrong = tour.refused_gateways(tenant)[0]
    dc = tour.world.topology.datacenters[tour.world.topology.gateways[wrong].datacenter]
    tour.console.print(
        f"{tenant} → {wrong} ({dc.city}, {dc.country}) at {tour.world.gateway_url(wrong)}", highlight=False
    )
    refused = await tour.chat(tenant, wrong)
    tour.note(f"  {refused.status} {refused.code}: {refused.error.get('message', '')}")
    listed = [u.strip() for u in refused.headers.get(COMPLIANT_HEADER, "").split(",") if u.strip()]
    expected = [tour.world.gateway_url(g) for g in tour.matrix.compliant_gateways(tenant)]
    tour.checks.expect(
        f"{wrong} refuses {tenant} with 421 gateway_not_compliant",
        refused.status == 421 and refused.code == "gateway_not_compliant",
        f"got {refused.status} {refused.code}",
    )
    tour.checks.expect(
        f"the 421 names the compliant gateways in {COMPLIANT_HEADER}",
        sorted(listed) == sorted(expected),
        f"listed {joined(listed)}; compliant {joined(expected)}",
    )
    if not listed:
        return
    follow = listed[0]
    gateway = tour.world.gateway_at(follow)
    retried = await tour.client.chat(follow, tour.keys[tenant], tour.prompt(tenant))
    tour.console.print(
        escape(f"{tenant} → {gateway} at {follow}: {retried.status}, by {retried.backend}: “{retried.first_words()}”"),
        highlight=False,
    )
    tour.checks.expect(
        f"following the error, {tenant} is answered at {gateway} by a compliant backend",
        retried.ok and retried.backend in tour.candidates(tenant),
        f"got {retried.status} {retried.code} from {retried.backend}",
    )


def refusals(tour: Tour) -> None:
    tour.heading(3, "Why places are refused: the failed predicates")
    narrow = tour.narrowest_tenant()
    if narrow is not None:
        allowed = tour.candidates(narrow)
        title = f"{narrow} may use only {joined(_where(tour, b) for b in allowed)}"
        tour.console.print(_reasons_table(tour, narrow, tour.matrix.backends, title))
        gateways = tour.matrix.compliant_gateways(narrow)
        tour.note(f"gateways: {joined(gateways)} allowed; {joined(tour.refused_gateways(narrow))} refused")
        refused = [b for b in tour.matrix.backends if b not in allowed]
        unexplained = [b for b in refused if not tour.matrix.decision(narrow, b).failed]
        tour.checks.expect(
            f"each of the {len(refused)} backends refused to {narrow} is refused with reasons",
            not unexplained,
            f"no reason for {joined(unexplained)}",
        )
    owned = tour.ownership_tenant()
    if owned is None:
        tour.checks.expect("some backend is refused for who owns or operates it", False, "no tenant fits")
        return
    city = _contrast_city(tour, owned)
    here = [b for b in tour.matrix.backends if _city(tour, b) == city]
    tour.console.print(_reasons_table(tour, owned, here, f"{owned} in {city}"))
    for_owner = [b for b in tour.ownership_refusals(owned) if b in here]
    unexplained = [
        b
        for b in for_owner
        if b in tour.candidates(owned)
        or not all(f.reason for f in tour.matrix.decision(owned, b).failed if f.predicate in OWNERSHIP_PREDICATES)
    ]
    tour.checks.expect(
        f"{joined(for_owner)} refused to {owned} for who controls them, each reason naming the party",
        bool(for_owner) and not unexplained,
        joined(unexplained),
    )


def _contrast_city(tour: Tour, tenant: str) -> str:
    """The city with the most backends refused to ``tenant`` for ownership, preferring one where it also has an
    allowed backend (same city, different owners: the contrast the tour wants to show)."""
    refused = tour.ownership_refusals(tenant)
    allowed = {_city(tour, b) for b in tour.candidates(tenant)}

    def score(city: str) -> tuple[bool, int]:
        return city in allowed, sum(1 for b in refused if _city(tour, b) == city)

    return max(sorted({_city(tour, b) for b in refused}), key=score)


def _city(tour: Tour, backend: str) -> str:
    return tour.world.topology.datacenters[tour.world.topology.backends[backend].datacenter].city


def _where(tour: Tour, backend: str) -> str:
    return f"{backend} ({_city(tour, backend)})"


def _reasons_table(tour: Tour, tenant: str, backends: tuple[str, ...] | list[str], title: str) -> Table:
    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column("backend")
    table.add_column("where")
    table.add_column("decision")
    table.add_column("failed predicates", overflow="fold")
    for backend in backends:
        decision = tour.matrix.decision(tenant, backend)
        place = tour.places.backend(backend)
        mark = Text("✓ allowed", style="green") if decision.allowed else Text("✗ refused", style="red")
        reasons = "\n".join(str(f) for f in decision.failed)
        table.add_row(backend, f"{place.datacenter} · {place.city}", mark, reasons)
    return table
