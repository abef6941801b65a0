import asyncio
from collections.abc import Callable, Mapping

import pytest
import uvloop

from tests.backends.scripted import serve

__all__ = ["serve"]


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Each test of the backends' client runs on both loops: the gateway serves on uvloop, whose transports differ
    from asyncio's (they are not subclasses of asyncio.Transport, for one)."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
