"""What every step of the tour shares (world, client, console, checklist) and which tenant plays which part."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from regiongate.demo.checks import Checklist
from regiongate.demo.client import MODEL, DemoClient, Reply, demo_key
from regiongate.demo.places import Places
from regiongate.demo.world import World
from regiongate.policy.matrix import ComplianceMatrix
from regiongate.topology.records import Modality

TEXT_ONLY = frozenset({Modality.TEXT})
PROMPTS = {
    "eu-ministry": "Résume la note interministérielle en trois points.",
    "de-bank": "Fasse die Kreditrisikoanalyse kurz zusammen.",
    "eu-retailer": "Write a product description for a rain jacket.",
    "br-fintech": "Resuma o extrato do cliente em uma frase.",
    "global-startup": "Draft a friendly onboarding email.",
    "cn-app": "用一句话总结这段对话。",
}


@dataclass(slots=True)
class Tour:
    world: World
    client: DemoClient
    console: Console
    checks: Checklist
    places: Places
    keys: dict[str, str]  # tenant id -> its demo API key (tenants without one are left out of the tour)

    @classmethod
    def of(cls, world: World, client: DemoClient, console: Console) -> Tour:
        tenants = world.topology.tenants.values()
        keys = {t.id: key for t in sorted(tenants, key=lambda t: t.id) if (key := demo_key(t)) is not None}
        return cls(world, client, console, Checklist(console), Places(world.topology), keys)

    @property
    def matrix(self) -> ComplianceMatrix:
        return self.world.matrix

    def heading(self, number: int, title: str) -> None:
        self.console.print()
        self.console.rule(f"[bold]{number}. {escape(title)}", align="left")

    def note(self, text: str) -> None:
        self.console.print(f"[dim]{escape(text)}[/]", highlight=False)

    def prompt(self, tenant: str) -> str:
        return PROMPTS.get(tenant, f"Hello from {tenant}.")

    def home(self, tenant: str) -> str | None:
        """The first gateway (by id) the tenant's policy allows; None if there is none."""
        return next(iter(self.matrix.compliant_gateways(tenant)), None)

    def candidates(self, tenant: str) -> tuple[str, ...]:
        """The backends a text chat request of this tenant for the demo model may go to."""
        return self.matrix.candidates(tenant, MODEL, TEXT_ONLY)

    async def chat(self, tenant: str, gateway: str, *, stream: bool = False) -> Reply:
        return await self.client.chat(
            self.world.gateway_url(gateway), self.keys[tenant], self.prompt(tenant), stream=stream
        )

    # -- casting --------------------------------------------------------------------------------------------------

    def cast(self, preferred: str, fits: Callable[[str], bool], rank: Callable[[str], float]) -> str | None:
        """``preferred`` if it has a demo key and fits the part, else the fitting tenant of lowest ``rank``."""
        fitting = [t for t in self.keys if fits(t) and self.home(t) is not None]
        if preferred in fitting:
            return preferred
        return min(fitting, key=rank, default=None)

    def misdirecting_tenant(self) -> str | None:
        """A tenant some gateway refuses: it will call that gateway first."""
        return self.cast("de-bank", lambda t: bool(self.refused_gateways(t)), lambda t: -len(self.refused_gateways(t)))

    def narrowest_tenant(self) -> str | None:
        return self.cast("eu-ministry", lambda t: bool(self.candidates(t)), lambda t: len(self.candidates(t)))

    def ownership_tenant(self) -> str | None:
        """A tenant refused somewhere for who owns the place (``not_exposed_to``, ``ultimate_parent_*``...)."""
        return self.cast("de-bank", lambda t: bool(self.ownership_refusals(t)), lambda t: -len(self.candidates(t)))

    def failover_tenant(self) -> str | None:
        return self.cast("eu-retailer", lambda t: len(self.candidates(t)) >= 2, lambda t: -len(self.candidates(t)))

    def fail_closed_tenant(self) -> str | None:
        return self.cast("br-fintech", lambda t: bool(self.candidates(t)), lambda t: len(self.candidates(t)))

    def receipt_tenant(self) -> str | None:
        return self.cast("eu-ministry", lambda t: bool(self.candidates(t)), lambda t: len(self.candidates(t)))

    def outsider(self, tenant: str, gateway: str) -> str | None:
        """Another tenant with a demo key, preferably one ``gateway`` admits (a neighbour, not a stranger)."""
        others = [t for t in self.keys if t != tenant]
        return next((t for t in others if gateway in self.matrix.compliant_gateways(t)), next(iter(others), None))

    def refused_gateways(self, tenant: str) -> tuple[str, ...]:
        allowed = set(self.matrix.compliant_gateways(tenant))
        return tuple(g for g in self.matrix.gateways if g not in allowed)

    def ownership_refusals(self, tenant: str) -> tuple[str, ...]:
        return tuple(
            b
            for b in self.matrix.backends
            if any(f.predicate in OWNERSHIP_PREDICATES for f in self.matrix.decision(tenant, b).failed)
        )


OWNERSHIP_PREDICATES = frozenset(
    {"operator_hq_in", "ultimate_parent_in", "ultimate_parent_not_in", "not_exposed_to", "foreign_control"}
)


def joined(items: Iterable[str]) -> str:
    return ", ".join(items) or "none"
