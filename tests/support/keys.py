"""Keys the tests make up."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from pydcap.pki import TrustRoot
from pydcap.pki.trust import public_key_point


def other_root() -> TrustRoot:
    """A trust root that is not Intel's (a fresh P-256 key)."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return TrustRoot(public_key_point(key), "a test root")
