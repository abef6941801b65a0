"""C2SP tlog-proof: issuing receipts from stored nodes, the exact text form, and offline verification."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regiongate.ledger.checkpoint import Checkpoint, sign_checkpoint
from regiongate.ledger.errors import MalformedText, VerificationFailed
from regiongate.ledger.merkle import MerkleAccumulator
from regiongate.ledger.note import generate_key, parse_signer_key, parse_verifier_key, sign_note
from regiongate.ledger.proof import HEADER, TlogProof, issue_proof, parse_proof, verify_proof

ORIGIN = "eu-west.regiongate.example/log"
SKEY, VKEY = generate_key(ORIGIN)
SIGNER = parse_signer_key(SKEY)
WITNESS_SKEY, _ = generate_key("witness.example")
SIZE = 37


def _entry(n: int) -> bytes:
    return f'{{"request": {n}}}'.encode()


def _log(size: int = SIZE) -> tuple[MerkleAccumulator, str]:
    acc = MerkleAccumulator()
    for n in range(size):
        acc.append(_entry(n))
    return acc, sign_checkpoint(Checkpoint(ORIGIN, acc.size, acc.root()), SIGNER)


LOG, SIGNED = _log()
LOG_TEXT = Checkpoint(ORIGIN, SIZE, LOG.root()).encode()


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def test_text_form_follows_the_spec() -> None:
    proof = issue_proof(5, SIGNED, LOG, extra=b"ctx")
    path = LOG.inclusion_proof(5)
    expected = "\n".join([HEADER, "extra Y3R4", "index 5", *(_b64(h) for h in path)]) + "\n\n" + SIGNED
    assert proof.encode() == expected
    assert parse_proof(expected) == proof


@pytest.mark.parametrize("index", [0, 1, 5, 31, 32, 35, 36])
def test_every_receipt_verifies(index: int) -> None:
    text = issue_proof(index, SIGNED, LOG).encode()
    result = verify_proof(text, _entry(index), VKEY)
    assert (result.index, result.checkpoint.size, result.checkpoint.root_hash) == (index, SIZE, LOG.root())
    assert result.signers == (ORIGIN,)
    assert result.extra is None
    assert verify_proof(text.encode(), _entry(index), parse_verifier_key(VKEY)).index == index


def test_single_leaf_log_has_an_empty_path() -> None:
    acc, signed = _log(1)
    text = issue_proof(0, signed, acc).encode()
    assert f"index 0\n\n{ORIGIN}\n1\n" in text
    assert verify_proof(text, _entry(0), VKEY).checkpoint.size == 1


@given(st.integers(0, SIZE - 1), st.one_of(st.none(), st.binary(max_size=40)))
def test_round_trip(index: int, extra: bytes | None) -> None:
    proof = issue_proof(index, SIGNED, LOG, extra)
    assert parse_proof(proof.encode()) == proof
    assert verify_proof(proof.encode(), _entry(index), VKEY).extra == extra


def test_witness_cosignatures_are_ignored() -> None:
    cosigned = SIGNED + sign_note(LOG_TEXT, [parse_signer_key(WITNESS_SKEY)]).split("\n\n", 1)[1]
    result = verify_proof(issue_proof(3, cosigned, LOG).encode(), _entry(3), VKEY)
    assert result.signers == (ORIGIN,)


def test_wrong_entry_is_refused() -> None:
    text = issue_proof(3, SIGNED, LOG).encode()
    with pytest.raises(VerificationFailed, match="inclusion proof for index 3"):
        verify_proof(text, _entry(4), VKEY)


def test_wrong_index_is_refused() -> None:
    text = issue_proof(3, SIGNED, LOG).encode().replace("index 3\n", "index 2\n")
    with pytest.raises(VerificationFailed, match="inclusion proof"):
        verify_proof(text, _entry(3), VKEY)


def test_index_beyond_the_checkpoint_is_refused() -> None:
    text = issue_proof(3, SIGNED, LOG).encode().replace("index 3\n", f"index {SIZE}\n")
    with pytest.raises(VerificationFailed, match="inclusion proof"):
        verify_proof(text, _entry(3), VKEY)


def test_tampered_hash_is_refused() -> None:
    proof = issue_proof(3, SIGNED, LOG)
    bad = TlogProof(proof.index, (bytes(32), *proof.hashes[1:]), proof.checkpoint)
    with pytest.raises(VerificationFailed, match="inclusion proof"):
        verify_proof(bad.encode(), _entry(3), VKEY)


def test_tampered_checkpoint_is_refused() -> None:
    text = issue_proof(3, SIGNED, LOG).encode().replace(f"\n{SIZE}\n", f"\n{SIZE + 1}\n")
    with pytest.raises(VerificationFailed, match="invalid signature"):
        verify_proof(text, _entry(3), VKEY)


def test_another_key_is_refused() -> None:
    _, other = generate_key(ORIGIN)
    with pytest.raises(VerificationFailed, match="no known signature"):
        verify_proof(issue_proof(3, SIGNED, LOG).encode(), _entry(3), other)


def test_another_log_is_refused() -> None:
    skey, vkey = generate_key("other.example/log")
    acc, _ = _log(4)
    signed = sign_checkpoint(Checkpoint("other.example/log", 4, acc.root()), parse_signer_key(skey))
    text = issue_proof(1, signed, acc).encode()
    assert verify_proof(text, _entry(1), vkey).checkpoint.origin == "other.example/log"
    with pytest.raises(VerificationFailed, match="origin"):
        verify_proof(text, _entry(1), vkey, origin=ORIGIN)


def test_issuing_against_a_checkpoint_the_store_does_not_match_is_refused() -> None:
    acc, _ = _log(SIZE - 1)
    acc.append(b"something else")
    with pytest.raises(VerificationFailed, match="does not match the signed root"):
        issue_proof(0, SIGNED, acc)


def test_issuing_for_an_index_outside_the_checkpoint_is_refused() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        issue_proof(SIZE, SIGNED, LOG)


H = _b64(bytes(32))


@pytest.mark.parametrize(
    "head",
    [
        "wrong-header\nindex 0",  # Go's TestVerifyTLogProofErrors cases first
        f"{HEADER}\nextra !!notbase64!!\nindex 0",
        f"{HEADER}\n",
        f"{HEADER}\nindex notanumber",
        f"{HEADER}\nindex -5",
        f"{HEADER}\nindex 0\n!!notbase64!!",
        f"{HEADER}\nindex 0\n{_b64(bytes(64))}",
        f"{HEADER}\nindex 0\n{_b64(bytes(31))}",
        f"{HEADER}\nindex 01",
        f"{HEADER}\nindex +1",
        f"{HEADER}\nindex  1",
        f"{HEADER}\nindex 18446744073709551616",
        f"{HEADER}\nIndex 0",
        f"{HEADER}\nindex 0\nextra AA==",  # extra comes before the index
        f"{HEADER}\nextra AA==\nextra AA==\nindex 0",
        f"{HEADER}\nextra AB==\nindex 0",  # non-canonical base64
        f"{HEADER} \nindex 0",
        "c2sp.org/tlog-proof@v2\nindex 0",
        f"{HEADER}\nindex 0\n{H[:-1]}",
        f"{HEADER}\nindex 0\n{H} ",
        f"{HEADER}\nindex 0" + f"\n{H}" * 65,
    ],
)
def test_malformed_heads_are_refused(head: str) -> None:
    with pytest.raises(MalformedText):
        parse_proof(head + "\n\n" + SIGNED)


@pytest.mark.parametrize(
    "text",
    [
        "",
        f"{HEADER}\nindex 0\n",  # no blank line, no checkpoint
        f"{HEADER}\nindex 0\n\n",  # no checkpoint
        f"{HEADER}\nindex 0\n\n\n{SIGNED}",  # two blank lines
        f"{HEADER}\nindex 0\n\n{SIGNED}trailing\n",
        f"{HEADER}\nindex 0\n\n{SIGNED[:-1]}",
        f"{HEADER}\nindex 0\n\n{Checkpoint(ORIGIN, 1, bytes(32)).encode()}",  # checkpoint without signatures
        f"{HEADER}\r\nindex 0\n\n{SIGNED}",
        f"{HEADER}\nindex 0\n\n{SIGNED.replace(chr(10) + str(SIZE), chr(10) + '0' + str(SIZE))}",
    ],
)
def test_malformed_proofs_are_refused(text: str) -> None:
    with pytest.raises(MalformedText):
        parse_proof(text)


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(MalformedText, match="UTF-8"):
        parse_proof(b"\xff" + issue_proof(0, SIGNED, LOG).encode().encode())


def test_malformed_verifier_key_is_refused() -> None:
    with pytest.raises(MalformedText, match="verifier key"):
        verify_proof(issue_proof(0, SIGNED, LOG).encode(), _entry(0), "not a key")


def test_empty_extra_is_kept_distinct_from_none() -> None:
    text = issue_proof(0, SIGNED, LOG, extra=b"").encode()
    assert "\nextra \n" in text
    assert parse_proof(text).extra == b""
