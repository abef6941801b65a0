"""``regiongate audit``: follow a region's signed checkpoints over time and prove each extends the last one seen.

The auditor keeps the last checkpoint it verified (in a state file, so it survives restarts). Each new one must be
signed by the region's key, no smaller, equal in root if equal in size, and connected to the last by an RFC 9162
consistency proof fetched from the gateway: a log that rewrote history, or showed this auditor a fork, fails.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from pathlib import Path

import aiohttp

from regiongate.ledger.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from regiongate.ledger.errors import MalformedText, VerificationFailed
from regiongate.ledger.merkle import verify_consistency
from regiongate.ledger.note import NoteVerifier, b64decode_strict, parse_note


def load_state(path: Path | None) -> Checkpoint | None:
    if path is None or not path.exists():
        return None
    return parse_checkpoint(parse_note(json.loads(path.read_text())["checkpoint"]).text)


def save_state(path: Path | None, note: str) -> None:
    if path is not None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"checkpoint": note}))
        tmp.replace(path)


async def _consistency(session: aiohttp.ClientSession, base: str, first: int, second: int) -> list[bytes]:
    params = {"first": str(first), "second": str(second)}
    async with session.get(f"{base}/ledger/consistency", params=params) as resp:
        resp.raise_for_status()
        body = await resp.json()
    if not isinstance(body, dict) or not isinstance(body.get("proof"), list):
        raise MalformedText("consistency: the gateway's answer has no proof list")
    return [b64decode_strict(str(h), "consistency proof hash") for h in body["proof"]]


async def step(
    session: aiohttp.ClientSession, base: str, verifier: NoteVerifier, last: Checkpoint | None
) -> tuple[Checkpoint, str]:
    """Fetch, verify and connect the current checkpoint to ``last``; raises VerificationFailed on any break."""
    async with session.get(f"{base}/ledger/checkpoint") as resp:
        resp.raise_for_status()
        note = await resp.text()
    current, _ = open_checkpoint(note, [verifier])
    if last is None:
        return current, note
    if current.size < last.size:
        raise VerificationFailed(f"the log shrank from {last.size} to {current.size} leaves")
    if current.size == last.size:
        if current.root_hash != last.root_hash:
            raise VerificationFailed(f"two different signed roots for size {current.size}: the log forked")
        return current, note
    proof = await _consistency(session, base, last.size, current.size)
    if not verify_consistency(last.size, current.size, proof, last.root_hash, current.root_hash):
        raise VerificationFailed(f"checkpoint of size {current.size} is not an extension of size {last.size}")
    return current, note


async def follow(
    base: str,
    verifier: NoteVerifier,
    *,
    state: Path | None,
    interval: float,
    count: int,
    report: Callable[[str], None],
) -> None:
    """Check ``count`` checkpoints (0: forever), ``interval`` seconds apart."""
    last = load_state(state)
    seen = 0
    async with aiohttp.ClientSession(raise_for_status=False) as session:
        while count == 0 or seen < count:
            if seen:
                await asyncio.sleep(interval)
            current, note = await step(session, base.rstrip("/"), verifier, last)
            grew = "" if last is None else f" (+{current.size - last.size}, consistent with {last.size})"
            root = base64.b64encode(current.root_hash).decode()
            report(f"{current.origin}: size {current.size}, root {root}{grew}")
            save_state(state, note)
            last, seen = current, seen + 1
