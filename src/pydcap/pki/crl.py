"""Certificate revocation lists in every encoding Intel's services use: DER, PEM, or hex-encoded DER."""

from __future__ import annotations

import binascii
from functools import cached_property

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID

from pydcap.errors import CertificateFormatError
from pydcap.pki.certs import Certificate, common_name


def crl_der(data: bytes | str) -> bytes:
    """Normalise a CRL given as DER, PEM or hex text to DER (without checking it parses)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    stripped = raw.strip().rstrip(b"\x00").strip()
    if stripped.startswith(b"-----BEGIN"):
        try:
            return x509.load_pem_x509_crl(stripped).public_bytes(Encoding.DER)
        except ValueError as exc:
            raise CertificateFormatError(f"unparsable PEM CRL: {exc}") from exc
    if stripped and all(c in b"0123456789abcdefABCDEF" for c in stripped[:64]):
        try:
            return binascii.unhexlify(stripped)
        except (binascii.Error, ValueError) as exc:
            raise CertificateFormatError(f"CRL is neither DER nor valid hex: {exc}") from exc
    return raw


class RevocationList:
    """A parsed CRL with its dates (unix seconds), CRL number and revoked serial numbers."""

    __slots__ = ("__dict__", "der", "x509")

    def __init__(self, crl: x509.CertificateRevocationList, der: bytes) -> None:
        self.x509 = crl
        self.der = der

    @classmethod
    def parse(cls, data: bytes | str) -> RevocationList:
        der = crl_der(data)
        try:
            crl = x509.load_der_x509_crl(der)
            # Force the lazily parsed parts now, so later access cannot fail.
            _ = crl.issuer, crl.last_update_utc, crl.extensions
        except ValueError as exc:
            raise CertificateFormatError(f"unparsable CRL: {exc}") from exc
        return cls(crl, der)

    @cached_property
    def issuer_raw(self) -> bytes:
        return self.x509.issuer.public_bytes()

    @cached_property
    def issuer_cn(self) -> str:
        return common_name(self.x509.issuer)

    @cached_property
    def this_update(self) -> int:
        return int(self.x509.last_update_utc.timestamp())

    @cached_property
    def next_update(self) -> int:
        nu = self.x509.next_update_utc
        return int(nu.timestamp()) if nu is not None else 0

    @cached_property
    def crl_number(self) -> int | None:
        try:
            ext = self.x509.extensions.get_extension_for_class(x509.CRLNumber)
        except x509.ExtensionNotFound:
            return None
        return int(ext.value.crl_number)

    @cached_property
    def has_authority_key_identifier(self) -> bool:
        try:
            self.x509.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
        except x509.ExtensionNotFound:
            return False
        return True

    @cached_property
    def revoked_serials(self) -> frozenset[int]:
        return frozenset(entry.serial_number for entry in self.x509)

    def revokes(self, cert: Certificate) -> bool:
        return cert.serial_number in self.revoked_serials

    def is_signed_by(self, issuer: Certificate) -> bool:
        try:
            key = issuer.public_key
            if not isinstance(key, ec.EllipticCurvePublicKey):
                return False
            return self.x509.is_signature_valid(key)
        except (InvalidSignature, UnsupportedAlgorithm, CertificateFormatError, ValueError, TypeError):
            return False

    def is_current(self, at: int) -> bool:
        """Within [thisUpdate, nextUpdate] at ``at`` (unix seconds)."""
        return self.this_update <= at <= self.next_update
