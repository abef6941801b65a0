"""RFC 9162 §2.1 Merkle Tree Hashes and proofs, computed from stored perfect-subtree hashes.

Every hash here is SHA-256 with the RFC 6962/9162 domain separation (leaf ``0x00``, interior node ``0x01``), so
roots and proofs interoperate with Certificate Transparency, sigsum and C2SP tlog-tiles tooling.

Storage contract (:class:`NodeReader`): ``node(level, index)`` is the hash of the *perfect* subtree of ``2**level``
leaves starting at leaf ``index * 2**level`` (level 0 is the leaf hash). Such a hash never changes once the tree
has grown past it, so a store may persist each as an immutable row, or group them as C2SP tlog-tiles do (tile
level ``L`` row ``N`` holds ``node(8*L, 256*N + i)``). Roots and proofs for any size then need O(log n) reads: the
non-perfect right edge ("ephemeral" nodes) is hashed on the fly from perfect nodes, never recomputed from leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

HASH_SIZE = 32
MAX_PROOF_LENGTH = 64  # a tree of at most 2**64 leaves has at most 64 levels: bounds attacker-supplied work
EMPTY_ROOT = hashlib.sha256(b"").digest()  # §2.1.1: MTH({}) = HASH()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class NodeReader(Protocol):
    """Serves stored perfect-subtree hashes; raises ``LookupError`` for a node not (yet) stored."""

    def node(self, level: int, index: int) -> bytes: ...


@dataclass(slots=True)
class StoredNode:
    """A perfect-subtree hash that became final on an append: what a store must persist. Never changed once made
    (not ``frozen``: appends make two per leaf on the event loop, and a frozen one takes three times as long)."""

    level: int
    index: int
    hash: bytes


# Hashes are copied from these, already fed their prefix: hashlib.sha256() asks OpenSSL 3 for the algorithm on every
# call (EVP_MD_fetch), which cost more than hashing a node (seen in instruction counts of the gateway's log).
_LEAF_STATE = hashlib.sha256(_LEAF_PREFIX)
_NODE_STATE = hashlib.sha256(_NODE_PREFIX)


def leaf_hash(data: bytes) -> bytes:
    """§2.1.1: MTH({d0}) = SHA-256(0x00 || d0). The prefix keeps a leaf from being passed off as a node."""
    state = _LEAF_STATE.copy()
    state.update(data)
    return state.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """§2.1.1: interior node SHA-256(0x01 || left || right)."""
    state = _NODE_STATE.copy()
    state.update(left)
    state.update(right)
    return state.digest()


def _split(width: int) -> int:
    """§2.1.1: k, the largest power of two smaller than ``width`` (``width`` >= 2)."""
    return 1 << ((width - 1).bit_length() - 1)


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of raw entries, straight from the recursive definition of §2.1.1 (reference, O(n))."""
    if not leaves:
        return EMPTY_ROOT
    return _mth([leaf_hash(d) for d in leaves])


def _mth(hashes: Sequence[bytes]) -> bytes:
    if len(hashes) == 1:
        return hashes[0]
    k = _split(len(hashes))
    return node_hash(_mth(hashes[:k]), _mth(hashes[k:]))


def range_hash(start: int, end: int, reader: NodeReader) -> bytes:
    """MTH(D[start:end]) for a range the §2.1 recursion can produce: ``start`` aligned to the range's span.

    The range is the perfect subtrees of its width's binary digits, largest first (§2.1.1 always splits off the
    largest power of two on the left), folded right to left: O(log n) reads and hashes.
    """
    if not 0 <= start < end:
        raise ValueError(f"empty or negative leaf range [{start}, {end})")
    peaks: list[bytes] = []
    pos = start
    width = end - start
    while width:  # one step per 1-bit of the width (a perfect range, the usual case, is one read)
        level = width.bit_length() - 1
        if pos & ((1 << level) - 1):
            raise ValueError(f"leaf range [{start}, {end}) is not aligned to a subtree")
        peaks.append(reader.node(level, pos >> level))
        pos += 1 << level
        width -= 1 << level
    acc = peaks.pop()
    while peaks:
        acc = node_hash(peaks.pop(), acc)
    return acc


def tree_root(size: int, reader: NodeReader) -> bytes:
    """MTH of the first ``size`` leaves from stored perfect nodes (a checkpoint's root hash)."""
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    return EMPTY_ROOT if size == 0 else range_hash(0, size, reader)


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """§2.1.3.1 PATH(index, D[size]), leaf's sibling first, root's child last.

    Walks the §2.1.3.1 recursion top-down (iteratively) and reverses: each step contributes MTH of the half not
    holding the leaf. Left halves are perfect nodes; only a right half can be an ephemeral right-edge node.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} not in a tree of size {size}")
    path: list[bytes] = []
    start, width = 0, size
    while width > 1:
        k = _split(width)
        if index < start + k:
            path.append(range_hash(start + k, start + width, reader))
            width = k
        else:
            path.append(range_hash(start, start + k, reader))
            start, width = start + k, width - k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, reader: NodeReader) -> list[bytes]:
    """§2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true); empty when m is 0 or m equals n.

    Iterative SUBPROOF: descend while the old tree is not a whole subtree, recording each sibling; when the
    descent ever went right (b = false) the old tree's last subtree MTH(D[start:start+m]) is emitted first.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    path: list[bytes] = []
    m, start, width, whole = old_size, 0, new_size, True
    while m != width:
        k = _split(width)
        if m <= k:
            path.append(range_hash(start + k, start + width, reader))
            width = k
        else:
            path.append(range_hash(start, start + k, reader))
            start, m, width, whole = start + k, m - k, width - k, False
    if not whole:
        path.append(range_hash(start, start + m, reader))
    path.reverse()
    return path


