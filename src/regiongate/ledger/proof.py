"""C2SP tlog-proof (c2sp.org/tlog-proof@v1): an offline-verifiable receipt that an entry is in the region's log.

Text form, lines separated by newlines::

    c2sp.org/tlog-proof@v1
    extra <base64>            (optional, opaque, NOT authenticated)
    index <decimal, no leading zeroes>
    <base64 SHA-256>          (zero or more: RFC 6962 §2.1.1 inclusion path, leaf's sibling first)
                              (empty line)
    <signed checkpoint note, verbatim>

Verifying recomputes the leaf hash from the entry, checks the checkpoint's signature by the region's key, and
runs the RFC 9162 §2.1.3.2 inclusion check against the signed root.
"""

from __future__ import annotations

from dataclasses import dataclass

from regiongate.ledger.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint, parse_size
from regiongate.ledger.errors import MalformedText, VerificationFailed
from regiongate.ledger.merkle import (
    HASH_SIZE,
    MAX_PROOF_LENGTH,
    NodeReader,
    inclusion_proof,
    leaf_hash,
    tree_root,
    verify_inclusion,
)
from regiongate.ledger.note import (
    NoteVerifier,
    b64decode_strict,
    b64encode,
    check_note_text,
    parse_note,
    parse_verifier_key,
)

HEADER = "c2sp.org/tlog-proof@v1"
FILE_EXTENSION = ".tlog-proof"  # tlog-proof: proofs SHOULD be stored with this extension


@dataclass(frozen=True, slots=True)
class TlogProof:
    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str  # the signed checkpoint note, kept verbatim: its signatures cover these exact bytes
    extra: bytes | None = None

    def encode(self) -> str:
        lines = [HEADER]
        if self.extra is not None:
            lines.append(f"extra {b64encode(self.extra)}")
        lines.append(f"index {self.index}")
        lines.extend(b64encode(h) for h in self.hashes)
        return "\n".join(lines) + "\n\n" + self.checkpoint


@dataclass(frozen=True, slots=True)
class ProofResult:
    """What a verified proof establishes. ``extra`` is carried along but was not authenticated."""

    index: int
    leaf_hash: bytes
    checkpoint: Checkpoint
    signers: tuple[str, ...]
    extra: bytes | None


def _parse_hash(line: str) -> bytes:
    raw = b64decode_strict(line, "tlog-proof hash")
    if len(raw) != HASH_SIZE:
        raise MalformedText(f"tlog-proof: hash of {len(raw)} bytes, expected {HASH_SIZE}")
    return raw


def _parse_head(head: str) -> tuple[int, tuple[bytes, ...], bytes | None]:
    """The lines before the blank line: header, optional extra, index, inclusion path."""
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise MalformedText(f"tlog-proof: first line must be {HEADER!r}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = b64decode_strict(rest.pop(0)[len("extra ") :], "tlog-proof extra data")
    if not rest or not rest[0].startswith("index "):
        raise MalformedText("tlog-proof: missing the index line")
    index = parse_size(rest.pop(0)[len("index ") :], "tlog-proof index")
    if len(rest) > MAX_PROOF_LENGTH:
        raise MalformedText(f"tlog-proof: more than {MAX_PROOF_LENGTH} hashes")
    return index, tuple(_parse_hash(line) for line in rest), extra


def parse_proof(text: str | bytes) -> TlogProof:
    """Parse a tlog-proof strictly, including the structure of its checkpoint (signatures are not checked)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise MalformedText("tlog-proof: not valid UTF-8") from err
    check_note_text(text)
    # Header, index and hash lines are never empty, so the first blank line ends the proof part.
    head, blank, checkpoint = text.partition("\n\n")
    if not blank or not checkpoint:
        raise MalformedText("tlog-proof: no blank line followed by a checkpoint")
    index, hashes, extra = _parse_head(head)
    parse_checkpoint(parse_note(checkpoint).text)
    return TlogProof(index, hashes, checkpoint, extra)


def issue_proof(index: int, signed_checkpoint: str, reader: NodeReader, extra: bytes | None = None) -> TlogProof:
    """The proof for leaf ``index`` against a checkpoint this log signed, built from stored nodes.

    Refuses when the store's root at the checkpoint's size is not the signed one: a receipt that cannot verify
    must never be handed out.
    """
    checkpoint = parse_checkpoint(parse_note(signed_checkpoint).text)
    if tree_root(checkpoint.size, reader) != checkpoint.root_hash:
        raise VerificationFailed(f"stored tree of size {checkpoint.size} does not match the signed root")
    hashes = inclusion_proof(index, checkpoint.size, reader)
    return TlogProof(index, tuple(hashes), signed_checkpoint, extra)


def verify_proof(
    proof_text: str | bytes, leaf_data: bytes, verifier_key: str | NoteVerifier, *, origin: str | None = None
) -> ProofResult:
    """Verify a receipt offline: signature on the checkpoint, then leaf inclusion under its root.

    ``verifier_key`` is the region's key (a ``name+hash+base64`` string or a parsed verifier); ``origin``
    defaults to its name. Raises :class:`MalformedText` or :class:`VerificationFailed`.
    """
    proof = parse_proof(proof_text)
    verifier = parse_verifier_key(verifier_key) if isinstance(verifier_key, str) else verifier_key
    checkpoint, opened = open_checkpoint(proof.checkpoint, [verifier], origin)
    leaf = leaf_hash(leaf_data)
    if not verify_inclusion(proof.index, checkpoint.size, leaf, proof.hashes, checkpoint.root_hash):
        raise VerificationFailed(
            f"inclusion proof for index {proof.index} does not lead to the root of the signed tree of size "
            f"{checkpoint.size}"
        )
    signers = tuple(sig.name for sig in opened.verified)
    return ProofResult(proof.index, leaf, checkpoint, signers, proof.extra)
