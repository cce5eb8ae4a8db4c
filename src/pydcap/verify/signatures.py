"""ECDSA P-256 / SHA-256 checks over the raw (r || s) signatures used inside quotes and collateral."""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from pydcap.collateral.signed import SignedDocument

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def public_key_from_raw(raw: bytes) -> ec.EllipticCurvePublicKey | None:
    """A P-256 key from its 64-byte x || y encoding, or None if it is not a point on the curve."""
    if len(raw) != 64:
        return None
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + raw)
    except ValueError:
        return None


def verify_raw(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` (64 bytes, r || s) is a valid ECDSA-SHA256 signature of ``data``."""
    if len(signature) != 64:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if r == 0 or s == 0:
        return False
    try:
        key.verify(encode_dss_signature(r, s), data, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True


def document_signature_ok(signed: SignedDocument, key: ec.EllipticCurvePublicKey) -> bool:
    """A signed collateral document's signature, over the bytes as served or, failing that, over Intel's
    compact re-serialisation of the parsed body (Intel's library re-serialises before checking; for the
    compact JSON Intel serves the two are the same bytes, a pretty-printed copy verifies only this way)."""
    if verify_raw(key, signed.signature, signed.body):
        return True
    compact = signed.compact_body
    return compact != signed.body and verify_raw(key, signed.signature, compact)
