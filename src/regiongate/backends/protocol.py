"""The one small protocol every backend adapter implements.

An adapter sends an OpenAI-compatible request body to one backend and hands back a successful reply, or raises
one of the :mod:`regiongate.errors` upstream errors: :class:`~regiongate.errors.UpstreamError` (and subclasses:
the backend failed, another candidate may be tried) or :class:`~regiongate.errors.UpstreamRejected` (the backend
refused the request as the client's fault; relayed, never retried). Mapping happens at the adapter, by exception
type; nothing above it looks at messages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Protocol


class Endpoint(StrEnum):
    CHAT = "chat/completions"
    EMBEDDINGS = "embeddings"


class UpstreamReply(Protocol):
    status: int
    content_type: str

    async def read(self) -> bytes:
        """The whole body (non-streaming replies)."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (streaming replies). Failures mid-body raise UpstreamError."""
        ...

    def close(self) -> None: ...


class Upstream(Protocol):
    backend_id: str

    async def send(self, endpoint: Endpoint, body: bytes) -> UpstreamReply:
        """Send ``body`` and return once a 2xx status and headers arrived."""
        ...

    async def probe(self) -> bool:
        """Active health check: whether the backend answers its model list."""
        ...

    async def close(self) -> None: ...
