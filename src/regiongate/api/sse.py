"""Relaying a backend's server-sent events: complete, well-formed events only, as soon as each is complete.

A partial event is useless to a client anyway, so holding it until its blank line arrives costs no latency; in
exchange the gateway knows every event it forwards is JSON (or ``[DONE]``), so a backend that starts sending garbage
is caught — before the first byte (and then another candidate is tried) or mid-stream (and the client gets an
error event instead of a corrupt one). Usage figures are picked up on the way for the decision record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from regiongate.errors import UpstreamError


class Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class _Event(msgspec.Struct):
    usage: Usage | None = None


_decode_event = msgspec.json.Decoder(_Event).decode
_DONE = b"[DONE]"


class SseStream:
    """Events from an upstream byte stream, validated, in batches of whatever is complete."""

    __slots__ = ("_backend_id", "_buffer", "_chunks", "done", "usage")

    def __init__(self, chunks: AsyncIterator[bytes], backend_id: str) -> None:
        self._chunks = chunks
        self._backend_id = backend_id
        self._buffer = b""
        self.usage: Usage | None = None
        self.done = False  # saw ``data: [DONE]``

    async def next_events(self) -> bytes | None:
        """The next complete events as raw bytes, or None when the stream ended cleanly."""
        while True:
            end = self._buffer.rfind(b"\n\n")
            if end >= 0:
                ready, self._buffer = self._buffer[: end + 2], self._buffer[end + 2 :]
                self._check(ready)
                return ready
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                if self._buffer.strip():
                    raise UpstreamError(f"backend {self._backend_id} ended the stream mid-event") from None
                return None
            self._buffer += chunk.replace(b"\r\n", b"\n") if b"\r" in chunk else chunk

    def _check(self, events: bytes) -> None:
        for event in events.split(b"\n\n"):
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self._check_data(line[5:].strip())
                elif line and not line.startswith((b":", b"event:", b"id:", b"retry:")):
                    raise UpstreamError(f"backend {self._backend_id} sent a malformed event stream")

    def _check_data(self, data: bytes) -> None:
        if data == _DONE:
            self.done = True
            return
        try:
            event = _decode_event(data)
        except msgspec.DecodeError:
            raise UpstreamError(f"backend {self._backend_id} sent an event that is not JSON") from None
        if event.usage is not None:
            self.usage = event.usage
