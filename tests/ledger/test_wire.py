"""The framing between gateways and their region's log writer: frames survive any cutting of the byte stream, the
bodies round-trip, and whatever a broken peer could send is refused as ``MalformedText`` (never a wrong frame)."""

from __future__ import annotations

import struct

import hypothesis.strategies as st
import pytest
from hypothesis import given, settings

from regiongate.ledger.errors import MalformedText
from regiongate.ledger.wire import (
    MAX_FRAME,
    Frame,
    FrameReader,
    Kind,
    ack_frame,
    add_leaf_frame,
    frame,
    leaf_frame,
    parse_ack,
    parse_leaf,
)

_HEADER = struct.Struct("<BI")
KNOWN = {int(kind) for kind in Kind}

tag_keys = st.binary(max_size=32)
leaf_data = st.binary(max_size=400)
firsts = st.integers(0, 2**64 - 1)  # an ACK is a run: the index of its first leaf (u64) and how many (u32)
counts = st.one_of(st.integers(1, 50), st.integers(1, 2**32 - 1))
_RUN = struct.Struct("<QI")


@st.composite
def frames(draw: st.DrawFn) -> tuple[bytes, Frame]:
    """One frame as sent (its bytes) and as it must be read back."""
    kind = draw(st.sampled_from(Kind))
    if kind is Kind.LEAF:
        tag_key, data = draw(tag_keys), draw(leaf_data)
        return leaf_frame(tag_key, data), Frame(kind, bytes([len(tag_key)]) + tag_key + data)
    if kind is Kind.ACK:
        first, count = draw(firsts), draw(counts)
        return ack_frame(first, count), Frame(kind, _RUN.pack(first, count))
    # A CHECKPOINT is a note's text; a HELLO a verifier key, but the framing cares for neither.
    body = draw(st.text(max_size=300)).encode() if kind is Kind.CHECKPOINT else draw(st.binary(max_size=100))
    return frame(kind, body), Frame(kind, body)


@settings(max_examples=300, deadline=None)
@given(st.lists(frames(), max_size=30), st.data())
def test_any_cutting_of_the_stream_gives_back_exactly_the_frames(
    sent: list[tuple[bytes, Frame]], data: st.DataObject
) -> None:
    stream = b"".join(raw for raw, _ in sent)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=40), label="cuts"))
    reader = FrameReader()
    got: list[Frame] = []
    start = 0
    for end in [*cuts, len(stream)]:
        got += reader.feed(stream[start:end])
        start = end
        # Whatever is held is exactly the bytes fed that did not complete a frame yet.
        assert reader.pending == end - sum(5 + len(f.body) for f in got)
    assert got == [expected for _, expected in sent]
    assert reader.pending == 0


@settings(deadline=None)
@given(st.lists(frames(), min_size=1, max_size=10))
def test_byte_by_byte(sent: list[tuple[bytes, Frame]]) -> None:
    stream = b"".join(raw for raw, _ in sent)
    reader = FrameReader()
    got = [f for i in range(len(stream)) for f in reader.feed(stream[i : i + 1])]
    assert got == [expected for _, expected in sent]
    assert reader.pending == 0


@given(tag_keys, leaf_data)
def test_leaf_round_trip(tag_key: bytes, data: bytes) -> None:
    raw = leaf_frame(tag_key, data)
    (read,) = FrameReader().feed(raw)
    assert read.kind is Kind.LEAF
    assert parse_leaf(read.body) == (tag_key, data)
    buffer = bytearray(b"already there")
    add_leaf_frame(buffer, tag_key, data)
    assert bytes(buffer) == b"already there" + raw  # appends in place, after what the buffer held


@given(st.binary(max_size=255), leaf_data)
def test_leaf_round_trip_whole_tag_key_range(tag_key: bytes, data: bytes) -> None:
    assert parse_leaf(leaf_frame(tag_key, data)[5:]) == (tag_key, data)


@given(firsts, counts)
def test_ack_round_trip(first: int, count: int) -> None:
    (read,) = FrameReader().feed(ack_frame(first, count))
    assert read.kind is Kind.ACK
    assert parse_ack(read.body) == (first, count)


# -- what a broken peer could send --------------------------------------------------------------------------------


@given(st.integers(0, 255).filter(lambda k: k not in KNOWN), st.integers(0, MAX_FRAME), st.binary(max_size=20))
def test_unknown_kind_is_refused(kind: int, length: int, body: bytes) -> None:
    # Refused as soon as the header is in: the reader does not wait for (or buffer) a body it cannot use.
    with pytest.raises(MalformedText, match="unknown frame kind"):
        FrameReader().feed(_HEADER.pack(kind, length) + body)


@given(st.integers(0, 255), st.integers(MAX_FRAME + 1, 2**32 - 1))
def test_oversized_frame_is_refused_from_its_header(kind: int, length: int) -> None:
    with pytest.raises(MalformedText):
        FrameReader().feed(_HEADER.pack(kind, length))


@given(st.lists(frames(), max_size=5), st.integers(0, 255).filter(lambda k: k not in KNOWN))
def test_a_bad_header_after_good_frames_is_refused(sent: list[tuple[bytes, Frame]], kind: int) -> None:
    with pytest.raises(MalformedText):
        FrameReader().feed(b"".join(raw for raw, _ in sent) + _HEADER.pack(kind, 0))


def test_header_cut_before_its_end_is_held_not_judged() -> None:
    reader = FrameReader()
    header = _HEADER.pack(99, MAX_FRAME + 1)
    assert reader.feed(header[:4]) == []  # four bytes: kind and three bytes of length, nothing to judge yet
    assert reader.pending == 4
    with pytest.raises(MalformedText):
        reader.feed(header[4:])


def test_largest_frame_is_accepted() -> None:
    reader = FrameReader()
    assert reader.feed(_HEADER.pack(Kind.CHECKPOINT, MAX_FRAME)) == []
    assert reader.pending == 5  # waiting for its body, not refused
    body = bytes(MAX_FRAME)
    assert reader.feed(body) == [Frame(Kind.CHECKPOINT, body)]
    assert reader.pending == 0


@given(st.binary(max_size=200).filter(lambda b: len(b) != _RUN.size))
def test_ack_of_another_length_is_refused(body: bytes) -> None:
    with pytest.raises(MalformedText):
        parse_ack(body)  # empty, cut short, or a run and more


@given(firsts)
def test_ack_of_no_leaf_is_refused(first: int) -> None:
    with pytest.raises(MalformedText):
        parse_ack(_RUN.pack(first, 0))


@given(st.data())
def test_leaf_shorter_than_its_tag_key_is_refused(data: st.DataObject) -> None:
    length = data.draw(st.integers(1, 255), label="tag key length")
    present = data.draw(st.binary(max_size=length - 1), label="what arrived of it")
    with pytest.raises(MalformedText):
        parse_leaf(bytes([length]) + present)


def test_empty_leaf_is_refused() -> None:
    with pytest.raises(MalformedText):
        parse_leaf(b"")


def test_leaf_of_only_a_tag_key() -> None:
    assert parse_leaf(b"\x02ab") == (b"ab", b"")
    assert parse_leaf(b"\x00") == (b"", b"")
