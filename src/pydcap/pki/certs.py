"""X.509 certificates and chains as Intel's verifier reads them: chains are ordered by issuer, not position."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pydcap.errors import CertificateFormatError
from pydcap.pki.trust import public_key_point

_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.DOTALL)
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = attrs[0].value if attrs else ""
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


class Certificate:
    """An X.509 certificate with the values verification needs, computed once."""

    __slots__ = ("__dict__", "x509")

    def __init__(self, cert: x509.Certificate) -> None:
        self.x509 = cert

    @classmethod
    def from_pem(cls, pem: bytes) -> Certificate:
        try:
            return cls(x509.load_pem_x509_certificate(pem))
        except ValueError as exc:
            raise CertificateFormatError(f"unparsable certificate: {exc}") from exc

    @classmethod
    def from_der(cls, der: bytes) -> Certificate:
        try:
            return cls(x509.load_der_x509_certificate(der))
        except ValueError as exc:
            raise CertificateFormatError(f"unparsable certificate: {exc}") from exc

    @cached_property
    def subject(self) -> x509.Name:
        return self.x509.subject

    @cached_property
    def issuer(self) -> x509.Name:
        return self.x509.issuer

    @cached_property
    def subject_raw(self) -> bytes:
        return self.x509.subject.public_bytes()

    @cached_property
    def issuer_raw(self) -> bytes:
        return self.x509.issuer.public_bytes()

    @cached_property
    def subject_cn(self) -> str:
        return common_name(self.subject)

    @cached_property
    def issuer_cn(self) -> str:
        return common_name(self.issuer)

    @property
    def self_issued(self) -> bool:
        return self.subject_raw == self.issuer_raw

    @cached_property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        key = self.x509.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise CertificateFormatError(f"certificate {self.subject_cn!r} does not have an EC public key")
        return key

    @cached_property
    def public_key_bytes(self) -> bytes:
        return public_key_point(self.public_key)

    @cached_property
    def not_before(self) -> int:
        return int(self.x509.not_valid_before_utc.timestamp())

    @cached_property
    def not_after(self) -> int:
        return int(self.x509.not_valid_after_utc.timestamp())

    @cached_property
    def serial_number(self) -> int:
        return self.x509.serial_number

    @cached_property
    def der(self) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding

        return self.x509.public_bytes(Encoding.DER)

    def is_signed_by(self, issuer: Certificate) -> bool:
        """ECDSA-SHA256 signature of this certificate verifies with ``issuer``'s key."""
        try:
            issuer.public_key.verify(self.x509.signature, self.x509.tbs_certificate_bytes, _ECDSA_SHA256)
        except (InvalidSignature, CertificateFormatError, ValueError):
            return False
        return True

    def __repr__(self) -> str:
        return f"Certificate({self.subject_cn!r})"


def split_pem_chain(pem: bytes) -> list[bytes]:
    """Each complete BEGIN/END CERTIFICATE block, in order. A block with a damaged marker is skipped,
    as Intel's verifier skips it (so the chain comes out short, and is rejected for its length)."""
    return [m.group(0) for m in _PEM_BLOCK.finditer(pem)]


@dataclass(frozen=True)
class CertificateChain:
    """Certificates of one chain, classified by name and issuer relations, not by their order."""

    certificates: tuple[Certificate, ...]
    root: Certificate | None = field(default=None)
    topmost: Certificate | None = field(default=None)

    @classmethod
    def parse(cls, pem: bytes | str) -> CertificateChain:
        """Parse a PEM chain; raise ``CertificateFormatError`` if any certificate in it is unreadable."""
        data = pem.encode() if isinstance(pem, str) else pem
        certs = tuple(Certificate.from_pem(block) for block in split_pem_chain(data))
        if not certs:
            raise CertificateFormatError("no certificate in chain")
        root = None
        for cert in certs:
            if cert.self_issued:
                root = cert
        topmost = None
        for cert in certs:
            issues_another = any(
                other.subject_raw != cert.subject_raw and other.issuer_raw == cert.subject_raw for other in certs
            )
            if not issues_another:
                topmost = cert
        return cls(certs, root, topmost)

    def __len__(self) -> int:
        return len(self.certificates)

    def find(self, predicate_cn: str, *, self_issued: bool | None = None) -> Certificate | None:
        """The first certificate whose subject CN contains ``predicate_cn``."""
        for cert in self.certificates:
            if self_issued is not None and cert.self_issued != self_issued:
                continue
            if predicate_cn in cert.subject_cn:
                return cert
        return None

    @property
    def earliest_not_before(self) -> int:
        return min(c.not_before for c in self.certificates)

    @property
    def latest_not_before(self) -> int:
        return max(c.not_before for c in self.certificates)

    @property
    def earliest_not_after(self) -> int:
        return min(c.not_after for c in self.certificates)
