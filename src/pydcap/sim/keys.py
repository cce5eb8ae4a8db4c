"""Deterministic P-256 keys and raw ECDSA signatures for the simulated Intel.

Every private key is derived from the seed and a label with SHA-256, so a seed names one whole simulated
world. Keys are cached per (seed, label); signatures are RFC 6979 deterministic, so equal inputs give
byte-identical certificates, CRLs and documents.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from pydcap.pki.trust import public_key_point

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_DETERMINISTIC_ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


def derive_bytes(seed: int, label: str, size: int) -> bytes:
    """``size`` pseudo-random bytes named by (seed, label)."""
    return hashlib.shake_256(f"pydcap-sim/{seed}/{label}".encode()).digest(size)


@lru_cache(maxsize=4096)
def derive_key(seed: int, label: str) -> ec.EllipticCurvePrivateKey:
    """The P-256 private key named by (seed, label)."""
    counter = 0
    while True:
        digest = hashlib.sha256(f"pydcap-sim-key/{seed}/{label}/{counter}".encode()).digest()
        scalar = int.from_bytes(digest, "big")
        if 0 < scalar < _P256_ORDER:
            return ec.derive_private_key(scalar, ec.SECP256R1())
        counter += 1


def raw_public_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The 64-byte x || y encoding quotes use for public keys."""
    return public_key_point(key.public_key())[1:]


def sign_raw(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA-SHA256 over ``data`` as Intel lays signatures out: 32-byte r || 32-byte s."""
    r, s = decode_dss_signature(key.sign(data, _DETERMINISTIC_ECDSA))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
