"""The Merkle core against published vectors: RFC 9162 §2.1.5 and the transparency-dev / CT test set."""

from __future__ import annotations

import pytest

from regiongate.ledger.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    StoredNode,
    completed_nodes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_hash,
    root,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from tests.ledger.vectors import CONSISTENCY_PROOFS, INCLUSION_PROOFS, LEAF_INPUTS, NODE_HASHES, ROOTS

InclusionArgs = tuple[int, int, bytes, list[bytes], bytes]
ConsistencyArgs = tuple[int, int, list[bytes], bytes, bytes]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


@pytest.fixture(scope="module")
def tree() -> MerkleAccumulator:
    acc = MerkleAccumulator()
    for data in LEAF_INPUTS:
        acc.append(data)
    return acc


def test_every_perfect_subtree_hash_matches(tree: MerkleAccumulator) -> None:
    for level, row in enumerate(NODE_HASHES):
        for index, expected in enumerate(row):
            assert tree.node(level, index) == expected, (level, index)


@pytest.mark.parametrize("size", range(9))
def test_root_of_every_size(tree: MerkleAccumulator, size: int) -> None:
    assert root(LEAF_INPUTS[:size]) == ROOTS[size]
    assert tree.root(size) == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION_PROOFS)
def test_published_inclusion_proofs(
    tree: MerkleAccumulator, index: int, size: int, expected: tuple[bytes, ...]
) -> None:
    assert tuple(tree.inclusion_proof(index, size)) == expected
    assert verify_inclusion(index, size, leaf_hash(LEAF_INPUTS[index]), expected, ROOTS[size])


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY_PROOFS)
def test_published_consistency_proofs(tree: MerkleAccumulator, old: int, new: int, expected: tuple[bytes, ...]) -> None:
    assert tuple(tree.consistency_proof(old, new)) == expected
    assert verify_consistency(old, new, expected, ROOTS[old], ROOTS[new])


def _inclusion_probes(
    index: int, size: int, proof: list[bytes], leaf: bytes, root_hash: bytes
) -> dict[str, InclusionArgs]:
    """transparency-dev's corruptInclusionProof: every one must fail."""
    probes: dict[str, InclusionArgs] = {
        "index - 1": (index - 1, size, leaf, proof, root_hash),
        "index + 1": (index + 1, size, leaf, proof, root_hash),
        "index ^ 2": (index ^ 2, size, leaf, proof, root_hash),
        "size * 2": (index, size * 2, leaf, proof, root_hash),
        "size // 2": (index, size // 2, leaf, proof, root_hash),
        "wrong leaf": (index, size, b"WrongLeaf", proof, root_hash),
        "empty root": (index, size, leaf, proof, EMPTY_ROOT),
        "random root": (index, size, leaf, proof, SOME_HASH),
        "trailing garbage": (index, size, leaf, [*proof, b""], root_hash),
        "trailing root": (index, size, leaf, [*proof, root_hash], root_hash),
        "preceding garbage": (index, size, leaf, [b"", *proof], root_hash),
        "preceding root": (index, size, leaf, [root_hash, *proof], root_hash),
    }
    for i in range(len(proof)):
        flipped = [bytes([h[0] ^ 8]) + h[1:] if j == i else h for j, h in enumerate(proof)]
        probes[f"flip proof[{i}]"] = (index, size, leaf, flipped, root_hash)
    if proof:
        probes["removed component"] = (index, size, leaf, proof[:-1], root_hash)
    if len(proof) > 1:
        probes["inserted component"] = (index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root_hash)
    return probes


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION_PROOFS[1:])
def test_corrupted_inclusion_proofs_fail(index: int, size: int, expected: tuple[bytes, ...]) -> None:
    probes = _inclusion_probes(index, size, list(expected), leaf_hash(LEAF_INPUTS[index]), ROOTS[size])
    accepted = [name for name, args in probes.items() if verify_inclusion(*args)]
    assert accepted == []


