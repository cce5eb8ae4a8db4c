"""ECDSA P-256 / SHA-256 checks over the raw (r || s) signatures used inside quotes and collateral."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from pydcap.collateral.signed import SignedDocument
from pydcap.pki import native

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_P256 = ec.SECP256R1()


def public_key_from_point(point: bytes) -> ec.EllipticCurvePublicKey | None:
    """A P-256 key from its encoded point, read as Intel's library reads a certificate's key or a quote's
    attestation key (0x04 before its x || y): only an uncompressed point (0x04 || x || y) on the curve qualifies,
    whatever algorithm a certificate names; None otherwise."""
    if len(point) != 65 or point[0] != 0x04:
        return None
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_P256, point)
    except ValueError:
        return None


def der_signature(signature: bytes) -> bytes | None:
    """The DER ``Ecdsa-Sig-Value`` of a 64-byte r || s signature (what ``encode_dss_signature`` gives for the two
    halves read as big-endian integers, at a third of its cost); None when r or s is zero or the length is wrong."""
    if len(signature) != 64:
        return None
    r = signature[:32].lstrip(b"\x00")
    s = signature[32:].lstrip(b"\x00")
    if not r or not s:
        return None
    if r[0] > 0x7F:  # a positive INTEGER whose first byte has its top bit set is written with a leading zero
        r = b"\x00" + r
    if s[0] > 0x7F:
        s = b"\x00" + s
    return b"0%c\x02%c%b\x02%c%b" % (len(r) + len(s) + 4, len(r), r, len(s), s)


def verify_raw(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    """True when ``signature`` (64 bytes, r || s) is a valid ECDSA-SHA256 signature of ``data``."""
    encoded = der_signature(signature)
    if encoded is None:
        return False
    try:
        key.verify(encoded, data, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True


def point_signed(
    point: bytes,
    signature: bytes,
    data: bytes,
    key_of: Callable[[bytes], ec.EllipticCurvePublicKey | None] = public_key_from_point,
) -> bool | None:
    """Whether ``signature`` (64 bytes, r || s) of ``data`` verifies with the key ``point`` (read by Intel's rule, as
    ``public_key_from_point``); None when the point is not a P-256 key. Through the native accelerator when it is on
    and accepts; else through the key object ``key_of`` gives for the point (a cached one, say)."""
    if native.enabled() and native.fixed_ok(point, signature, data):
        return True
    key = key_of(point)
    return None if key is None else verify_raw(key, signature, data)


def document_signed(
    signed: SignedDocument,
    point: bytes,
    key_of: Callable[[bytes], ec.EllipticCurvePublicKey | None] = public_key_from_point,
) -> bool:
    """A signed collateral document's signature, checked as Intel's library checks it: over the compact
    re-serialisation of the parsed body (the served body itself for the compact JSON Intel serves; a pretty-printed
    copy still verifies, a body signed in any other form does not), with the signer's key ``point`` read as a P-256
    point (``point_signed``: False when it is not one). The verifier and the caches' admission both check so."""
    return bool(point_signed(point, signed.signature, signed.compact_body, key_of))
