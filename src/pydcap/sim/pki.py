"""The simulated Intel PKI: root CA, PCK Processor and Platform CAs, TCB Signing certificate, PCK certificates.

Certificates follow Intel's profile byte for byte (subject names, extension order and criticality, key usage,
path lengths, CRL distribution points, serial number equal to the subject key identifier for CAs); only the
keys differ. Dates are fixed, so a seed always gives the same certificates, valid until the end of 2049.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pydcap.pki.pck import SGX_EXTENSION_OID
from pydcap.sim.keys import derive_bytes, derive_key

ROOT_CN = "Intel SGX Root CA"
PROCESSOR_CA_CN = "Intel SGX PCK Processor CA"
PLATFORM_CA_CN = "Intel SGX PCK Platform CA"
TCB_SIGNING_CN = "Intel SGX TCB Signing"
PCK_CN = "Intel SGX PCK Certificate"

ROOT_CRL_URL = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
PCK_CA_NAMES: Mapping[str, str] = MappingProxyType({"processor": PROCESSOR_CA_CN, "platform": PLATFORM_CA_CN})
CA_KINDS = tuple(PCK_CA_NAMES)

ROOT_NOT_BEFORE = datetime(2018, 5, 21, 10, 45, 10, tzinfo=UTC)
CA_NOT_BEFORE = datetime(2018, 5, 21, 10, 50, 10, tzinfo=UTC)
TCB_SIGNING_NOT_BEFORE = datetime(2025, 5, 6, 9, 25, 0, tzinfo=UTC)
PCK_NOT_BEFORE = datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)
NOT_AFTER = datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)
DAY = 86_400

_SHA256 = hashes.SHA256()


def pck_crl_url(ca: str, api_version: str = "v4") -> str:
    """The CRL distribution point Intel writes into PCK certificates issued by the ``ca`` CA."""
    return f"https://api.trustedservices.intel.com/sgx/certification/{api_version}/pckcrl?ca={ca}&encoding=der"


def expired_validity(now: int) -> tuple[datetime, datetime]:
    """The validity of a certificate issued seven years before ``now`` that expired the day before it."""
    return datetime.fromtimestamp(now - 7 * 365 * DAY, UTC), datetime.fromtimestamp(now - DAY, UTC)


def intel_name(common_name: str) -> x509.Name:
    """Intel's subject name layout: CN, O, L, ST, C (UTF8String except the PrintableString country)."""
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Intel Corporation"),
            x509.NameAttribute(NameOID.LOCALITY_NAME, "Santa Clara"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "CA"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def key_identifier(key: ec.EllipticCurvePublicKey) -> bytes:
    """A 20-byte key identifier (SHA-1 of the public key) with its top bit clear, so it can double as a
    positive 20-byte serial number the way Intel's CA serials equal their key identifiers."""
    digest = bytearray(x509.SubjectKeyIdentifier.from_public_key(key).digest)
    digest[0] &= 0x7F
    digest[0] |= 0x01 if digest[0] == 0 else 0
    return bytes(digest)


def serial_from(seed: int, label: str) -> int:
    """A positive serial number of at most 20 bytes, named by (seed, label)."""
    raw = bytearray(derive_bytes(seed, f"serial/{label}", 20))
    raw[0] = (raw[0] & 0x7F) | 0x40
    return int.from_bytes(raw, "big")


@dataclass(frozen=True, eq=False)
class Authority:
    """A key and the certificate that names it: a CA, the TCB Signing identity or a PCK."""

    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @cached_property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @cached_property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def serial(self) -> int:
        return self.certificate.serial_number

    @property
    def name(self) -> x509.Name:
        return self.certificate.subject

    @cached_property
    def key_id(self) -> bytes:
        return key_identifier(self.key.public_key())

    @cached_property
    def common_name(self) -> str:
        value = self.name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
        return value if isinstance(value, str) else value.decode()


@dataclass(frozen=True, slots=True)
class CertificateProfile:
    """What differs between the certificates of Intel's hierarchy."""

    ca: bool
    path_length: int | None
    crl_url: str


def build_certificate(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer_name: x509.Name,
    issuer_key_id: bytes,
    signing_key: ec.EllipticCurvePrivateKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    profile: CertificateProfile,
    sgx_extension: bytes | None = None,
) -> x509.Certificate:
    """A certificate in Intel's layout: AKI, CRL distribution point, SKI, key usage, basic constraints, then
    (for PCK certificates) the SGX extension."""
    if profile.ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
    else:
        usage = x509.KeyUsage(True, True, False, False, False, False, False, False, False)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.AuthorityKeyIdentifier(issuer_key_id, None, None), critical=False)
        .add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(profile.crl_url)], None, None, None)]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier(key_identifier(public_key)), critical=False)
        .add_extension(usage, critical=True)
        .add_extension(x509.BasicConstraints(ca=profile.ca, path_length=profile.path_length), critical=True)
    )
    if sgx_extension is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(SGX_EXTENSION_OID), sgx_extension), critical=False
        )
    return builder.sign(signing_key, _SHA256, ecdsa_deterministic=True)