def _all_hashes(*hashes: bytes) -> bool:
    return all(len(h) == HASH_SIZE for h in hashes)


def _shift_until_odd(fn: int, sn: int) -> tuple[int, int]:
    """§2.1.3.2 step 4.b.ii / §2.1.4.2 step 6.b.iii: shift both until LSB(fn) is set or fn is 0."""
    while not fn & 1 and fn != 0:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """§2.1.3.2: does ``proof`` show leaf hash ``leaf`` at ``index`` in the tree of ``size`` with ``root_hash``?"""
    if not 0 <= index < size or len(proof) > MAX_PROOF_LENGTH or not _all_hashes(leaf, root_hash, *proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            fn, sn = _shift_until_odd(fn, sn)
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def verify_consistency(old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes) -> bool:
    """§2.1.4.2: does ``proof`` show the tree (old_size, old_root) is a prefix of (new_size, new_root)?

    §2.1.4 defines proofs for 0 < m < n only; the edge cases follow the usual convention (transparency-dev): equal
    sizes need equal roots, and the empty tree (whose root must be HASH()) precedes every tree, both with an empty
    proof.
    """
    if not 0 <= old_size <= new_size or len(proof) > MAX_PROOF_LENGTH:
        return False
    if not _all_hashes(old_root, new_root, *proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:  # step 1
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # step 2: the old tree is itself a perfect subtree of the new one
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1  # step 3
    while fn & 1:  # step 4
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            fn, sn = _shift_until_odd(fn, sn)
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0  # step 7


def completed_nodes(size: int, leaf: bytes, reader: NodeReader) -> list[StoredNode]:
    """The perfect nodes that become final when leaf hash ``leaf`` is appended to a tree of ``size`` leaves.

    The leaf itself, then one parent per trailing 1-bit of ``size``: each time the new node is a right child its
    left sibling (read from the store, part of the right-edge frontier) is already final. A store persists them.
    """
    if len(leaf) != HASH_SIZE:
        raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {len(leaf)}")
    created = [StoredNode(0, size, leaf)]
    level, index, h = 0, size, leaf
    while index & 1:
        h = node_hash(reader.node(level, index - 1), h)
        level, index = level + 1, index >> 1
        created.append(StoredNode(level, index, h))
    return created


class MerkleAccumulator:
    """In-memory append-only log tree keeping every perfect-subtree hash, one contiguous row per level.

    Appends are O(1) amortized (about one extra node hash per leaf); the stored nodes total 2n hashes, held as
    32-byte slots in a ``bytearray`` per level (64 MB at a million leaves), the same rows a store would keep.
    Implements :class:`NodeReader`, so roots and proofs for any size up to :attr:`size` cost O(log n).
    Not synchronised: one writer at a time (readers of sizes already appended are safe between appends).
    """

    __slots__ = ("_levels",)

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]

    @property
    def size(self) -> int:
        return len(self._levels[0]) // HASH_SIZE

    def append(self, data: bytes) -> list[StoredNode]:
        """Append a raw entry; returns the nodes that became final (leaf first)."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, leaf: bytes) -> list[StoredNode]:
        """Append an already computed leaf hash; returns the nodes that became final (leaf first)."""
        created = completed_nodes(self.size, leaf, self)
        for n in created:
            if n.level == len(self._levels):
                self._levels.append(bytearray())
            self._levels[n.level] += n.hash
        return created

    def node(self, level: int, index: int) -> bytes:
        if not 0 <= level < len(self._levels) or index < 0:
            raise LookupError(f"no stored node at level {level}, index {index}")
        row, offset = self._levels[level], index * HASH_SIZE
        if offset + HASH_SIZE > len(row):
            raise LookupError(f"no stored node at level {level}, index {index}")
        return bytes(row[offset : offset + HASH_SIZE])

    def root(self, size: int | None = None) -> bytes:
        return tree_root(self._size_or_current(size), self)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self._size_or_current(size), self)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        return consistency_proof(old_size, self._size_or_current(new_size), self)

    def _size_or_current(self, size: int | None) -> int:
        current = self.size
        if size is None:
            return current
        if not 0 <= size <= current:
            raise ValueError(f"tree size {size} is beyond the {current} leaves appended")
        return size
