"""The trust anchor: Intel's SGX Root CA, pinned by public key, or a root the caller passes explicitly."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pydcap.errors import CertificateFormatError
from pydcap.pki.certs import Certificate

# The public key of "Intel SGX Root CA" (P-256, uncompressed point). Two root certificates carry it
# (one valid to 2033, the current one to 2049), so the root is pinned by key, not by certificate bytes.
INTEL_SGX_ROOT_CA_PUBLIC_KEY = bytes.fromhex(
    "040ba9c4c0c0c86193a3fe23d6b02cda10a8bbd4e88e48b4458561a36e705525f5"
    "67918e2edc88e40d860bd0cc4ee26aacc988e505a953558c453f6b0904ae7394"
)


# SHA-256 of the DER of certificates known to carry a valid signature by the Intel SGX Root CA key (each checked
# once, by a test over the real bundles): the root itself (valid to 2049), the PCK Platform and Processor CAs, and
# the TCB Signing certificates of 2018 and 2025. In a chain whose issuer holds that key, these exact bytes need no
# signature check (any other bytes get one); names, extensions and revocation are checked as for any certificate.
INTEL_SIGNED_CERTIFICATES = frozenset(
    bytes.fromhex(h)
    for h in (
        "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3",  # Intel SGX Root CA, to 2049
        "22eb770dca215b607b5ccfc21a672b1da5cc660b1ad0365020567979edcaa0e1",  # Intel SGX PCK Platform CA
        "13b2dccef8fc4ec977ee5249743b0f758ebd1e28d768b2e1e12bc348adaa09fb",  # Intel SGX PCK Processor CA
        "ec37d98107bfb7dab6ff8de4d4dda6fde30a6f50b0d7b03eefb5652f1e652969",  # Intel SGX TCB Signing, 2018-2025
        "c0575e76d0303b61d09cde8cbdb70db34a74f38318300d7c0e6ba8cf4bf45aea",  # Intel SGX TCB Signing, 2025-2032
    )
)


def _require_self_signed_ca(cert: Certificate) -> None:
    name = cert.x509.subject.rfc4514_string()
    try:
        constraints = cert.x509.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    except ValueError as exc:
        raise CertificateFormatError(f"trusted root {name!r} has unreadable extensions: {exc}") from exc
    if constraints is None or not constraints.ca:
        raise CertificateFormatError(f"trusted root {name!r} is not a CA certificate (basic constraints CA:TRUE)")
    if not cert.self_issued or not cert.is_signed_by(cert):
        raise CertificateFormatError(
            f"trusted root {name!r} is not self-signed (issued by {cert.x509.issuer.rfc4514_string()!r}): "
            "give the root CA at the top of the chain"
        )


def public_key_point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


@dataclass(frozen=True, slots=True)
class TrustRoot:
    """A root public key that chains must end in. ``is_intel`` is False for any caller-supplied root.

    ``signed_certificates``: the SHA-256 of the DER of certificates known to carry a valid signature by this key
    (for Intel's root, its own CAs and TCB Signing certificates; for another root, those given to ``from_pem``
    as ``issued``, each checked there). Those exact bytes need no signature check in a chain that ends in this
    key; anything else about them (names, extensions, dates, revocation) is checked as for any certificate. They
    make no difference to what verifies, so two roots with one key are equal whatever they pin."""

    public_key: bytes
    name: str
    signed_certificates: frozenset[bytes] = field(default=frozenset(), compare=False)

    @classmethod
    def intel(cls) -> TrustRoot:
        return cls(INTEL_SGX_ROOT_CA_PUBLIC_KEY, "Intel SGX Root CA", INTEL_SIGNED_CERTIFICATES)

    @classmethod
    def from_pem(cls, pem: bytes | str, *, issued: Iterable[bytes | str] = ()) -> TrustRoot:
        """A root from a PEM certificate (for example the simulated Intel's): a self-signed CA certificate with an
        EC key, or ``CertificateFormatError`` saying which it is not. Only its key is kept, and the digests of the
        root certificate and of the ``issued`` certificates (PEM; each must carry the root's signature: its CAs,
        its TCB Signing certificate), so that chains with them skip those signature checks."""
        data = pem.encode() if isinstance(pem, str) else pem
        try:
            cert = x509.load_pem_x509_certificate(data)
            key = cert.public_key()
        except ValueError as exc:
            raise CertificateFormatError(f"trusted root is not a PEM certificate: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise CertificateFormatError("trusted root does not have an EC public key")
        root = Certificate(cert)
        _require_self_signed_ca(root)
        point = public_key_point(key)
        signed = {root.digest}
        for item in issued:
            signed.add(_issued_by(root, item.encode() if isinstance(item, str) else item).digest)
        # The simulated Intel uses Intel's names: the key id is what tells the roots apart in messages.
        name = f"{cert.subject.rfc4514_string()} (key {hashlib.sha256(point).hexdigest()[:16]})"
        return cls(point, name, frozenset(signed))

    @property
    def is_intel(self) -> bool:
        return self.public_key == INTEL_SGX_ROOT_CA_PUBLIC_KEY

    @property
    def key_id(self) -> bytes:
        """SHA-384 of the root public key, as Intel's supplemental data reports it (root_key_id)."""
        return hashlib.sha384(self.public_key).digest()


def _issued_by(root: Certificate, pem: bytes) -> Certificate:
    """A certificate the caller says ``root`` signed, or ``CertificateFormatError`` when it is not one."""
    cert = Certificate.from_pem(pem)
    if cert.issuer_raw != root.subject_raw or not cert.is_signed_by(root):
        raise CertificateFormatError(f"{cert.subject_cn!r} is not signed by the trusted root {root.subject_cn!r}")
    return cert
