"""Cross-check against an independent implementation: pymerkle, in its RFC 6962/9162 configuration.

pymerkle's default hasher ("security" on) prefixes leaves with 0x00 and nodes with 0x01, as RFC 9162 §2.1.1 does;
its leaf indices count from one, and its inclusion ``path`` starts with the leaf's own hash followed by the same
audit path RFC 9162 §2.1.3.1 defines.
"""

from __future__ import annotations

import pytest
from pymerkle import InmemoryTree

from regiongate.ledger.merkle import EMPTY_ROOT, MerkleAccumulator, leaf_hash, verify_consistency, verify_inclusion

SIZE = 300


def _entry(n: int) -> bytes:
    return b"" if n == 0 else f"entry {n}".encode() * (n % 5)


@pytest.fixture(scope="module")
def trees() -> tuple[InmemoryTree, MerkleAccumulator]:
    reference = InmemoryTree(algorithm="sha256")  # security defaults to on: the RFC 6962 prefixes
    ours = MerkleAccumulator()
    for n in range(SIZE):
        reference.append_entry(_entry(n))
        ours.append(_entry(n))
    return reference, ours


def test_pymerkle_is_configured_as_rfc6962(trees: tuple[InmemoryTree, MerkleAccumulator]) -> None:
    reference, _ = trees
    assert (reference.leaf_prefix, reference.node_prefix, reference.algorithm) == (b"\x00", b"\x01", "sha256")
    assert reference.get_leaf(1) == leaf_hash(_entry(0))
    assert reference.get_root(0) == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, SIZE + 1))
def test_roots_and_every_inclusion_path_agree(trees: tuple[InmemoryTree, MerkleAccumulator], size: int) -> None:
    reference, ours = trees
    assert ours.root(size) == reference.get_root(size)
    for index in range(size):
        theirs = reference.prove_inclusion(index + 1, size)
        assert theirs.path[0] == ours.node(0, index)
        path = ours.inclusion_proof(index, size)
        assert path == theirs.path[1:], f"index {index} of size {size}"
        assert verify_inclusion(index, size, leaf_hash(_entry(index)), path, reference.get_root(size))


@pytest.mark.parametrize("size", range(1, SIZE + 1, 7))
def test_consistency_proofs_link_pymerkle_roots(trees: tuple[InmemoryTree, MerkleAccumulator], size: int) -> None:
    reference, ours = trees
    new_root = reference.get_root(size)
    for old in range(size + 1):
        proof = ours.consistency_proof(old, size)
        assert verify_consistency(old, size, proof, reference.get_root(old), new_root), f"{old} -> {size}"
