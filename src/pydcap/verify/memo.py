"""Per-verifier memory of parsed certificates and CRLs and of signature checks, keyed by exact bytes.

The same root, TCB Signing certificate and root CA CRL appear in several chains of one bundle; each is
parsed and checked once. Keys are the exact encoded bytes plus the issuer's key, so a cached answer can
only ever be reused for identical input.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives.asymmetric import ec

from pydcap.pki.certs import Certificate, CertificateChain
from pydcap.pki.crl import RevocationList
from pydcap.pki.trust import KNOWN_GOOD_ROOT_CERTIFICATES
from pydcap.verify.cache import BoundedCache
from pydcap.verify.signatures import public_key_from_point, public_key_from_raw, verify_raw


class PkiMemo:
    def __init__(self, maxsize: int = 512) -> None:
        self._certs: BoundedCache[Certificate] = BoundedCache(maxsize)
        self._chains: BoundedCache[CertificateChain] = BoundedCache(maxsize)
        self._crls: BoundedCache[RevocationList] = BoundedCache(maxsize)
        self._signatures: BoundedCache[bool] = BoundedCache(maxsize * 2)
        self._keys: BoundedCache[ec.EllipticCurvePublicKey | None] = BoundedCache(maxsize)

    def certificate(self, pem_block: bytes) -> Certificate:
        return self._certs.get_or_compute(pem_block, lambda: Certificate.from_pem(pem_block))

    def chain(self, pem: bytes) -> CertificateChain:
        """A chain as Intel's library parses it: every certificate must carry the required X.509 extensions."""
        return self._chains.get_or_compute(
            pem, lambda: CertificateChain.parse(pem, self.certificate, require_extensions=True)
        )

    def crl(self, der: bytes) -> RevocationList:
        return self._crls.get_or_compute(der, lambda: RevocationList.parse(der))

    def signed_by(self, cert: Certificate, issuer: Certificate) -> bool:
        key = ("cert", cert.der, issuer.public_key_bytes)
        return self._signatures.get_or_compute(key, lambda: cert.is_signed_by(issuer))

    def self_signed(self, root: Certificate) -> bool:
        if not root.self_issued:
            return False
        if hashlib.sha256(root.der).digest() in KNOWN_GOOD_ROOT_CERTIFICATES:
            return True
        return self.signed_by(root, root)

    def crl_signed_by(self, crl: RevocationList, issuer: Certificate) -> bool:
        key = ("crl", crl.der, issuer.public_key_bytes)
        return self._signatures.get_or_compute(key, lambda: crl.is_signed_by(issuer))

    def raw_signature_ok(self, key_bytes: bytes, key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
        """A raw (r || s) signature check, remembered: for the QE report, which every quote of a platform
        repeats (the quote's own signature is never remembered)."""
        return self._signatures.get_or_compute(
            ("raw", key_bytes, signature, data), lambda: verify_raw(key, signature, data)
        )

    def attestation_key(self, raw: bytes) -> ec.EllipticCurvePublicKey | None:
        """The P-256 key of a quote's 64-byte attestation key, or None if it is not a point on the curve."""
        return self._keys.get_or_compute(raw, lambda: public_key_from_raw(raw))

    def certificate_key(self, cert: Certificate) -> ec.EllipticCurvePublicKey | None:
        """The certificate's key as Intel reads it for raw signatures (QE report, collateral documents): a
        P-256 point, or None when it is not one."""
        point = cert.public_key_bytes
        return self._keys.get_or_compute(("point", point), lambda: public_key_from_point(point))

    def clear(self) -> None:
        for cache in (self._certs, self._chains, self._crls, self._signatures, self._keys):
            cache.clear()
