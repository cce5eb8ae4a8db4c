"""Per-verifier memory of parsed CA certificates, chains and CRLs and of signature checks, keyed by exact bytes.

The same root, CA and TCB Signing certificates and CRLs appear in every chain and bundle; each is parsed and
checked once. Keys are the exact encoded bytes plus the issuer's key, so a cached answer can only ever be
reused for identical input. What belongs to one platform (its PCK certificate) is not kept here: the verifier
keeps a compact record per platform instead.

One thing is shared by every verifier in the process: the certificates a trust root pins (its
``signed_certificates``: for Intel, the root, the PCK CAs and the TCB Signing certificates) once read, the chains
made of nothing else, and their keys. They are as fixed as the root key, so a new verifier does not read them again;
everything else it reads itself.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from pydcap.lazy import remember
from pydcap.pki.certs import Certificate, CertificateChain
from pydcap.pki.crl import RevocationList
from pydcap.pki.trust import TrustRoot
from pydcap.trust.lru import BoundedCache
from pydcap.trust.signatures import public_key_from_point

# What reading pinned certificates gave, whichever verifier read them: each certificate by its exact PEM block, and
# each chain of nothing else by its exact PEM (a few of each per pinned certificate: line breaks vary between
# sources; bounded all the same).
_PINNED_BLOCKS: dict[bytes, Certificate] = {}
_PINNED_CHAINS: dict[bytes, CertificateChain] = {}
_PINNED_MAX = 64
# Their keys as Intel reads a key for raw signatures (``point_key``), by point (None until first made): a new
# verifier checks the TCB info and QE identity with the TCB Signing certificate's key object, made once.
_PINNED_KEYS: dict[bytes, ec.EllipticCurvePublicKey | None] = {}


class PkiMemo:
    """``trust``: the root whose ``signed_certificates`` need no check (Intel's, by default)."""

    def __init__(self, maxsize: int = 512, trust: TrustRoot | None = None) -> None:
        root = trust if trust is not None else TrustRoot.intel()
        self._pinned_key, self._pinned = root.public_key, root.signed_certificates
        self._certs: BoundedCache[Certificate] = BoundedCache(maxsize)
        self._chains: BoundedCache[CertificateChain] = BoundedCache(maxsize)
        self._crls: BoundedCache[RevocationList] = BoundedCache(maxsize)
        self._signatures: BoundedCache[bool] = BoundedCache(maxsize * 2)
        self._keys: BoundedCache[ec.EllipticCurvePublicKey] = BoundedCache(maxsize)

    def certificate(self, pem_block: bytes) -> Certificate:
        pinned = _PINNED_BLOCKS.get(pem_block)
        if pinned is not None:
            return pinned
        return self._certs.get_or_compute(pem_block, lambda: self._read(pem_block))

    def chain(self, pem: bytes) -> CertificateChain:
        """A chain as Intel's library parses it (every certificate must carry the required X.509 extensions),
        remembered whole."""
        pinned = _PINNED_CHAINS.get(pem)
        if pinned is not None:
            return pinned
        return self._chains.get_or_compute(pem, lambda: self._read_whole(pem))

    def _read_whole(self, pem: bytes) -> CertificateChain:
        chain = CertificateChain.parse(pem, self.certificate, require_extensions=True)
        if all(cert.digest in self._pinned for cert in chain.certificates):
            remember(_PINNED_CHAINS, pem, chain, _PINNED_MAX)
        return chain

    def read_chain(self, pem: bytes) -> CertificateChain:
        """Like ``chain``, for a chain seen once (a quote's): only its CA certificates, the ones that issue another
        certificate of the chain, are remembered."""
        fresh: dict[bytes, Certificate] = {}

        def load(block: bytes) -> Certificate:
            cert = self._certs.get(block)
            if cert is None:
                cert = fresh[block] = self._read(block)
            return cert

        chain = CertificateChain.parse(pem, load, require_extensions=True)
        for block, cert in fresh.items():
            if cert is not chain.topmost:
                self._certs.put(block, cert)
        return chain

    def _read(self, pem_block: bytes) -> Certificate:
        """A certificate read from ``pem_block``, or the same block read before by any verifier when it is one of
        the certificates this trust root pins."""
        cert = _PINNED_BLOCKS.get(pem_block)
        if cert is None:
            cert = Certificate.from_pem(pem_block)
            if cert.digest in self._pinned:
                remember(_PINNED_BLOCKS, pem_block, cert, _PINNED_MAX)
                if cert.public_key_bytes not in _PINNED_KEYS:
                    remember(_PINNED_KEYS, cert.public_key_bytes, None, _PINNED_MAX)
        return cert

    def crl(self, der: bytes) -> RevocationList:
        return self._crls.get_or_compute(der, lambda: RevocationList.parse(der))

    def signed_by(self, cert: Certificate, issuer: Certificate) -> bool:
        """``cert``'s signature verifies with ``issuer``'s key (known without a check for the certificates the
        trust root pins)."""
        issuer_key = issuer.public_key_bytes
        if issuer_key == self._pinned_key and cert.digest in self._pinned:
            return True
        return self._signatures.get_or_compute(("cert", cert.der, issuer_key), lambda: cert.is_signed_by(issuer))

    def self_signed(self, root: Certificate) -> bool:
        return root.self_issued and self.signed_by(root, root)

    def crl_signed_by(self, crl: RevocationList, issuer: Certificate) -> bool:
        key = ("crl", crl.der, issuer.public_key_bytes)
        return self._signatures.get_or_compute(key, lambda: crl.is_signed_by(issuer))

    def point_key(self, point: bytes) -> ec.EllipticCurvePublicKey | None:
        """The key of a certificate that signs collateral (its ``public_key_bytes``), as Intel reads it for raw
        signatures: a P-256 point, or None when it is not one."""
        key = self._keys.get(point)
        if key is None:
            key = _PINNED_KEYS.get(point)
            if key is None:
                key = public_key_from_point(point)
                if key is not None and point in _PINNED_KEYS:
                    _PINNED_KEYS[point] = key
            if key is not None:
                self._keys.put(point, key)
        return key

    def clear(self) -> None:
        for cache in (self._certs, self._chains, self._crls, self._signatures, self._keys):
            cache.clear()
