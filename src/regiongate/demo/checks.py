"""Expectations the tour states and checks as it goes: each printed ✓ or ✗ the moment it is decided."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Console
from rich.markup import escape

PASS = "✓"
FAIL = "✗"


@dataclass(frozen=True, slots=True)
class Outcome:
    label: str
    held: bool
    detail: str


@dataclass(slots=True)
class Checklist:
    console: Console
    outcomes: list[Outcome] = field(default_factory=list)

    def expect(self, label: str, held: bool, detail: str = "") -> bool:
        """Record and print one expectation; ``detail`` (what was seen instead) is shown only when it failed."""
        self.outcomes.append(Outcome(label, held, detail))
        mark = f"[bold green]{PASS}[/]" if held else f"[bold red]{FAIL}[/]"
        suffix = f" [dim]— {escape(detail)}[/]" if detail and not held else ""
        self.console.print(f"  {mark} {escape(label)}{suffix}", highlight=False)
        return held

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.held]

    @property
    def all_held(self) -> bool:
        return bool(self.outcomes) and not self.failed

    def report(self) -> None:
        held = len(self.outcomes) - len(self.failed)
        if self.all_held:
            self.console.print(f"[bold green]{PASS} all {held} expectations held[/]", highlight=False)
            return
        self.console.print(f"[bold red]{FAIL} {held}/{len(self.outcomes)} expectations held; failed:[/]")
        for outcome in self.failed:
            self.console.print(f"  [red]{FAIL}[/] {escape(outcome.label)} [dim]— {escape(outcome.detail)}[/]")
