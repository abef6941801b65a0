"""C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): the signed tree head of the region's log.

The note text is at least three non-empty lines: the origin (the log's identity), the tree size in ASCII decimal
without leading zeroes, and the base64 RFC 6962 root hash; any further lines are opaque, non-empty extension
lines. The whole is signed as a C2SP signed-note, and the log's key name should equal the origin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from regiongate.ledger.errors import MalformedText, VerificationFailed
from regiongate.ledger.merkle import HASH_SIZE
from regiongate.ledger.note import (
    NoteSigner,
    NoteVerifier,
    VerifiedNote,
    b64decode_strict,
    b64encode,
    check_note_text,
    open_note,
    sign_note,
)

MAX_TREE_SIZE = 2**64 - 1  # sizes are uint64 in every tlog implementation this must interoperate with
_DECIMAL = re.compile(r"0|[1-9][0-9]*")  # tlog-checkpoint: no leading zeroes (unless the tree is empty)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_fields(self)

    def encode(self) -> str:
        """The note text: one field per line, each ending in a newline."""
        lines = (self.origin, str(self.size), b64encode(self.root_hash), *self.extensions)
        return "".join(line + "\n" for line in lines)


def _check_line(line: str, what: str) -> None:
    if not line or "\n" in line:
        raise MalformedText(f"checkpoint: {what} must be one non-empty line")
    check_note_text(line)


def _check_fields(cp: Checkpoint) -> None:
    _check_line(cp.origin, "origin")
    if not 0 <= cp.size <= MAX_TREE_SIZE:
        raise MalformedText(f"checkpoint: tree size {cp.size} out of range")
    if len(cp.root_hash) != HASH_SIZE:
        raise MalformedText(f"checkpoint: root hash must be {HASH_SIZE} bytes")
    for ext in cp.extensions:
        _check_line(ext, "extension line")


def parse_size(text: str, what: str) -> int:
    """An ASCII decimal uint64 with no sign, spaces or leading zeroes."""
    if not _DECIMAL.fullmatch(text) or len(text) > 20:
        raise MalformedText(f"{what}: not a decimal number without leading zeroes")
    value = int(text)
    if value > MAX_TREE_SIZE:
        raise MalformedText(f"{what}: larger than a uint64")
    return value


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint note *text* (the signed body, not the signatures) strictly."""
    if not text.endswith("\n"):
        raise MalformedText("checkpoint: the text must end with a newline")
    check_note_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedText("checkpoint: fewer than three lines")
    if any(not line for line in lines):
        raise MalformedText("checkpoint: empty line")
    origin, size, root64, *extensions = lines
    root_hash = b64decode_strict(root64, "checkpoint root hash")
    if len(root_hash) != HASH_SIZE:
        raise MalformedText(f"checkpoint: root hash must be {HASH_SIZE} bytes")
    return Checkpoint(origin, parse_size(size, "checkpoint tree size"), root_hash, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """The signed checkpoint note. The spec says the key name SHOULD match the origin; here it must."""
    if signer.name != checkpoint.origin:
        raise ValueError(f"key name {signer.name!r} differs from the checkpoint origin {checkpoint.origin!r}")
    return sign_note(checkpoint.encode(), [signer])


def open_checkpoint(
    note: str | bytes, verifiers: Iterable[NoteVerifier], origin: str | None = None
) -> tuple[Checkpoint, VerifiedNote]:
    """Verify a signed checkpoint and parse its text.

    ``origin`` is the log identity the caller expects; by default the name of the first verifier, since the
    region signs with a key named after its log's origin. A checkpoint of another log is refused even when the
    signature is good: signatures cover the text, not which log the verifier meant.
    """
    trusted = list(verifiers)
    expected = origin if origin is not None else (trusted[0].name if trusted else None)
    opened = open_note(note, trusted)
    checkpoint = parse_checkpoint(opened.text)
    if expected is not None and checkpoint.origin != expected:
        raise VerificationFailed(f"checkpoint origin {checkpoint.origin!r}, expected {expected!r}")
    return checkpoint, opened
