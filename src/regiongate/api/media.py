"""The gateway's media step: every media part is checked and prepared here, in the gateway's region, before it goes
anywhere.

A process holds one :class:`MediaGate` (the limits, one bounded :class:`~regiongate.media.pool.MediaPool`, one
SSRF-safe fetcher). A chat request carrying media gets a :class:`MediaBodies`: for each backend actually attempted,
the request's messages prepared for that backend's media profile and wire dialect, once per distinct (profile,
dialect) and only when first needed, with the per-part digests that go into the decision leaf. Requests without
media never reach this module.

The decoding libraries (Pillow, PyAV, libsndfile, NumPy) are the optional ``media`` extra: without them a request
carrying media is refused (400 ``invalid_media``), never forwarded unchecked.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgspec

from regiongate.errors import InvalidMedia
from regiongate.media.addresses import AddressPolicy
from regiongate.media.dialects import WireDialect
from regiongate.media.fetch import FetchLimits, SafeFetcher
from regiongate.media.pool import MediaPool
from regiongate.settings import MediaSettings

if TYPE_CHECKING:
    from regiongate.api.runtime import Plan
    from regiongate.media.parts import FetchFn
    from regiongate.media.pipeline import PreparedMedia

_Key = tuple[str, str]  # (media profile, dialect)


class MediaGate:
    def __init__(self, settings: MediaSettings, *, fetcher: SafeFetcher | None = None) -> None:
        self.settings = settings
        self.limits = settings.limits
        self.pool = MediaPool(
            settings.workers,
            settings.queue,
            processes=settings.processes,
            memory_limit=settings.worker_memory,
            tasks_per_child=settings.tasks_per_child,
        )
        policy = AddressPolicy(enabled=settings.fetch, allowed_hosts=settings.allow_hosts)
        fetch_limits = FetchLimits(max_bytes=self.limits.max_part_bytes, timeout=settings.fetch_timeout)
        self.fetcher = fetcher or SafeFetcher(policy, fetch_limits)
        self._fetch: FetchFn | None = None

    async def prepare(self, messages: list[dict[str, Any]], key: _Key, salt: bytes) -> PreparedMedia:
        """``messages`` prepared for a backend of this (profile, dialect). Raises ``InvalidMedia`` naming the part,
        ``UnsupportedModality``, or the pool's 503s."""
        try:
            from regiongate.media.pipeline import fetch_with, prepare_messages
            from regiongate.media.profiles import profile_named
        except ImportError:  # pragma: no cover - the media extra is part of every test environment
            raise InvalidMedia(
                "This gateway cannot check media (its media libraries are not installed), so it accepts none.",
                param="messages",
            ) from None
        if self._fetch is None and self.settings.fetch:  # switched off: the pipeline refuses every http(s) URL
            self._fetch = fetch_with(self.fetcher)
        return await prepare_messages(
            messages,
            limits=self.limits,
            profile=profile_named(key[0]),
            dialect=WireDialect(key[1]),
            fetch=self._fetch,
            pool=self.pool,
            salt=salt,
        )

    async def close(self) -> None:
        await asyncio.to_thread(self.pool.close)


class MediaBodies:
    """The request body as each attempted backend must receive it: ``model`` its own name for the model, the
    messages prepared for its media profile and dialect. Preparation happens once per (profile, dialect), encoding
    once per (name, profile, dialect); the client's body is never modified."""

    __slots__ = ("_body", "_encoded", "_gate", "_messages", "_plan", "_prepared", "_salt")

    def __init__(self, gate: MediaGate, body: dict[str, Any], plan: Plan, salt: bytes) -> None:
        self._gate, self._body, self._plan, self._salt = gate, body, plan, salt
        self._messages: list[dict[str, Any]] = body["messages"]
        self._prepared: dict[_Key, PreparedMedia] = {}
        self._encoded: dict[tuple[str, str, str], bytes] = {}

    async def for_backend(self, backend_id: str) -> tuple[bytes, tuple[str, ...]]:
        """The body for ``backend_id`` and the digests of the media parts in it, in order."""
        served = self._plan.served[backend_id]
        key = (served.media_profile, served.dialect)
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._prepared[key] = await self._gate.prepare(self._messages, key, self._salt)
        name = (served.served_as, *key)
        found = self._encoded.get(name)
        if found is None:
            found = self._encoded[name] = msgspec.json.encode(
                {**self._body, "model": served.served_as, "messages": prepared.messages}
            )
        return found, tuple(d.digest for d in prepared.digests)
