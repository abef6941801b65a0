"""``regiongate demo``: the example world on loopback — every backend of the topology, every gateway on its own
port — and a guided tour of routing, refusals, failover and fail-closed behaviour, checked as it goes.

Backends are started through :mod:`regiongate.demo.engines`: real ``regiongate engine`` processes (llama.cpp) by
default, in-process fakes with ``--fake-engines``; everything else is the real gateway stack.
"""

from regiongate.demo.engines import Engine, EngineFactory, FakeEngine, fake_engine
from regiongate.demo.runner import run_demo

__all__ = ["Engine", "EngineFactory", "FakeEngine", "fake_engine", "run_demo"]
