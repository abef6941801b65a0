"""Capability routing only ever narrows the compliant set, whatever the request asks for."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from regiongate.api.runtime import Runtime
from regiongate.errors import ModelNotFound, UnsupportedModality
from regiongate.ledger.decisions import MemorySink
from regiongate.settings import ServeSettings
from regiongate.topology.loader import parse_topology
from regiongate.topology.records import Modality
from tests.api.conftest import EXAMPLE
from tests.api.media_world import declare_media

INPUTS = [
    frozenset({Modality.TEXT, *extra})
    for n in range(4)
    for extra in itertools.combinations((Modality.IMAGE, Modality.AUDIO, Modality.VIDEO), n)
]


@pytest.mark.parametrize("declared", [False, True], ids=["plain", "media-declared"])
async def test_plans_are_subsets_of_the_matrix_candidates(declared: bool, tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    topology = parse_topology(declare_media(text) if declared else text, "example-topology.yaml")
    settings = ServeSettings(topology=EXAMPLE, gateway="gw-fra", data_dir=tmp_path, salt=b"s")
    runtime = Runtime(settings, topology, MemorySink())
    planned = refused = 0
    try:
        for tenant, modalities, audio_out in itertools.product(topology.tenants.values(), INPUTS, (False, True)):
            compliant = set(runtime.matrix.candidates(tenant.id, "qwen3-omni", modalities))
            try:
                plan = runtime.plan(tenant, "qwen3-omni", modalities, audio_out=audio_out)
            except (ModelNotFound, UnsupportedModality):
                refused += 1
                continue
            planned += 1
            chosen = {slot.id for slot in plan.slots}
            assert chosen
            assert chosen <= compliant
            models = [topology.backends[b].models["qwen3-omni"] for b in chosen]
            assert not audio_out or all(Modality.AUDIO in m.output for m in models)
            if Modality.VIDEO in modalities:
                assert all((m.media_profile, m.dialect) != ("passthrough", "openai") for m in models)
    finally:
        await runtime.close()
    assert planned
    assert refused
