from __future__ import annotations

import hashlib

import pytest

from regiongate.api.auth import KeyRing, key_digest, new_key
from regiongate.errors import AuthenticationFailed
from regiongate.policy.ast import ProcessingIn
from regiongate.topology.records import Tenant


def tenant(name: str, *keys: str) -> Tenant:
    return Tenant(name, tuple(key_digest(k) for k in keys), ProcessingIn(frozenset({"DE"})))


def test_keys_map_to_their_tenant() -> None:
    ring = KeyRing([tenant("a", "k1", "k2"), tenant("b", "k3")])
    assert ring.authenticate("Bearer k1").id == "a"
    assert ring.authenticate("Bearer k2").id == "a"
    assert ring.authenticate("bearer k3").id == "b"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic k1", "k1", "Bearer k4", "Bearer K1"])
def test_anything_else_is_refused(header: str | None) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        KeyRing([tenant("a", "k1")]).authenticate(header)
    assert caught.value.status == 401


def test_new_key_matches_its_digest() -> None:
    key, entry = new_key()
    assert entry == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert len(key) > 40
    assert KeyRing([Tenant("t", (key_digest(key),), ProcessingIn(frozenset({"DE"})))]).authenticate(f"Bearer {key}")
