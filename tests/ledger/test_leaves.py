"""Leaves are canonical: the same record gives the same bytes, and only canonical bytes decode."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from regiongate.ledger.decisions import DecisionRecord
from regiongate.ledger.errors import MalformedText
from regiongate.ledger.leaves import (
    DecisionLeaf,
    Leaf,
    OutcomeLeaf,
    Tagger,
    decode_leaf,
    encode_leaf,
    output_hasher,
    tag,
    tenant_salt,
    to_builtins,
)
from regiongate.ledger.sink import decision_leaf, outcome_leaf

text = st.text(max_size=20)
opt_text = st.none() | text
hexes = st.binary(min_size=32, max_size=32).map(bytes.hex)
ints = st.integers(min_value=0, max_value=2**53)
opt_ints = st.none() | ints
names = st.lists(text, max_size=4).map(tuple)

decisions = st.builds(
    DecisionLeaf,
    region=text, gateway=text, tenant=hexes, request=hexes, decision=st.sampled_from(["route", "refuse"]),
    attempt=ints, backend=opt_text, datacenter=opt_text, country=opt_text, operators=names, policy=hexes,
    model=opt_text, weights=opt_text, modalities=names, media=st.lists(hexes, max_size=3).map(tuple),
    media_digests=st.lists(hexes, max_size=3).map(tuple),
    reason=opt_text, at_ms=ints,
)  # fmt: skip
outcomes = st.builds(
    OutcomeLeaf,
    region=text, gateway=text, tenant=hexes, request=hexes, status=st.integers(100, 599), reason=opt_text,
    backend=opt_text, attempts=ints, prompt_tokens=opt_ints, completion_tokens=opt_ints, output=st.none() | hexes,
    started_ms=ints, ended_ms=ints,
)  # fmt: skip
leaves = decisions | outcomes


@given(leaves)
def test_encoding_is_deterministic_and_round_trips(leaf: Leaf) -> None:
    data = encode_leaf(leaf)
    rebuilt = msgspec.convert(to_builtins(leaf), type=Leaf)  # an equal but distinct object
    assert encode_leaf(rebuilt) == data
    assert decode_leaf(data) == leaf
    assert encode_leaf(decode_leaf(data)) == data


@given(leaves)
def test_only_the_canonical_text_decodes(leaf: Leaf) -> None:
    data = encode_leaf(leaf)
    as_json = json.loads(data)
    pretty = json.dumps(as_json, indent=1).encode()
    reordered = json.dumps(dict(reversed(list(as_json.items())))).encode()
    for variant in (pretty, reordered, data + b" ", b" " + data):
        if variant != data:
            with pytest.raises(MalformedText):
                decode_leaf(variant)


@given(leaves, st.data())
def test_any_changed_field_changes_the_bytes(leaf: Leaf, data: st.DataObject) -> None:
    other = data.draw(leaves)
    assert (encode_leaf(leaf) == encode_leaf(other)) == (leaf == other)


def test_unknown_fields_and_kinds_are_refused() -> None:
    with pytest.raises(MalformedText):
        decode_leaf(b'{"kind":"something","v":1}')
    with pytest.raises(MalformedText):
        decode_leaf(b"not json")


def test_tags_need_the_tenant_salt_and_differ_per_tenant() -> None:
    salt_a, salt_b = tenant_salt(b"deployment", "tenant-a"), tenant_salt(b"deployment", "tenant-b")
    assert salt_a != salt_b
    assert tenant_salt(b"other deployment", "tenant-a") != salt_a
    assert tag(salt_a, "request", "req_1") != tag(salt_b, "request", "req_1")
    assert tag(salt_a, "request", "req_1") != tag(salt_a, "tenant", "req_1")  # labels separate domains
    hasher = output_hasher(salt_a)
    hasher.update(b"hello ")
    hasher.update(b"world")
    assert hasher.hexdigest() == tag(salt_a, "output", b"hello world")


@given(salt=st.binary(max_size=100), label=st.sampled_from(["request", "media", "tenant", "output"]), value=text)
def test_the_precomputed_tagger_is_the_same_hmac(salt: bytes, label: str, value: str) -> None:
    # Keys longer than SHA-256's 64-byte block are hashed first (RFC 2104): both branches are drawn.
    assert Tagger(salt).tag(label, value) == tag(salt, label, value)
    assert Tagger(salt).tag(label, value.encode()) == tag(salt, label, value.encode())


def test_leaves_from_a_record_hold_no_content_and_no_clear_tenant() -> None:
    record = DecisionRecord(
        request_id="req_secret", tenant_hash="h", gateway="gw", region="eu", outcome="routed", status=200,
        policy_hash="p", model="m", backend="b", datacenter="dc", attempts=("b",), started_at=1.5, ended_at=2.25,
        tenant_tag="t" * 64, request_tag="r" * 64, country="FR", operators=("op",),
    )  # fmt: skip
    for leaf in (decision_leaf(record, record.started_at), outcome_leaf(record)):
        data = encode_leaf(leaf)
        assert b"req_secret" not in data
        assert decode_leaf(data).request == "r" * 64
    assert outcome_leaf(record).ended_ms == 2250
