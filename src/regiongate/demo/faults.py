"""Tour steps 4–5: a compliant backend dies mid-traffic (failover inside the set), then every compliant backend of
a tenant is down (fail-closed: 503, and nothing is sent anywhere else)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from regiongate.demo.client import Reply
from regiongate.demo.context import Tour, joined

FAILOVER_REQUESTS = 60
FAILOVER_WORKERS = 6
KILL_AFTER = 20  # answers received before the busiest backend is killed
ANSWER_DELAY = 0.05  # seconds each backend takes during failover, so that requests are in flight at the kill
FAIL_CLOSED_REQUESTS = 4


@dataclass(slots=True)
class _Answered:
    reply: Reply
    after_kill: bool  # sent once the kill had completed


async def failover(tour: Tour) -> None:
    tour.heading(4, "Failover: a compliant backend dies mid-traffic")
    tenant = tour.failover_tenant()
    if tenant is None:
        tour.checks.expect("some tenant has several compliant backends", False, "no tenant fits")
        return
    gateway = tour.home(tenant)
    assert gateway is not None  # cast() only picks tenants with a compliant gateway
    allowed = tour.candidates(tenant)
    tour.console.print(f"{tenant} via {gateway}; compliant backends: {joined(allowed)}", highlight=False)
    engines = tour.world.engines
    for backend in allowed:
        engines[backend].slow_down(ANSWER_DELAY)
    answered: list[_Answered] = []
    killed: list[str] = []
    kill_done = asyncio.Event()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(FAILOVER_REQUESTS):
        queue.put_nowait(n)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=tour.console) as progress:
        bar = progress.add_task(f"{tenant} requests", total=FAILOVER_REQUESTS)

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                sent_after_kill = kill_done.is_set()
                reply = await tour.chat(tenant, gateway, stream=len(answered) % 2 == 1)
                answered.append(_Answered(reply, sent_after_kill))
                progress.advance(bar)
                if len(answered) == KILL_AFTER and not killed:
                    busiest = Counter(a.reply.backend for a in answered if a.reply.backend).most_common(1)
                    killed.append(busiest[0][0] if busiest else allowed[0])
                    progress.console.print(f"  killing {killed[0]} after {KILL_AFTER} answers", highlight=False)
                    await engines[killed[0]].kill()
                    kill_done.set()

        await asyncio.gather(*(worker() for _ in range(FAILOVER_WORKERS)))
    for backend in allowed:
        engines[backend].slow_down(0)
    victim = killed[0] if killed else ""
    tour.console.print(_spread_table(answered, allowed, victim))
    cut = [a for a in answered if _cut_by_the_kill(a, victim)]
    failed = [f"{a.reply.status} {a.reply.code}" for a in answered if not a.reply.ok and a not in cut]
    outside = [f"{a.reply.backend}" for a in answered if a.reply.ok and a.reply.backend not in allowed]
    late = sum(1 for a in answered if a.after_kill and a.reply.backend == victim)
    checks = tour.checks
    if cut:
        tour.note(
            f"  {len(cut)} streamed {_plural(len(cut), 'answer')} already flowing from {victim} when it died "
            "ended with an OpenAI error event: bytes had reached the client, so the gateway does not replay it"
        )
    answered_label = f"all {FAILOVER_REQUESTS} requests answered across the kill"
    if cut:
        answered_label += f" (but the {len(cut)} {_plural(len(cut), 'stream')} it cut mid-answer)"
    checks.expect(answered_label, not failed, joined(failed))
    checks.expect("every answer came from the compliant set", not outside, joined(outside))
    checks.expect(f"no request sent after the kill was answered by {victim}", late == 0, f"{late} were")
    left = await tour.world.wait_healthy(victim, healthy=False)
    watching = joined(tour.world.gateways_routing_to(victim))
    checks.expect(f"the health checks of every gateway routing to it ({watching}) took {victim} out", left)
    await engines[victim].restart()
    back = await tour.world.wait_healthy(victim, healthy=True)
    checks.expect(f"{victim} restarted and back in those gateways' rotation", back)


def _cut_by_the_kill(answered: _Answered, victim: str) -> bool:
    """A stream the victim had begun answering before the kill, ended by the gateway's error event."""
    reply = answered.reply
    return (
        not answered.after_kill
        and reply.status == 200
        and reply.backend == victim
        and reply.chunks > 0
        and bool(reply.error)
    )


