"""The region's Ed25519 log key: generated on first start, kept owner-only, its public half published.

The signer key file holds the Go-note ``PRIVATE+KEY+…`` string and must not be readable by group or others (a
key file that is refuses to load, as ssh does). The verifier key (``<origin>+<id>+<base64>``) is written beside it
as ``.pub`` and served at ``GET /v1/ledger/key``: it is all a verifier needs.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from regiongate.ledger.errors import LedgerError
from regiongate.ledger.note import NoteSigner, NoteVerifier, generate_key, parse_signer_key, parse_verifier_key


def load_or_create_signer(path: Path, origin: str) -> NoteSigner:
    if not path.exists():
        _create(path, origin)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise LedgerError(f"log key {path} is accessible by others (mode {mode:o}); chmod 600 it")
    signer = parse_signer_key(path.read_text().strip())
    if signer.name != origin:
        raise LedgerError(f"log key {path} is named {signer.name!r}, but the log's origin is {origin!r}")
    return signer


def _create(path: Path, origin: str) -> None:
    skey, vkey = generate_key(origin)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # EXCL: never overwrite a key
    with os.fdopen(fd, "w") as out:
        out.write(skey + "\n")
        out.flush()
        os.fsync(out.fileno())
    public_path(path).write_text(vkey + "\n")


def public_path(key_path: Path) -> Path:
    return key_path.with_suffix(".pub")


def read_verifier(text_or_path: str) -> NoteVerifier:
    """A verifier key given inline (``name+id+base64``) or as a file holding one."""
    candidate = Path(text_or_path)
    text = candidate.read_text() if candidate.is_file() else text_or_path
    return parse_verifier_key(text.strip())