def _consistency_probes(old: int, new: int, proof: list[bytes], r1: bytes, r2: bytes) -> dict[str, ConsistencyArgs]:
    """transparency-dev's corruptConsistencyProof: every one must fail."""
    probes: dict[str, ConsistencyArgs] = {
        "old - 1": (old - 1, new, proof, r1, r2),
        "old + 1": (old + 1, new, proof, r1, r2),
        "old ^ 2": (old ^ 2, new, proof, r1, r2),
        "new * 2": (old, new * 2, proof, r1, r2),
        "new // 2": (old, new // 2, proof, r1, r2),
        "wrong old root": (old, new, proof, b"WrongRoot", r2),
        "wrong new root": (old, new, proof, r1, b"WrongRoot"),
        "swapped roots": (old, new, proof, r2, r1),
        "empty proof": (old, new, [], r1, r2),
        "trailing garbage": (old, new, [*proof, b""], r1, r2),
        "trailing old root": (old, new, [*proof, r1], r1, r2),
        "trailing new root": (old, new, [*proof, r2], r1, r2),
        "preceding garbage": (old, new, [b"", *proof], r1, r2),
        "preceding old root": (old, new, [r1, *proof], r1, r2),
        "preceding new root": (old, new, [r2, *proof], r1, r2),
        "preceding proof[0]": (old, new, [proof[0], *proof], r1, r2),
        "truncated": (old, new, proof[:-1], r1, r2),
    }
    for i in range(len(proof)):
        flipped = [bytes([h[0] ^ 16]) + h[1:] if j == i else h for j, h in enumerate(proof)]
        probes[f"flip proof[{i}]"] = (old, new, flipped, r1, r2)
    return probes


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY_PROOFS[1:])
def test_corrupted_consistency_proofs_fail(old: int, new: int, expected: tuple[bytes, ...]) -> None:
    probes = _consistency_probes(old, new, list(expected), ROOTS[old], ROOTS[new])
    accepted = [name for name, args in probes.items() if verify_consistency(*args)]
    assert accepted == []


def test_single_entry_inclusion() -> None:
    h = leaf_hash(b"data")  # a one-leaf tree's root is its leaf hash, and the proof is empty
    assert verify_inclusion(0, 1, h, [], h)
    assert not verify_inclusion(0, 1, b"", [], h)
    assert not verify_inclusion(0, 1, h, [], b"")
    assert not verify_inclusion(0, 1, b"", [], b"")


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (2, 1), (-1, 1)])
def test_inclusion_outside_the_tree_fails(index: int, size: int) -> None:
    assert not verify_inclusion(index, size, SOME_HASH, [], EMPTY_ROOT)


R1, R2 = leaf_hash(b"one"), leaf_hash(b"two")


@pytest.mark.parametrize(
    ("old", "new", "r1", "r2", "proof", "ok"),
    [
        (0, 0, R1, R2, [], False),
        (1, 1, R1, R2, [], False),
        (0, 0, R1, R1, [], True),  # equal sizes: the roots must be equal, nothing to prove
        (1, 1, R2, R2, [], True),
        (0, 1, EMPTY_ROOT, R2, [], True),  # every tree extends the empty one...
        (0, 1, R1, R2, [], False),  # ...whose root is HASH() (stricter than transparency-dev, which ignores it)
        (1, 0, R1, R2, [], False),  # time travel to the past
        (2, 1, R1, R2, [], False),
        (1, 2, R1, R2, [], False),  # a real extension needs a proof
        (0, 0, EMPTY_ROOT, R2, [], False),
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),  # roots match but the proof is not empty
        (0, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
        (1, 1, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),
    ],
)
def test_consistency_edge_cases(old: int, new: int, r1: bytes, r2: bytes, proof: list[bytes], ok: bool) -> None:
    assert verify_consistency(old, new, proof, r1, r2) is ok


