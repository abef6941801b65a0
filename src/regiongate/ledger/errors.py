"""The ledger's exceptions: one base, split by what went wrong, so the CLI and HTTP layer can word their answers.

``MalformedText`` means the input does not follow the format at all (a key, note, checkpoint or proof that a
strict parser refuses); ``VerificationFailed`` means it is well formed but does not prove what it claims (a bad
or missing signature, an inclusion proof that does not lead to the signed root, an unexpected origin).
"""

from __future__ import annotations

from regiongate.errors import RegiongateError


class LedgerError(RegiongateError):
    """Base of every error raised by :mod:`regiongate.ledger`."""


class MalformedText(LedgerError):
    """A key, signed note, checkpoint or tlog-proof text that a strict parser refuses."""


class VerificationFailed(LedgerError):
    """Well-formed material that does not verify: a signature, a Merkle proof, or an origin check failed."""
