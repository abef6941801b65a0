"""Benchmark of the ledger's cryptographic core at a million leaves (plain script, not a test).

Builds a 10**6-leaf MerkleAccumulator, then times, one call at a time over 1,000 random cases: inclusion-proof
generation and verification (at the full, non-perfect size and at random older sizes), consistency-proof
generation and verification, root computation, and a whole receipt check (parse, Ed25519, inclusion).
Target: at most 1 ms per proof. Exits 1 when a proof operation's p99 misses it.

    .venv/bin/python bench/ledger_core.py [--leaves N] [--samples N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial

from regiongate.ledger.checkpoint import Checkpoint, sign_checkpoint
from regiongate.ledger.merkle import MerkleAccumulator, leaf_hash, verify_consistency, verify_inclusion
from regiongate.ledger.note import generate_key, parse_signer_key, parse_verifier_key
from regiongate.ledger.proof import issue_proof, verify_proof

TARGET_MS = 1.0
ORIGIN = "bench.regiongate.example/log"


def _entry(n: int) -> bytes:
    return b'{"request":%d,"model":"bench","region":"eu-west"}' % n


def _ordered(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a <= b else (b, a)


def _timed(calls: list[Callable[[], object]]) -> list[float]:
    """Milliseconds per call, each timed on its own so the tail (p99) is visible; one untimed warm-up call."""
    calls[0]()
    out = []
    for call in calls:
        start = time.perf_counter_ns()
        call()
        out.append((time.perf_counter_ns() - start) / 1e6)
    return out


def _report(name: str, samples: list[float], gated: bool) -> bool:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    ok = p99 <= TARGET_MS
    verdict = ("ok" if ok else "MISSED") if gated else "info"
    print(f"  {name:<44} median {statistics.median(ordered) * 1000:8.1f} µs   p99 {p99 * 1000:8.1f} µs   {verdict}")
    return ok or not gated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=1_000)
    args = parser.parse_args()
    n, rng = args.leaves, random.Random(9162)

    acc = MerkleAccumulator()
    start = time.perf_counter()
    for i in range(n):
        acc.append(_entry(i))
    build = time.perf_counter() - start
    print(f"built {n:,} leaves in {build:.2f} s ({n / build:,.0f} appends/s, {build / n * 1e6:.2f} µs each)")

    indices = [rng.randrange(n) for _ in range(args.samples)]
    older = [rng.randrange(1, n + 1) for _ in range(args.samples)]
    older_idx = [(rng.randrange(s), s) for s in older]
    pairs = [_ordered(rng.randrange(1, n + 1), rng.randrange(1, n + 1)) for _ in range(args.samples)]
    root_n = acc.root()
    roots = {s: acc.root(s) for pair in pairs for s in pair}
    proofs = {i: acc.inclusion_proof(i) for i in indices}
    cproofs = {p: acc.consistency_proof(p[0], p[1]) for p in pairs}

    skey, vkey = generate_key(ORIGIN)
    signed = sign_checkpoint(Checkpoint(ORIGIN, n, root_n), parse_signer_key(skey))
    verifier = parse_verifier_key(vkey)
    receipts = {i: issue_proof(i, signed, acc).encode() for i in indices[:200]}

    def check_inclusion(i: int) -> bool:
        return verify_inclusion(i, n, leaf_hash(_entry(i)), proofs[i], root_n)

    def check_consistency(m: int, size: int) -> bool:
        return verify_consistency(m, size, cproofs[(m, size)], roots[m], roots[size])

    def receipt(i: int) -> str:
        return issue_proof(i, signed, acc).encode()

    cases: list[tuple[str, list[Callable[[], object]], bool]] = [
        ("inclusion proof, full tree", [partial(acc.inclusion_proof, i) for i in indices], True),
        ("inclusion proof, random older size", [partial(acc.inclusion_proof, i, s) for i, s in older_idx], True),
        ("inclusion verify (RFC 9162 §2.1.3.2)", [partial(check_inclusion, i) for i in indices], True),
        ("consistency proof, random m <= n", [partial(acc.consistency_proof, m, s) for m, s in pairs], True),
        ("consistency verify (RFC 9162 §2.1.4.2)", [partial(check_consistency, m, s) for m, s in pairs], True),
        ("root of a random size", [partial(acc.root, s) for s in older], True),
        ("issue receipt (root check + proof + encode)", [partial(receipt, i) for i in receipts], False),
        (
            "verify receipt (parse + Ed25519 + inclusion)",
            [partial(verify_proof, receipts[i], _entry(i), verifier) for i in receipts],
            False,
        ),
    ]
    print(f"{args.samples:,} random cases each (tree size {n:,}); target {TARGET_MS} ms per proof:")
    results = [_report(name, _timed(calls), gated) for name, calls, gated in cases]  # every case, no short cut
    ok = all(results)
    print("target met" if ok else "target MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
