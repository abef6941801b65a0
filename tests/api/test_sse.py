"""The event-aware relay: any chunking of a valid stream yields the same bytes; garbage is caught."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regiongate.api.sse import SseStream
from regiongate.errors import UpstreamError

EVENTS = [
    b'data: {"choices": [{"delta": {"content": "a"}}]}\n\n',
    b": keep-alive\n\n",
    b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}}\n\n',
    b"data: [DONE]\n\n",
]
STREAM = b"".join(EVENTS)


async def _chunks(data: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        if cut > start:
            yield data[start:cut]
            start = cut


async def drain(data: bytes, cuts: list[int]) -> tuple[bytes, SseStream]:
    stream = SseStream(_chunks(data, cuts), "b")
    out = b""
    while (events := await stream.next_events()) is not None:
        assert events.endswith(b"\n\n")  # only whole events are ever forwarded
        out += events
    return out, stream


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=12))
def test_any_chunking_relays_the_same_events(cuts: list[int]) -> None:
    out, stream = asyncio.run(drain(STREAM, cuts))
    assert out == STREAM
    assert stream.done
    assert stream.usage is not None
    assert stream.usage.completion_tokens == 5


def test_crlf_line_endings_are_accepted() -> None:
    out, stream = asyncio.run(drain(STREAM.replace(b"\n", b"\r\n"), [7, 30]))
    assert out == STREAM
    assert stream.done


@pytest.mark.parametrize(
    "data",
    [
        b'data: {"choices": [{"delta": \n\n',  # truncated JSON
        b"<html>502 Bad Gateway</html>\n\n",  # not an event stream
        b'data: {"ok": 1}\n\ndata: {"ok": ',  # ends mid-event
        b"data: [1, 2]\n\n",  # JSON, but not an object
    ],
)
def test_garbage_is_an_upstream_error(data: bytes) -> None:
    with pytest.raises(UpstreamError):
        asyncio.run(drain(data, []))