def _spread_table(answered: list[_Answered], allowed: tuple[str, ...], victim: str) -> Table:
    before = Counter(a.reply.backend for a in answered if not a.after_kill and a.reply.ok)
    after = Counter(a.reply.backend for a in answered if a.after_kill and a.reply.ok)
    table = Table(title="answers per backend", title_justify="left")
    table.add_column("backend")
    table.add_column("sent before the kill", justify="right")
    table.add_column("sent after it", justify="right")
    for backend in allowed:
        label = f"{backend} [red](killed)[/]" if backend == victim else backend
        table.add_row(label, str(before[backend]), str(after[backend]))
    return table


async def fail_closed(tour: Tour) -> None:
    tour.heading(5, "Fail-closed: every compliant backend of a tenant is down")
    tenant = tour.fail_closed_tenant()
    if tenant is None:
        tour.checks.expect("some tenant has a compliant backend", False, "no tenant fits")
        return
    gateway = tour.home(tenant)
    assert gateway is not None
    allowed = tour.candidates(tenant)
    engines = tour.world.engines
    others = [b for b, e in engines.items() if b not in allowed and e.running]
    tour.console.print(
        f"stopping {joined(allowed)}, the only {_plural(len(allowed), 'backend')} {tenant} may use; "
        f"{len(others)} others keep running"
    )
    for backend in allowed:
        await engines[backend].stop()
    before = await tour.world.inference_counts()
    replies = [await tour.chat(tenant, gateway, stream=n % 2 == 1) for n in range(FAIL_CLOSED_REQUESTS)]
    moved = {b: n - before[b] for b, n in (await tour.world.inference_counts()).items() if n != before[b]}
    first = replies[0]
    retry_after = first.headers.get("Retry-After")
    tour.note(f"  {first.status} {first.code}, Retry-After {retry_after}: {first.error.get('message', '')}")
    wrong = [f"{r.status} {r.code}" for r in replies if r.status != 503 or r.code != "no_compliant_capacity"]
    no_retry_after = [r for r in replies if not r.headers.get("Retry-After", "").isdigit()]
    checks = tour.checks
    checks.expect(
        f"{tenant} gets 503 no_compliant_capacity ({FAIL_CLOSED_REQUESTS} requests, plain and streamed)",
        not wrong,
        joined(wrong),
    )
    checks.expect("each 503 carries Retry-After", not no_retry_after, f"{len(no_retry_after)} without")
    checks.expect(
        f"no other backend received any of {tenant}'s requests",
        not moved,
        joined(f"{b} +{n}" for b, n in sorted(moved.items())),
    )
    bystander = next((t for t in tour.keys if t != tenant and set(tour.candidates(t)) - set(allowed)), None)
    if bystander is not None:
        home = tour.home(bystander)
        reply = await tour.chat(bystander, home) if home else None
        checks.expect(
            f"meanwhile {bystander} is still served (by {reply.backend if reply else None})",
            reply is not None and reply.ok,
        )
    for backend in allowed:
        await engines[backend].start()
    recovered = all([await tour.world.wait_healthy(b, healthy=True) for b in allowed])
    again = await _served_again(tour, tenant, gateway)
    checks.expect(
        f"once {joined(allowed)} is back, {tenant} is served again",
        recovered and again.ok and again.backend in allowed,
        f"{again.status} {again.code}",
    )


async def _served_again(tour: Tour, tenant: str, gateway: str, patience: float = 5.0) -> Reply:
    """Ask until answered, waiting as each 503's Retry-After says (at most a second: the demo's breakers cool
    down in one), as a well-behaved client would."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        reply = await tour.chat(tenant, gateway)
        if reply.ok or loop.time() >= deadline:
            return reply
        retry_after = reply.headers.get("Retry-After", "")
        await asyncio.sleep(min(1.0, int(retry_after)) if retry_after.isdigit() else 0.2)


def _plural(n: int, word: str) -> str:
    return word if n == 1 else f"{word}s"
