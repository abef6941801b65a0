"""The framing between gateway processes and their region's log writer (:mod:`regiongate.ledger.writer`). Pure.

One Unix-socket connection per gateway process. Every frame is a 5-byte header (kind, body length as u32 little
endian) and its body:

- gateway → writer: ``LEAF`` (tag key length u8, tag key, canonical leaf bytes). Leaves are appended in the order
  they arrive on a connection.
- writer → gateway: ``HELLO`` once, first (the log's verifier key, from which its origin follows); ``ACK`` (u64
  first index, u32 count): the next ``count`` leaves the gateway sent are stored at ``first``, ``first + 1``, ...,
  sent only after the batch holding them committed (the writer appends what one read of the socket brought as one
  run of consecutive indices); ``CHECKPOINT`` (a signed note) whenever the writer seals one, and once after
  ``HELLO`` if it has one.

An ``ACK`` is the only way a gateway learns a leaf is durable, and a lost connection leaves every unacknowledged
leaf in doubt: the gateway then fails those requests closed (503) rather than answer without a stored decision.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from regiongate.ledger.errors import MalformedText

_HEADER = struct.Struct("<BI")
_RUN = struct.Struct("<QI")
MAX_FRAME = 1 << 24  # 16 MiB: far above any leaf (a few hundred bytes) or note; anything larger is a broken peer


class Kind(IntEnum):
    HELLO = 1
    LEAF = 2
    ACK = 3
    CHECKPOINT = 4


@dataclass(frozen=True, slots=True)
class Frame:
    kind: Kind
    body: bytes


def frame(kind: Kind, body: bytes) -> bytes:
    return _HEADER.pack(kind, len(body)) + body


def add_leaf_frame(buffer: bytearray, tag_key: bytes, data: bytes) -> None:
    """Append a ``LEAF`` frame to ``buffer`` (in place: a gateway sends two per request)."""
    if len(tag_key) > 255:  # checked first: a half-written frame would misframe every later one
        raise ValueError(f"a tag key of {len(tag_key)} bytes (at most 255)")
    buffer += _HEADER.pack(Kind.LEAF, 1 + len(tag_key) + len(data))
    buffer.append(len(tag_key))
    buffer += tag_key
    buffer += data


def leaf_frame(tag_key: bytes, data: bytes) -> bytes:
    buffer = bytearray()
    add_leaf_frame(buffer, tag_key, data)
    return bytes(buffer)


def ack_frame(first: int, count: int) -> bytes:
    return _HEADER.pack(Kind.ACK, _RUN.size) + _RUN.pack(first, count)


def text(body: bytes, what: str) -> str:
    """A ``HELLO`` or ``CHECKPOINT`` body as text."""
    try:
        return body.decode()
    except UnicodeDecodeError:
        raise MalformedText(f"a {what} frame that is not UTF-8") from None


def parse_leaf(body: bytes) -> tuple[bytes, bytes]:
    """``(tag key, leaf data)`` of a ``LEAF`` body."""
    if not body or len(body) < 1 + body[0]:
        raise MalformedText("a LEAF frame shorter than its tag key")
    end = 1 + body[0]
    return body[1:end], body[end:]


def parse_ack(body: bytes) -> tuple[int, int]:
    """``(first index, count)``."""
    if len(body) != _RUN.size:
        raise MalformedText(f"an ACK frame of {len(body)} bytes, not {_RUN.size}")
    first, count = _RUN.unpack(body)
    if count == 0:
        raise MalformedText("an ACK of no leaf")
    return first, count


class FrameReader:
    """Frames from a byte stream cut anywhere: ``feed`` returns every frame completed by the bytes given."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        buffer = self._buffer
        buffer += data
        frames: list[Frame] = []
        at = 0
        while len(buffer) - at >= _HEADER.size:
            kind, length = _HEADER.unpack_from(buffer, at)
            if length > MAX_FRAME:
                raise MalformedText(f"a frame of {length} bytes (at most {MAX_FRAME})")
            try:
                known = Kind(kind)
            except ValueError:
                raise MalformedText(f"unknown frame kind {kind}") from None
            end = at + _HEADER.size + length
            if len(buffer) < end:
                break
            frames.append(Frame(known, bytes(buffer[at + _HEADER.size : end])))
            at = end
        del buffer[:at]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held."""
        return len(self._buffer)
