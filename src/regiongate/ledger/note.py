"""C2SP signed-note (c2sp.org/signed-note), Ed25519 only, compatible with golang.org/x/mod/sumdb/note.

A signed note is a text ending in a newline, a blank line, then one or more lines
``— <key name> base64(uint32 BE key ID || signature)`` (em dash U+2014). The Ed25519 key ID is
``SHA-256(name || 0x0A || 0x01 || 32-byte public key)[:4]``. Keys travel as the Go note encodings:
verifier ``<name>+<hex key ID>+base64(0x01 || public key)`` and signer
``PRIVATE+KEY+<name>+<hex key ID>+base64(0x01 || 32-byte seed)``.

Parsing is strict: anything the spec does not allow is :class:`MalformedText`. Opening follows the spec's rules:
signatures by unknown keys are ignored, a known key's bad signature rejects the note, and a note with no valid
signature from a known key is rejected ("no known signature").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from regiongate.ledger.errors import MalformedText, VerificationFailed

ALG_ED25519 = 0x01  # signed-note §Signature types
MAX_SIGNATURES = 100  # the spec requires accepting at least 16; 100 is Go's limit, bounding work on hostile input
_SIG_PREFIX = "— "  # U+2014 EM DASH, U+0020 SPACE
_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # every ASCII control character except newline


def b64decode_strict(text: str, what: str) -> bytes:
    """RFC 4648 §4 standard base64 with padding, canonical only (so a value has exactly one text form)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise MalformedText(f"{what}: not standard base64") from err
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedText(f"{what}: not canonical base64")
    return raw


def b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def is_valid_key_name(name: str) -> bool:
    """Key names are non-empty, with no Unicode spaces and no ``+`` (which separates key-string fields)."""
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def key_id(name: str, public_key: bytes) -> int:
    """signed-note §Ed25519: SHA-256(key name || 0x0A || 0x01 || public key)[:4] as a big-endian uint32."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True, slots=True)
class NoteVerifier:
    """One trusted Ed25519 public key under its name."""

    name: str
    key_id: int
    public_key: bytes

    @property
    def vkey(self) -> str:
        """The verifier key string ``name+hash+base64(0x01||pubkey)``, as Go's ``note.NewVerifier`` reads it."""
        return f"{self.name}+{self.key_id:08x}+{b64encode(bytes([ALG_ED25519]) + self.public_key)}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class NoteSigner:
    """An Ed25519 signing key under its name. Its repr never shows the key."""

    __slots__ = ("_key", "key_id", "name", "public_key")

    def __init__(self, name: str, seed: bytes) -> None:
        if not is_valid_key_name(name):
            raise MalformedText(f"invalid key name {name!r}")
        if len(seed) != 32:
            raise MalformedText("an Ed25519 seed is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.name = name
        self.public_key = self._key.public_key().public_bytes_raw()
        self.key_id = key_id(name, self.public_key)

    def __repr__(self) -> str:
        return f"NoteSigner({self.name}+{self.key_id:08x})"

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.name, self.key_id, self.public_key)


def generate_key(name: str) -> tuple[str, str]:
    """A new key pair as ``(signer key, verifier key)`` strings, like Go's ``note.GenerateKey``."""
    seed = secrets.token_bytes(32)
    signer = NoteSigner(name, seed)
    skey = f"PRIVATE+KEY+{name}+{signer.key_id:08x}+{b64encode(bytes([ALG_ED25519]) + seed)}"
    return skey, signer.verifier().vkey


def _split_key(text: str, what: str) -> tuple[str, int, bytes]:
    """``name+hash+base64(alg||key)`` into name, key ID and raw Ed25519 key (the base64 may itself hold ``+``)."""
    parts = text.split("+", 2)
    if len(parts) != 3 or not is_valid_key_name(parts[0]) or not _KEY_ID.fullmatch(parts[1]):
        raise MalformedText(f"malformed {what}")
    name, hex_id, key64 = parts
    raw = b64decode_strict(key64, what)
    if not raw or raw[0] != ALG_ED25519:
        raise MalformedText(f"{what}: unknown key algorithm (only Ed25519, 0x01, is supported)")
    if len(raw) != 33:
        raise MalformedText(f"{what}: an Ed25519 key is 32 bytes")
    return name, int(hex_id, 16), raw[1:]


def parse_verifier_key(vkey: str) -> NoteVerifier:
    name, kid, public_key = _split_key(vkey, "verifier key")
    if kid != key_id(name, public_key):
        raise MalformedText("verifier key: key ID does not match the name and public key")
    try:
        Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError as err:
        raise MalformedText("verifier key: not an Ed25519 public key") from err
    return NoteVerifier(name, kid, public_key)


