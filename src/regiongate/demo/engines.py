"""How the demo brings a topology backend to life: the one seam between the tour and the engines.

By default every backend is a real ``regiongate engine`` process (:mod:`regiongate.demo.embedded`); with
``--fake-engines`` it is a :class:`~regiongate.backends.fake.FakeBackend` served in this process on the port of the
backend's ``url``. An engine only has to satisfy :class:`Engine` and be returned by a factory of type
:data:`EngineFactory`; the tour never touches anything else of a backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol
from urllib.parse import urlsplit

from regiongate.backends.fake import NORMAL, Behaviour, FakeBackend
from regiongate.topology.records import Backend


class Engine(Protocol):
    """One running backend of the topology, as the demo drives it."""

    @property
    def backend_id(self) -> str: ...

    @property
    def url(self) -> str:
        """The base URL it serves (``.../v1``): the topology's ``url``."""
        ...

    @property
    def description(self) -> str:
        """What plays the backend, in a few words (for the demo's banner)."""
        ...

    @property
    def running(self) -> bool: ...

    async def inference_requests(self) -> int:
        """How many inference calls (chat, embeddings) it has received since it was created."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """Stop gracefully: stop listening, end what is in flight."""
        ...

    async def kill(self) -> None:
        """Stop abruptly, as a crash would (for a process: SIGKILL)."""
        ...

    async def restart(self) -> None: ...

    def slow_down(self, seconds: float) -> None:
        """Make every answer take about this long from now on (0: as fast as it can). Lets the demo hold requests
        in flight while it breaks something."""
        ...


EngineFactory = Callable[[Backend], Engine]


def listen_address(url: str) -> tuple[str, int]:
    """``(host, port)`` of an ``http://host:port/v1`` URL."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"the demo needs an explicit host and port in backend url {url!r}")
    return parts.hostname, parts.port


class FakeEngine:
    """A topology backend played by an in-process fake OpenAI server on the backend's own address."""

    def __init__(self, backend: Backend) -> None:
        if backend.url is None:
            raise ValueError(f"backend {backend.id} has no url: the demo cannot place it")
        self._backend_id = backend.id
        self._url = backend.url
        self._host, self._port = listen_address(backend.url)
        self._fake = FakeBackend(name=backend.id)
        self._running = False

    @property
    def backend_id(self) -> str:
        return self._backend_id

    @property
    def url(self) -> str:
        return self._url

    @property
    def description(self) -> str:
        return "fake engines"

    @property
    def running(self) -> bool:
        return self._running

    async def inference_requests(self) -> int:
        return self._fake.requests

    async def start(self) -> None:
        if not self._running:
            await self._fake.start(self._host, self._port)
            self._running = True

    async def stop(self) -> None:
        if self._running:
            self._running = False
            await self._fake.stop()

    async def kill(self) -> None:
        # In process there is nothing harsher than closing every connection at once, which stop() already does.
        await self.stop()

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def slow_down(self, seconds: float) -> None:
        self._fake.behaviour = Behaviour(delay=seconds) if seconds > 0 else NORMAL


def fake_engine(backend: Backend) -> Engine:
    """The :data:`EngineFactory` of ``regiongate demo --fake-engines`` (and of quick tests)."""
    return FakeEngine(backend)