def reissue(
    certificate: x509.Certificate,
    signing_key: ec.EllipticCurvePrivateKey,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    drop_extensions: Sequence[str] = (),
) -> x509.Certificate:
    """The same certificate (names, key, serial, extensions) signed by ``signing_key``, optionally with other
    dates or without some extensions: forgeries, expired copies and defective variants."""
    public_key = certificate.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise TypeError("only EC certificates are reissued")
    builder = (
        x509.CertificateBuilder()
        .subject_name(certificate.subject)
        .issuer_name(certificate.issuer)
        .public_key(public_key)
        .serial_number(certificate.serial_number)
        .not_valid_before(not_before or certificate.not_valid_before_utc)
        .not_valid_after(not_after or certificate.not_valid_after_utc)
    )
    for extension in certificate.extensions:
        if extension.oid.dotted_string not in drop_extensions:
            builder = builder.add_extension(extension.value, critical=extension.critical)
    return builder.sign(signing_key, _SHA256, ecdsa_deterministic=True)


def without_extension(authority: Authority, signer: Authority, oid: x509.ObjectIdentifier) -> bytes:
    """``authority``'s certificate as PEM without the extension ``oid``, signed again by ``signer`` (its issuer), so
    that the missing extension is its only defect."""
    return certificate_pem(reissue(authority.certificate, signer.key, drop_extensions=(oid.dotted_string,)))