def test_rfc9162_worked_example() -> None:
    """RFC 9162 §2.1.5: the 7-leaf tree, its inclusion proofs and the consistency proofs of its earlier heads."""
    data = [f"d{i}".encode() for i in range(7)]
    acc = MerkleAccumulator()
    for d in data:
        acc.append(d)
    a, b, c, d, e, f, j = (leaf_hash(x) for x in data)  # j is the lone leaf d6 one level up
    g, h, i = node_hash(a, b), node_hash(c, d), node_hash(e, f)
    k, l = node_hash(g, h), node_hash(i, j)  # noqa: E741 - the RFC's names
    assert acc.root() == node_hash(k, l) == root(data)
    assert acc.inclusion_proof(0) == [b, h, l]
    assert acc.inclusion_proof(3) == [c, g, l]
    assert acc.inclusion_proof(4) == [f, j, k]
    assert acc.inclusion_proof(6) == [i, k]
    hash0, hash1, hash2 = node_hash(g, c), k, node_hash(k, i)
    assert (acc.root(3), acc.root(4), acc.root(6)) == (hash0, hash1, hash2)
    assert acc.consistency_proof(3) == [c, d, g, l]
    assert acc.consistency_proof(4) == [l]
    assert acc.consistency_proof(6) == [i, j, k]
    for old, old_root in ((3, hash0), (4, hash1), (6, hash2)):
        assert verify_consistency(old, 7, acc.consistency_proof(old), old_root, acc.root())


class DictStore:
    """A store persisting exactly what ``completed_nodes`` hands it, as a table keyed by (level, index)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, int], bytes] = {}
        self.size = 0

    def node(self, level: int, index: int) -> bytes:
        return self.rows[(level, index)]

    def append(self, data: bytes) -> list[StoredNode]:
        created = completed_nodes(self.size, leaf_hash(data), self)
        self.rows.update({(n.level, n.index): n.hash for n in created})
        self.size += 1
        return created


def test_a_store_fed_by_completed_nodes_serves_the_same_proofs() -> None:
    store, acc = DictStore(), MerkleAccumulator()
    for n in range(70):
        data = n.to_bytes(2, "big")
        assert store.append(data) == acc.append(data)
    assert len(store.rows) == 2 * 70 - (70).bit_count()  # every perfect subtree, no more
    for size in range(1, 71):
        assert tree_root(size, store) == acc.root(size)
        for index in range(size):
            assert inclusion_proof(index, size, store) == acc.inclusion_proof(index, size)
        for old in range(size + 1):
            assert consistency_proof(old, size, store) == acc.consistency_proof(old, size)


def test_append_reports_the_nodes_that_became_final(tree: MerkleAccumulator) -> None:
    acc = MerkleAccumulator()
    for data in LEAF_INPUTS[:7]:
        acc.append(data)
    created = acc.append(LEAF_INPUTS[7])  # the 8th leaf completes one subtree per level
    assert created == [StoredNode(level, (7 >> level), NODE_HASHES[level][7 >> level]) for level in range(4)]
    assert acc.append(b"ninth") == [StoredNode(0, 8, leaf_hash(b"ninth"))]


def test_misuse_is_refused(tree: MerkleAccumulator) -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        tree.inclusion_proof(8, 8)
    with pytest.raises(ValueError, match="beyond"):
        tree.inclusion_proof(0, 9)
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_proof(5, 4, tree)
    with pytest.raises(ValueError, match="beyond"):
        tree.root(9)
    with pytest.raises(ValueError, match="not aligned"):
        range_hash(1, 3, tree)
    with pytest.raises(ValueError, match="empty or negative"):
        range_hash(3, 3, tree)
    with pytest.raises(ValueError, match="negative tree size"):
        tree_root(-1, tree)
    with pytest.raises(ValueError, match="32 bytes"):
        MerkleAccumulator().append_hash(b"short")
    for level, index in ((0, 8), (4, 0), (-1, 0), (0, -1)):
        with pytest.raises(LookupError):
            tree.node(level, index)


def test_empty_tree() -> None:
    acc = MerkleAccumulator()
    assert acc.size == 0
    assert acc.root() == EMPTY_ROOT == root([])
    assert acc.consistency_proof(0) == []
