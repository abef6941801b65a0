"""Bearer API keys → tenants. Keys are never stored, only their SHA-256 digests.

Lookup is by digest, and that is the constant-time property: the only secret-dependent timing is the table's probe
comparing SHA-256(guess) with stored digests, and an attacker cannot steer the digest of a guess byte by byte. A
``hmac.compare_digest`` after the probe would compare the found digest with itself (the probe matched on equality),
so there is none.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from regiongate.errors import AuthenticationFailed
from regiongate.topology.records import Tenant

KEY_PREFIX = "rg-"


_SHA256 = hashlib.sha256()  # copied per key: cheaper than asking OpenSSL for the algorithm on every request


def key_digest(key: str) -> bytes:
    h = _SHA256.copy()
    h.update(key.encode())
    return h.digest()


def new_key() -> tuple[str, str]:
    """A fresh API key and the ``sha256:<hex>`` form to put in the topology."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, "sha256:" + key_digest(key).hex()


class KeyRing:
    def __init__(self, tenants: Iterable[Tenant]) -> None:
        self._by_digest: dict[bytes, Tenant] = {}
        for tenant in tenants:
            for digest in tenant.key_hashes:
                self._by_digest[digest] = tenant

    def authenticate(self, authorization: str | None) -> Tenant:
        if not authorization:
            raise AuthenticationFailed("Missing API key: send `Authorization: Bearer <key>`.")
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthenticationFailed("Malformed Authorization header: expected `Bearer <key>`.")
        digest = key_digest(key.strip())
        tenant = self._by_digest.get(digest)
        if tenant is None:
            raise AuthenticationFailed("Incorrect API key provided.")
        return tenant
