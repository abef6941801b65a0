"""Properties of the Merkle core: proofs always verify, and any tampering makes them fail."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regiongate.ledger.merkle import MerkleAccumulator, leaf_hash, root, verify_consistency, verify_inclusion

LEAVES = 1024
CONSISTENCY_MAX = 200


def _entry(n: int) -> bytes:
    return n.to_bytes(4, "big")


def _build(count: int) -> MerkleAccumulator:
    acc = MerkleAccumulator()
    for n in range(count):
        acc.append(_entry(n))
    return acc


TREE = _build(LEAVES)


def _flip(data: bytes, bit: int) -> bytes:
    bit %= len(data) * 8
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@st.composite
def leaf_in_tree(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, LEAVES))
    return draw(st.integers(0, size - 1)), size


@st.composite
def growth(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(2, CONSISTENCY_MAX))
    return draw(st.integers(1, new - 1)), new


@settings(deadline=None)
@given(leaf_in_tree(), st.integers(0, 2**16))
def test_inclusion_verifies_and_any_bit_flip_fails(leaf: tuple[int, int], bit: int) -> None:
    index, size = leaf
    proof, root_hash, h = TREE.inclusion_proof(index, size), TREE.root(size), leaf_hash(_entry(index))
    assert verify_inclusion(index, size, h, proof, root_hash)
    assert not verify_inclusion(index, size, _flip(h, bit), proof, root_hash)
    assert not verify_inclusion(index, size, h, proof, _flip(root_hash, bit))
    for i in range(len(proof)):
        tampered = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
        assert not verify_inclusion(index, size, h, tampered, root_hash), f"flip in proof[{i}]"


@settings(deadline=None)
@given(leaf_in_tree(), st.integers(0, LEAVES - 1))
def test_inclusion_proof_is_bound_to_its_index(leaf: tuple[int, int], other: int) -> None:
    index, size = leaf
    proof, root_hash, h = TREE.inclusion_proof(index, size), TREE.root(size), leaf_hash(_entry(index))
    if other != index:
        assert not verify_inclusion(other, size, h, proof, root_hash)
    if proof:
        assert not verify_inclusion(index, size, h, proof[:-1], root_hash)
        assert not verify_inclusion(index, size, h, [*proof, proof[-1]], root_hash)


@pytest.mark.parametrize("new", range(1, CONSISTENCY_MAX + 1))
def test_consistency_verifies_for_every_pair(new: int) -> None:
    new_root = TREE.root(new)
    for old in range(new + 1):
        proof = TREE.consistency_proof(old, new)
        assert verify_consistency(old, new, proof, TREE.root(old), new_root), f"{old} -> {new}"


@settings(deadline=None)
@given(growth(), st.integers(0, 2**16))
def test_tampered_consistency_fails(sizes: tuple[int, int], bit: int) -> None:
    old, new = sizes
    proof, r1, r2 = TREE.consistency_proof(old, new), TREE.root(old), TREE.root(new)
    assert not verify_consistency(old, new, proof, _flip(r1, bit), r2)
    assert not verify_consistency(old, new, proof, r1, _flip(r2, bit))
    for i in range(len(proof)):
        tampered = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
        assert not verify_consistency(old, new, tampered, r1, r2), f"flip in proof[{i}]"
    assert not verify_consistency(old, new, proof[:-1], r1, r2)
    assert not verify_consistency(old, new, [*proof, proof[-1]], r1, r2)
    # Not asserted: that the proof fails for every other size. A root does not commit to its tree size (the proof
    # for 1 -> 33 also "verifies" 1 -> 34 against the same roots); the signed checkpoint binds size and root.


@settings(deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=70))
def test_accumulator_matches_the_reference_definition(entries: list[bytes]) -> None:
    acc = MerkleAccumulator()
    for e in entries:
        acc.append(e)
    assert acc.size == len(entries)
    for size in range(len(entries) + 1):
        assert acc.root(size) == root(entries[:size])
