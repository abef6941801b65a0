"""The demo's world in this process, on fake engines at the example topology's own loopback ports."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from rich.console import Console

from regiongate.cli import EXAMPLE_TOPOLOGY
from regiongate.demo import fake_engine
from regiongate.demo.client import DemoClient
from regiongate.demo.context import Tour
from regiongate.demo.world import World
from regiongate.topology.loader import load_topology


def output(tour: Tour) -> str:
    """Everything the tour printed so far (its console writes to a string)."""
    file = tour.console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


@pytest.fixture
async def world() -> AsyncIterator[World]:
    world = World(EXAMPLE_TOPOLOGY, load_topology(EXAMPLE_TOPOLOGY), fake_engine)
    try:
        await world.start()
        yield world
    finally:
        await world.close()


@pytest.fixture
async def client() -> AsyncIterator[DemoClient]:
    client = DemoClient()
    try:
        yield client
    finally:
        await client.close()


def quiet_tour(world: World, client: DemoClient) -> Tour:
    """A tour of ``world`` whose console writes to a string (read it with :func:`output`)."""
    return Tour.of(world, client, Console(file=io.StringIO(), width=150, no_color=True))


@pytest.fixture
def tour(world: World, client: DemoClient) -> Tour:
    return quiet_tour(world, client)
