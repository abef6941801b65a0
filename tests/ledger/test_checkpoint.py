"""C2SP tlog-checkpoint: the spec's example, round trips, signing, and strict rejection."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regiongate.ledger.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint, sign_checkpoint
from regiongate.ledger.errors import MalformedText, VerificationFailed
from regiongate.ledger.note import generate_key, parse_note, parse_signer_key, parse_verifier_key

ORIGIN = "eu-west.regiongate.example/log"
SKEY, VKEY = generate_key(ORIGIN)
SIGNER, VERIFIER = parse_signer_key(SKEY), parse_verifier_key(VKEY)
ROOT = bytes(range(32))

# c2sp.org/tlog-checkpoint's example (the key behind its signature is not published, so only its form is checked).
SPEC_EXAMPLE = (
    "example.com/behind-the-sofa\n"
    "20852163\n"
    "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    "\n"
    "— example.com/behind-the-sofa "
    "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)


def test_spec_example_parses() -> None:
    note = parse_note(SPEC_EXAMPLE)
    cp = parse_checkpoint(note.text)
    assert (cp.origin, cp.size, len(cp.root_hash), cp.extensions) == ("example.com/behind-the-sofa", 20852163, 32, ())
    assert cp.encode() == note.text
    assert [(s.name, len(s.signature)) for s in note.signatures] == [("example.com/behind-the-sofa", 64)]


def test_encoding_is_one_field_per_line() -> None:
    cp = Checkpoint(ORIGIN, 0, ROOT, ("ext one", "ext two"))
    assert cp.encode() == f"{ORIGIN}\n0\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\next one\next two\n"


# Any one line of note text: no ASCII control character, no surrogate (not encodable as UTF-8).
_line = st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1, max_size=30)


@given(_line, st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32), st.lists(_line, max_size=3))
def test_round_trip(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    cp = Checkpoint(origin, size, root, tuple(extensions))
    assert parse_checkpoint(cp.encode()) == cp


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        f"{ORIGIN}\n1\n",  # no root line
        f"{ORIGIN}\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",  # no final newline
        "\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # empty origin
        f"{ORIGIN}\n01\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # leading zero
        f"{ORIGIN}\n+1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        f"{ORIGIN}\n-1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        f"{ORIGIN}\n 1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        f"{ORIGIN}\n1_0\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        f"{ORIGIN}\n١\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # a non-ASCII digit
        f"{ORIGIN}\n18446744073709551616\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",  # 2**64
        f"{ORIGIN}\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n",  # unpadded
        f"{ORIGIN}\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=\n",  # non-canonical padding bits
        f"{ORIGIN}\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==\n",  # 31 bytes
        f"{ORIGIN}\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\n",  # empty extension line
        f"{ORIGIN}\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r\n",
        f"{ORIGIN}\r\n1\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(MalformedText):
        parse_checkpoint(text)


def test_largest_size_is_accepted() -> None:
    text = f"{ORIGIN}\n18446744073709551615\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    assert parse_checkpoint(text).size == 2**64 - 1


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [("", 1, ROOT, ()), ("a\nb", 1, ROOT, ()), (ORIGIN, -1, ROOT, ()), (ORIGIN, 2**64, ROOT, ()),
     (ORIGIN, 1, ROOT[:31], ()), (ORIGIN, 1, ROOT, ("",)), (ORIGIN, 1, ROOT, ("a\tb",))],
)  # fmt: skip
def test_invalid_fields_are_refused(origin: str, size: int, root: bytes, extensions: tuple[str, ...]) -> None:
    with pytest.raises(MalformedText):
        Checkpoint(origin, size, root, extensions)


def test_sign_and_open() -> None:
    cp = Checkpoint(ORIGIN, 42, ROOT)
    signed = sign_checkpoint(cp, SIGNER)
    opened, note = open_checkpoint(signed, [VERIFIER])
    assert opened == cp
    assert [s.name for s in note.verified] == [ORIGIN]


def test_the_key_name_must_be_the_origin() -> None:
    with pytest.raises(ValueError, match="differs from the checkpoint origin"):
        sign_checkpoint(Checkpoint("another.example/log", 1, ROOT), SIGNER)


def test_another_origin_is_refused_even_with_a_good_signature() -> None:
    signed = sign_checkpoint(Checkpoint(ORIGIN, 42, ROOT), SIGNER)
    with pytest.raises(VerificationFailed, match="origin"):
        open_checkpoint(signed, [VERIFIER], origin="other.example/log")


def test_a_tampered_checkpoint_is_refused() -> None:
    signed = sign_checkpoint(Checkpoint(ORIGIN, 42, ROOT), SIGNER)
    with pytest.raises(VerificationFailed, match="invalid signature"):
        open_checkpoint(signed.replace("\n42\n", "\n43\n"), [VERIFIER])


def test_a_checkpoint_by_another_key_is_refused() -> None:
    _, other_vkey = generate_key(ORIGIN)
    signed = sign_checkpoint(Checkpoint(ORIGIN, 42, ROOT), SIGNER)
    with pytest.raises(VerificationFailed, match="no known signature"):
        open_checkpoint(signed, [parse_verifier_key(other_vkey)])
