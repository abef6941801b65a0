"""C2SP signed-note: byte-exact against golang.org/x/mod/sumdb/note, and strict about everything else."""

from __future__ import annotations

import base64
import hashlib

import pytest

from regiongate.ledger.errors import MalformedText, VerificationFailed
from regiongate.ledger.note import (
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    generate_key,
    key_id,
    open_note,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
)
from tests.ledger.vectors import ENOCH_SIG, ENOCH_VKEY, NOTE_TEXT, PETER_SIG, PETER_SKEY, PETER_VKEY

PETER = parse_verifier_key(PETER_VKEY)
ENOCH = parse_verifier_key(ENOCH_VKEY)


def test_go_key_vectors() -> None:
    signer = parse_signer_key(PETER_SKEY)
    assert (signer.name, signer.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert signer.verifier() == PETER
    assert PETER.vkey == PETER_VKEY
    assert ENOCH.vkey == ENOCH_VKEY


def test_key_id_is_sha256_of_name_newline_type_and_key() -> None:
    expected = hashlib.sha256(b"PeterNeumann\n\x01" + PETER.public_key).digest()[:4]
    assert key_id("PeterNeumann", PETER.public_key) == int.from_bytes(expected, "big") == 0xC74F20A3


def test_signing_is_byte_exact_with_go() -> None:
    assert sign_note(NOTE_TEXT, [parse_signer_key(PETER_SKEY)]) == NOTE_TEXT + "\n" + PETER_SIG


def test_open_verifies_known_keys_and_ignores_unknown_ones() -> None:
    message = NOTE_TEXT + "\n" + PETER_SIG + ENOCH_SIG
    opened = open_note(message, [PETER])
    assert opened.text == NOTE_TEXT
    assert [s.name for s in opened.verified] == ["PeterNeumann"]
    assert [(s.name, s.key_id) for s in opened.unverified] == [("EnochRoot", 0xAF0CFE78)]
    both = open_note(message.encode(), [PETER, ENOCH])
    assert [s.name for s in both.verified] == ["PeterNeumann", "EnochRoot"]
    assert both.unverified == ()


def test_no_known_signature_is_refused() -> None:
    with pytest.raises(VerificationFailed, match="no known signature"):
        open_note(NOTE_TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])


def test_generated_keys_round_trip() -> None:
    skey, vkey = generate_key("eu-west.regiongate.example/log")
    signer, verifier = parse_signer_key(skey), parse_verifier_key(vkey)
    assert signer.verifier() == verifier
    signed = sign_note("hello\n", [signer])
    assert open_note(signed, [verifier]).text == "hello\n"
    assert "PRIVATE" not in repr(signer)
    assert skey.rsplit("+", 1)[1] not in repr(signer)


def test_tampered_body_is_refused() -> None:
    signed = NOTE_TEXT + "\n" + PETER_SIG
    with pytest.raises(VerificationFailed, match="invalid signature for key PeterNeumann"):
        open_note(signed.replace("answer", "Answer"), [PETER])


def test_a_different_key_under_the_same_name_is_unknown() -> None:
    _, vkey = generate_key("PeterNeumann")  # same name, other key, so another key ID
    with pytest.raises(VerificationFailed, match="no known signature"):
        open_note(NOTE_TEXT + "\n" + PETER_SIG, [parse_verifier_key(vkey)])


def test_a_wrong_key_id_is_unknown() -> None:
    sig = parse_note(NOTE_TEXT + "\n" + PETER_SIG).signatures[0]
    relabelled = NoteSignature(sig.name, sig.key_id ^ 1, sig.signature)
    with pytest.raises(VerificationFailed, match="no known signature"):
        open_note(NOTE_TEXT + "\n" + relabelled.line, [PETER])


def test_a_known_name_and_id_with_another_key_fails_verification() -> None:
    impostor = NoteVerifier(PETER.name, PETER.key_id, ENOCH.public_key)  # as if the trust store were wrong
    with pytest.raises(VerificationFailed, match="invalid signature"):
        open_note(NOTE_TEXT + "\n" + PETER_SIG, [impostor])
    with pytest.raises(VerificationFailed, match="ambiguous key"):
        open_note(NOTE_TEXT + "\n" + PETER_SIG, [PETER, impostor])


def test_a_corrupt_signature_by_a_known_key_rejects_the_note() -> None:
    corrupt = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]  # still base64, now a wrong signature
    with pytest.raises(VerificationFailed, match="invalid signature for key PeterNeumann\\+c74f20a3"):
        open_note(NOTE_TEXT + "\n" + corrupt, [PETER])


