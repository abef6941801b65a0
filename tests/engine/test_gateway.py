"""A gateway reaching an ``engine: embedded`` backend the way it reaches every engine: its ``openai`` adapter, its
health checks, its routing headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import openai
import pytest
from aiohttp import web

from regiongate.api.app import build_app
from regiongate.api.runtime import Runtime
from regiongate.backends.openai import Timeouts
from regiongate.engine.model import default_model_path
from regiongate.ledger.decisions import MemorySink
from regiongate.settings import ServeSettings
from regiongate.topology.records import Engine
from tests.engine.conftest import SERVED, EngineProcess
from tests.topology.builders import base, parse

TENANT_KEY = "rg-test-key"  # the key whose digest tests.topology.builders.base() lists


@pytest.fixture
async def gateway(engine: EngineProcess, tmp_path: Path) -> AsyncIterator[tuple[str, Runtime]]:
    doc = base()
    doc["backends"]["b-1"] = {
        "datacenter": "dc-1",
        "engine": "embedded",
        "url": engine.base_url,
        "model_path": str(default_model_path()),
        "accelerator": {"vendor": "cpu", "model": "x86", "count": 1},
        "capacity": 1,
        "models": {"smollm2": {"served_as": SERVED, "input": ["text"], "output": ["text"]}},
    }
    topology = parse(doc)
    assert topology.backends["b-1"].engine is Engine.EMBEDDED
    settings = ServeSettings(
        topology=tmp_path / "t.yaml",
        gateway="gw",
        data_dir=tmp_path,
        salt=b"test-salt",
        timeouts=Timeouts(connect=1.0, first_byte=20.0, read=20.0),
    )
    runtime = Runtime(settings, topology, MemorySink())
    runner = web.AppRunner(build_app(runtime, start_background=False))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1", runtime
    finally:
        await runner.cleanup()


async def test_the_gateway_reaches_the_embedded_engine_through_its_openai_adapter(
    gateway: tuple[str, Runtime],
) -> None:
    url, runtime = gateway
    await runtime.probe_all()
    assert runtime.router.slots["b-1"].healthy  # the health check is the adapter's GET /v1/models
    async with openai.AsyncOpenAI(base_url=url, api_key=TENANT_KEY, max_retries=0, timeout=30.0) as client:
        raw = await client.chat.completions.with_raw_response.create(
            model="smollm2", messages=[{"role": "user", "content": "Say hello."}], max_tokens=16, temperature=0
        )
        reply = raw.parse()
        assert raw.headers["x-regiongate-backend"] == "b-1"
        assert reply.choices[0].message.content
        assert reply.usage is not None
        assert 0 < reply.usage.completion_tokens <= 16
        stream = await client.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=16,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == reply.choices[0].message.content
        assert chunks[-1].usage is not None