def build_crl(
    issuer: Authority,
    revoked_serials: Iterable[int],
    *,
    this_update: datetime,
    next_update: datetime,
    number: int,
    extensions: bool = True,
    authority_key_identifier: bool = True,
    signing_key: ec.EllipticCurvePrivateKey | None = None,
) -> bytes:
    """A DER CRL as Intel issues them: CRL number then AKI, each entry with reason keyCompromise. Without
    ``extensions``, neither; without ``authority_key_identifier``, the CRL number only."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.name)
        .last_update(this_update)
        .next_update(next_update)
    )
    if extensions:
        builder = builder.add_extension(x509.CRLNumber(number), critical=False)
        if authority_key_identifier:
            builder = builder.add_extension(x509.AuthorityKeyIdentifier(issuer.key_id, None, None), critical=False)
    for serial in sorted(set(revoked_serials)):
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(this_update)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
        builder = builder.add_revoked_certificate(entry)
    crl = builder.sign(signing_key or issuer.key, _SHA256, ecdsa_deterministic=True)
    return crl.public_bytes(serialization.Encoding.DER)


def _ca_serial(key: ec.EllipticCurvePrivateKey) -> int:
    return int.from_bytes(key_identifier(key.public_key()), "big")


def _issue_ca(
    root: Authority, key: ec.EllipticCurvePrivateKey, common_name: str, not_before: datetime, ca: bool
) -> Authority:
    cert = build_certificate(
        subject=intel_name(common_name),
        public_key=key.public_key(),
        issuer_name=root.name,
        issuer_key_id=root.key_id,
        signing_key=root.key,
        serial=_ca_serial(key),
        not_before=not_before,
        not_after=NOT_AFTER,
        profile=CertificateProfile(ca=ca, path_length=0 if ca else None, crl_url=ROOT_CRL_URL),
    )
    return Authority(key, cert)


@dataclass(frozen=True, eq=False)
class Pki:
    """The CA hierarchy of one simulated world. ``realm`` separates worlds that share a seed (the impostor
    Intel used for wrong-root scenarios lives in its own realm)."""

    seed: int
    realm: str
    root: Authority
    processor_ca: Authority
    platform_ca: Authority
    tcb_signing: Authority

    @staticmethod
    @lru_cache(maxsize=64)
    def create(seed: int, realm: str = "intel") -> Pki:
        root_key = derive_key(seed, f"{realm}/root")
        root_name = intel_name(ROOT_CN)
        root_cert = build_certificate(
            subject=root_name,
            public_key=root_key.public_key(),
            issuer_name=root_name,
            issuer_key_id=key_identifier(root_key.public_key()),
            signing_key=root_key,
            serial=_ca_serial(root_key),
            not_before=ROOT_NOT_BEFORE,
            not_after=NOT_AFTER,
            profile=CertificateProfile(ca=True, path_length=1, crl_url=ROOT_CRL_URL),
        )
        root = Authority(root_key, root_cert)
        return Pki(
            seed=seed,
            realm=realm,
            root=root,
            processor_ca=_issue_ca(
                root, derive_key(seed, f"{realm}/processor-ca"), PROCESSOR_CA_CN, CA_NOT_BEFORE, True
            ),
            platform_ca=_issue_ca(root, derive_key(seed, f"{realm}/platform-ca"), PLATFORM_CA_CN, CA_NOT_BEFORE, True),
            tcb_signing=_issue_ca(
                root, derive_key(seed, f"{realm}/tcb-signing"), TCB_SIGNING_CN, TCB_SIGNING_NOT_BEFORE, False
            ),
        )

    def intermediate(self, ca: str) -> Authority:
        """The PCK CA of kind ``processor`` or ``platform``."""
        if ca == "processor":
            return self.processor_ca
        if ca == "platform":
            return self.platform_ca
        raise ValueError(f"unknown PCK CA {ca!r} (processor or platform)")

    def other_intermediate(self, issuer: Authority) -> Authority:
        """The PCK CA of the other kind than ``issuer``: the wrong CA, for defect scenarios."""
        return self.intermediate("platform" if pck_ca_kind(issuer) == "processor" else "processor")

    def retired_intermediate(self, ca: str) -> Authority:
        """An earlier generation of the ``ca`` PCK CA: same name, another key. Scenarios revoke it."""
        return _retired(self, f"{ca}-ca", PCK_CA_NAMES[ca], True)

    @property
    def retired_tcb_signing(self) -> Authority:
        """An earlier TCB Signing certificate: same name, another key. Scenarios revoke it."""
        return _retired(self, "tcb-signing", TCB_SIGNING_CN, False)


@lru_cache(maxsize=256)
def _retired(pki: Pki, label: str, common_name: str, ca: bool) -> Authority:
    key = derive_key(pki.seed, f"{pki.realm}/retired/{label}")
    return _issue_ca(pki.root, key, common_name, CA_NOT_BEFORE if ca else TCB_SIGNING_NOT_BEFORE, ca)


def pck_ca_kind(issuer: Authority) -> str:
    """``processor`` or ``platform``: which PCK CA ``issuer`` is, by name (so a retired generation too)."""
    return "processor" if issuer.common_name == PROCESSOR_CA_CN else "platform"


def pem_chain(*authorities: Authority) -> bytes:
    """Certificates as one PEM chain, in the given order (leaf-most first, root last)."""
    return b"".join(a.pem for a in authorities)


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)
