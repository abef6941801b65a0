"""``regiongate demo``: bring the example world up on loopback, tour it, then keep it running (or exit: ``--once``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from rich.console import Console

from regiongate.demo.checks import Checklist
from regiongate.demo.client import DemoClient
from regiongate.demo.context import Tour
from regiongate.demo.embedded import embedded_engines
from regiongate.demo.engines import EngineFactory
from regiongate.demo.examples import print_examples
from regiongate.demo.faults import fail_closed, failover
from regiongate.demo.receipts import receipt
from regiongate.demo.routing import every_tenant, misdirected, refusals
from regiongate.demo.summary import summary
from regiongate.demo.world import World
from regiongate.errors import ConfigError
from regiongate.topology.loader import load_topology

WIDTH_WHEN_PIPED = 150
# The tour narrates backend health itself; the gateways' own health-transition warnings would repeat it five times.
_QUIETED = ("regiongate.runtime",)


def make_console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=WIDTH_WHEN_PIPED)


async def run_tour(tour: Tour) -> Checklist:
    await every_tenant(tour)
    await misdirected(tour)
    refusals(tour)
    await failover(tour)
    await fail_closed(tour)
    await receipt(tour)
    await summary(tour)
    return tour.checks


async def run_demo(config: Path, once: bool, *, engine_factory: EngineFactory | None = None) -> int:
    """The ``demo`` command. Returns the exit status: with ``once``, 0 only if every expectation held. Backends are
    real engine processes unless ``engine_factory`` says otherwise (``fake_engine``: in-process fakes)."""
    with tempfile.TemporaryDirectory(prefix="regiongate-demo-engines-") as logs:
        return await _run_demo(config, once, engine_factory or embedded_engines(Path(logs)))


async def _run_demo(config: Path, once: bool, engine_factory: EngineFactory) -> int:
    console = make_console()
    try:
        topology = load_topology(config)
    except ConfigError as exc:
        console.print(f"[red]invalid topology[/red] {exc}", highlight=False)
        return 1
    except OSError as exc:
        console.print(f"[red]cannot read[/red] {config}: {exc.strerror}", highlight=False)
        return 1
    try:
        world = World(config, topology, engine_factory)
    except ValueError as exc:  # a backend the engine factory cannot place (no url, no explicit port)
        console.print(f"[red]cannot build the demo world[/red]: {exc}", highlight=False)
        return 1
    client: DemoClient | None = None
    with _SignalStop() as stop, _quiet(_QUIETED):
        try:
            started = time.monotonic()
            try:
                await world.start()
            except OSError as exc:
                console.print(f"[red]cannot start the demo world[/red]: {exc} (is another demo running?)")
                return 1
            kinds = ", ".join(sorted({e.description for e in world.engines.values()}))
            console.print(
                f"[bold]regiongate demo[/]: {len(world.engines)} backends ({kinds}) and "
                f"{len(world.runtimes)} gateways on loopback, from {config} "
                f"[dim](started in {time.monotonic() - started:.1f}s)[/]",
                highlight=False,
            )
            client = DemoClient()
            tour = Tour.of(world, client, console)
            try:
                checks = await run_tour(tour)
            except (aiohttp.ClientError, TimeoutError) as exc:  # a gateway that should answer did not
                checks = tour.checks
                checks.expect("the tour ran to its end", False, f"{type(exc).__name__}: {exc}")
            console.print()
            checks.report()
            console.print(f"[dim]tour took {time.monotonic() - started:.1f}s[/]")
            if once:
                return 0 if checks.all_held else 1
            print_examples(tour)
            await asyncio.Event().wait()  # until Ctrl-C
            return 0  # not reached
        except asyncio.CancelledError:
            if not stop.absorb():
                raise
            console.print("\nstopping …")
            return 130 if once else 0
        finally:
            if client is not None:
                await client.close()
            await world.close()
            console.print("[dim]every gateway and backend stopped, ports released[/]")


class _SignalStop:
    """Turns the first SIGINT/SIGTERM into a cancellation of the task that entered it (later ones are ignored while
    the world closes). Without signal support (not the main thread, Windows) it does nothing."""

    def __init__(self) -> None:
        self.fired = False
        self._task: asyncio.Task[object] | None = None
        self._installed: list[signal.Signals] = []

    def __enter__(self) -> _SignalStop:
        loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal)
                self._installed.append(sig)
        return self

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)

    def _on_signal(self) -> None:
        if not self.fired and self._task is not None:
            self.fired = True
            self._task.cancel()

    def absorb(self) -> bool:
        """In an ``except CancelledError``: whether the cancellation was ours (then it is consumed)."""
        if self.fired and self._task is not None:
            self._task.uncancel()
        return self.fired


@contextlib.contextmanager
def _quiet(names: tuple[str, ...]) -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