def test_a_short_signature_by_a_known_key_fails_verification() -> None:
    short = NoteSignature(PETER.name, PETER.key_id, b"\x01")  # well formed (5 bytes), not an Ed25519 signature
    with pytest.raises(VerificationFailed, match="invalid signature"):
        open_note(NOTE_TEXT + "\n" + short.line, [PETER])


def test_repeated_signatures_are_reported_once() -> None:
    corrupt_enoch = ENOCH_SIG[:60] + "ABCD" + ENOCH_SIG[60:]
    message = NOTE_TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + corrupt_enoch
    opened = open_note(message, [PETER])
    assert len(opened.verified) == 1
    assert len(opened.unverified) == 2  # Enoch's, and the corrupt one: unknown keys are not checked


def test_too_many_signatures_is_malformed() -> None:
    with pytest.raises(MalformedText, match="more than 100"):
        open_note(NOTE_TEXT + "\n" + PETER_SIG * 101, [PETER])
    assert len(parse_note(NOTE_TEXT + "\n" + PETER_SIG * 100).signatures) == 100


def _reencoded(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "message",
    [
        NOTE_TEXT,
        NOTE_TEXT + "\n",
        NOTE_TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + NOTE_TEXT + "\n" + PETER_SIG,
        NOTE_TEXT + "\r\n" + PETER_SIG,
        NOTE_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Bad Name")[:-1],
        NOTE_TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        NOTE_TEXT + "\n" + PETER_SIG.replace("— ", "- "),  # hyphen, not em dash
        NOTE_TEXT + "\n" + PETER_SIG.replace("— ", "—"),
        NOTE_TEXT + "\n" + PETER_SIG.replace("Neumann ", "Neumann  "),
        NOTE_TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "Peter+Neumann"),
        NOTE_TEXT + "\n" + PETER_SIG.replace("=\n", "\n"),  # unpadded base64
        NOTE_TEXT + "\n" + PETER_SIG.replace("AM=\n", "AN=\n"),  # non-canonical: stray bits in the padding
        NOTE_TEXT + "\n" + "— PeterNeumann " + _reencoded(b"\xc7\x4f\x20\xa3") + "\n",  # a key ID, no signature
        NOTE_TEXT + "\n" + PETER_SIG + "\n",
        NOTE_TEXT + "\n" + "\ud800" + PETER_SIG,
    ],
)
def test_malformed_notes_are_refused(message: str) -> None:
    with pytest.raises(MalformedText):
        open_note(message, [PETER])


def test_invalid_utf8_bytes_are_refused() -> None:
    with pytest.raises(MalformedText, match="UTF-8"):
        open_note(b"\xff" + (NOTE_TEXT + "\n" + PETER_SIG).encode(), [PETER])


def test_text_may_hold_blank_lines() -> None:
    signer = parse_signer_key(PETER_SKEY)
    for text in ("a\n\nb\n", "a\n\n", "\n"):
        assert open_note(sign_note(text, [signer]), [PETER]).text == text


@pytest.mark.parametrize("text", ["no newline", "tab\there\n", ""])
def test_sign_refuses_bad_text(text: str) -> None:
    with pytest.raises(MalformedText):
        sign_note(text, [parse_signer_key(PETER_SKEY)])


def test_sign_needs_a_signer() -> None:
    with pytest.raises(ValueError, match="at least one signer"):
        sign_note("x\n", [])


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\tname", "nbsp\u00a0name", "line\nname", "em\u2003space"])
def test_invalid_key_names(name: str) -> None:
    with pytest.raises(MalformedText):
        NoteSigner(name, bytes(32))
    with pytest.raises(MalformedText):
        generate_key(name)


def _manglings(key: str) -> set[str]:
    """Every proper substring and every one-character increment, as Go's TestNewVerifier/TestNewSigner try."""
    out = {key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1) if (i, j) != (0, len(key))}
    out |= {key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))}
    return out


def test_mangled_verifier_keys_are_refused() -> None:
    accepted = []
    for k in _manglings(PETER_VKEY):
        try:
            parse_verifier_key(k)
        except MalformedText:
            continue
        accepted.append(k)
    assert accepted == []


def test_mangled_signer_keys_are_refused() -> None:
    accepted = []
    for k in _manglings(PETER_SKEY):
        try:
            parse_signer_key(k)
        except MalformedText:
            continue
        accepted.append(k)
    assert accepted == []


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # wrong length, adjusted ID
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown algorithm, adjusted ID
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW+",
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+0xc74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n",
    ],
)
def test_go_bad_verifier_keys(vkey: str) -> None:
    with pytest.raises(MalformedText):
        parse_verifier_key(vkey)


def test_key_id_hex_is_case_insensitive_like_go() -> None:
    assert parse_verifier_key(PETER_VKEY.replace("c74f20a3", "C74F20A3")) == PETER
