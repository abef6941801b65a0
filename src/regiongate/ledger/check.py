"""``regiongate ledger check``: recompute a stored log from its leaves and hold it against its signed checkpoints.

Three witnesses are compared, each able to catch what the others cannot:

* the leaf rows themselves: indices must run 0…n-1 (a gap is a deleted leaf, a row past the tree an inserted one);
* the leaf hashes recorded at append time (node level 0): a row whose data no longer hashes to its recorded hash
  was edited or moved (reordering shows as two such indices, an insertion as every index from it on);
* the signed checkpoints: each must verify with the region's key, and its root must equal the root recomputed
  from the stored data at its size. This still holds if someone rewrote the node table to match edited data:
  then the first failing checkpoint bounds where the edit is.

Interior nodes are recomputed and compared too, since proofs are served from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from regiongate.ledger.checkpoint import open_checkpoint
from regiongate.ledger.errors import LedgerError
from regiongate.ledger.merkle import MerkleAccumulator, leaf_hash
from regiongate.ledger.note import NoteVerifier
from regiongate.ledger.store import Coord, LogStore

CHUNK = 4096


@dataclass(frozen=True, slots=True)
class Finding:
    index: int | None  # the leaf concerned, if the problem is one leaf
    problem: str


@dataclass(slots=True)
class Report:
    size: int = 0  # leaf hashes recorded
    rows: int = 0  # leaf rows stored
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, index: int | None, problem: str) -> None:
        self.findings.append(Finding(index, problem))


async def _scan_leaves(store: LogStore, report: Report) -> MerkleAccumulator:
    """Hash every stored row in index order into a fresh tree, noting gaps, extras and hash mismatches."""
    tree = MerkleAccumulator()
    expected = 0
    top = max(report.size, await _last_row(store) + 1)
    for start in range(0, top, CHUNK):
        rows = await store.leaves(start, start + CHUNK)
        recorded = await store.nodes((0, i) for i, _ in rows)
        for index, data in rows:
            for missing in range(expected, index):
                report.add(missing, "leaf missing: deleted")
            expected = index + 1
            h = leaf_hash(data)
            tree.append_hash(h)
            report.rows += 1
            if index >= report.size:
                report.add(index, "leaf row beyond the recorded tree: inserted")
            elif recorded.get((0, index)) != h:
                report.add(index, "leaf data does not hash to the hash recorded at append: edited or moved")
    for missing in range(expected, report.size):
        report.add(missing, "leaf missing: deleted")
    return tree


async def _last_row(store: LogStore) -> int:
    # Rows may exist past the recorded size (an insertion): probe upwards until a chunk comes back empty.
    last, start = -1, await store.size()
    while rows := await store.leaves(start, start + CHUNK):
        last, start = rows[-1][0], rows[-1][0] + 1
    return last


async def _check_nodes(store: LogStore, tree: MerkleAccumulator, report: Report) -> None:
    """Interior nodes as stored versus recomputed (only meaningful where the leaves themselves are intact)."""
    coords: list[Coord] = []
    level = 1
    while (count := min(tree.size, report.size) >> level) > 0:
        coords.extend((level, i) for i in range(count))
        level += 1
    for start in range(0, len(coords), CHUNK):
        chunk = coords[start : start + CHUNK]
        stored = await store.nodes(chunk)
        for lvl, i in chunk:
            if stored.get((lvl, i)) != tree.node(lvl, i):
                report.add(i << lvl, f"stored node (level {lvl}, index {i}) differs from the recomputed one")
                return  # one is enough to say the node table was altered; the leaf findings say where


async def _check_checkpoints(store: LogStore, verifier: NoteVerifier, tree: MerkleAccumulator, report: Report) -> None:
    previous = 0
    for size, note in await store.checkpoints():
        report.checkpoints += 1
        try:
            checkpoint, _ = open_checkpoint(note, [verifier])
        except LedgerError as exc:
            report.add(None, f"checkpoint stored at size {size} does not verify: {exc}")
            continue
        if checkpoint.size != size:
            report.add(None, f"checkpoint stored at size {size} says size {checkpoint.size}")
        elif size > tree.size:
            report.add(size - 1, f"checkpoint of size {size} covers leaves that are not stored (the log is shorter)")
        elif tree.root(size) != checkpoint.root_hash:
            report.add(
                previous, f"signed root at size {size} differs from the stored leaves: altered in [{previous}, {size})"
            )
        previous = max(previous, min(size, tree.size))


async def check_log(store: LogStore, verifier: NoteVerifier) -> Report:
    report = Report(size=await store.size())
    tree = await _scan_leaves(store, report)
    if report.ok:
        await _check_nodes(store, tree, report)
    await _check_checkpoints(store, verifier, tree, report)
    if report.checkpoints == 0:
        report.add(None, "no signed checkpoint stored")
    return report


def summarise(report: Report, limit: int = 20) -> list[str]:
    """Findings as lines, runs of consecutive indices with the same problem folded into one line."""
    lines: list[str] = []
    runs: list[tuple[int | None, int | None, str]] = []
    for f in report.findings:
        last = runs[-1] if runs else None
        if last and f.index is not None and last[1] is not None and f.index == last[1] + 1 and f.problem == last[2]:
            runs[-1] = (last[0], f.index, f.problem)
        else:
            runs.append((f.index, f.index, f.problem))
    for first, end, problem in runs[:limit]:
        where = "" if first is None else f"leaf {first}: " if first == end else f"leaves {first}-{end}: "
        lines.append(where + problem)
    if len(runs) > limit:
        lines.append(f"… and {len(runs) - limit} more")
    return lines