def parse_signer_key(skey: str) -> NoteSigner:
    prefix = "PRIVATE+KEY+"
    if not skey.startswith(prefix):
        raise MalformedText("malformed signer key")
    name, kid, seed = _split_key(skey[len(prefix) :], "signer key")
    signer = NoteSigner(name, seed)
    if signer.key_id != kid:  # the ID commits to the public key, so it can only be checked after deriving it
        raise MalformedText("signer key: key ID does not match the name and derived public key")
    return signer


@dataclass(frozen=True, slots=True)
class NoteSignature:
    name: str
    key_id: int
    signature: bytes  # without the 4-byte key ID

    @property
    def line(self) -> str:
        return f"{_SIG_PREFIX}{self.name} {b64encode(self.key_id.to_bytes(4, 'big') + self.signature)}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A parsed, not yet verified, signed note. ``text`` includes its final newline."""

    text: str
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True, slots=True)
class VerifiedNote:
    text: str
    verified: tuple[NoteSignature, ...]  # by known keys, each checked
    unverified: tuple[NoteSignature, ...]  # by unknown keys (e.g. witnesses), ignored as the spec requires


def check_note_text(message: str) -> None:
    """signed-note §Format: valid UTF-8 with no ASCII control character but newline."""
    if _CONTROL.search(message):
        raise MalformedText("signed note: control character")
    try:
        message.encode("utf-8")
    except UnicodeEncodeError as err:  # lone surrogates cannot be UTF-8
        raise MalformedText("signed note: not valid UTF-8") from err


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(_SIG_PREFIX):
        raise MalformedText("signed note: signature line does not start with an em dash and a space")
    name, space, sig64 = line[len(_SIG_PREFIX) :].partition(" ")
    if not space or not is_valid_key_name(name) or not sig64:
        raise MalformedText("signed note: malformed signature line")
    raw = b64decode_strict(sig64, "signed note signature")
    if len(raw) < 5:
        raise MalformedText("signed note: signature too short")
    return NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:])


def parse_note(message: str | bytes) -> Note:
    """Split a signed note into text and signatures without verifying anything."""
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError as err:
            raise MalformedText("signed note: not valid UTF-8") from err
    check_note_text(message)
    split = message.rfind("\n\n")  # the text may hold blank lines: the last one separates the signatures
    if split < 0:
        raise MalformedText("signed note: no blank line before the signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedText("signed note: no signature, or the last line does not end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedText(f"signed note: more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(_parse_signature_line(line) for line in lines))


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``text`` (which must end in a newline) with each signer, in order."""
    if not text.endswith("\n"):
        raise MalformedText("note text must end with a newline")
    if not signers:
        raise ValueError("a signed note needs at least one signer")
    check_note_text(text)
    message = text.encode("utf-8")
    lines = [NoteSignature(s.name, s.key_id, s.sign(message)).line for s in signers]
    return text + "\n" + "".join(lines)


def _index_verifiers(verifiers: Iterable[NoteVerifier]) -> dict[tuple[str, int], list[NoteVerifier]]:
    index: dict[tuple[str, int], list[NoteVerifier]] = {}
    for v in dict.fromkeys(verifiers):  # the same key given twice is harmless; two keys with one ID are not
        index.setdefault((v.name, v.key_id), []).append(v)
    return index


def open_note(message: str | bytes, verifiers: Iterable[NoteVerifier]) -> VerifiedNote:
    """Parse and verify a signed note against the trusted ``verifiers``; raises unless a known key signed it."""
    note = parse_note(message)
    known = _index_verifiers(verifiers)
    payload = note.text.encode("utf-8")
    verified: dict[tuple[str, int], NoteSignature] = {}
    unverified: dict[NoteSignature, None] = {}
    for sig in note.signatures:
        candidates = known.get((sig.name, sig.key_id))
        if candidates is None:  # an unknown key, even one sharing a name or an ID with a known key
            unverified[sig] = None
            continue
        if len(candidates) > 1:
            raise VerificationFailed(f"ambiguous key {sig.name}+{sig.key_id:08x}")
        if not candidates[0].verify(payload, sig.signature):
            raise VerificationFailed(f"invalid signature for key {sig.name}+{sig.key_id:08x}")
        verified.setdefault((sig.name, sig.key_id), sig)
    if not verified:
        raise VerificationFailed("no known signature: the note is not signed by any trusted key")
    return VerifiedNote(note.text, tuple(verified.values()), tuple(unverified))
