"""X.509 certificates and chains as Intel's verifier reads them: chains are ordered by issuer, not position."""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Self

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pydcap.errors import CertificateExtensionError, CertificateFormatError
from pydcap.lazy import computed_once, remember
from pydcap.pki import der, native

_BEGIN = b"-----BEGIN CERTIFICATE-----"
_END = b"-----END CERTIFICATE-----"
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())

# Intel's constants::REQUIRED_X509_EXTENSIONS, in its order: its parser refuses a certificate without any of them.
REQUIRED_EXTENSIONS: Mapping[bytes, str] = MappingProxyType(
    {
        der.encode_oid("2.5.29.35"): "authority key identifier",
        der.encode_oid("2.5.29.31"): "CRL distribution points",
        der.encode_oid("2.5.29.14"): "subject key identifier",
        der.encode_oid("2.5.29.15"): "key usage",
        der.encode_oid("2.5.29.19"): "basic constraints",
    }
)
_REQUIRED_OIDS = frozenset(REQUIRED_EXTENSIONS)


_X509 = x509.Certificate  # for annotations in Certificate, whose own ``x509`` hides the module there


class Certificate:
    """An X.509 certificate with the values verification needs, computed once. ``der`` is the encoding it was read
    from (``cryptography`` would re-encode it)."""

    __slots__ = ("__dict__", "der")

    def __init__(self, cert: _X509 | None, der: bytes | None = None, known: Mapping[str, object] | None = None) -> None:
        """``cert``: ``cryptography``'s reading of it, or None with ``der`` and ``known`` given (a certificate read
        without ``cryptography``, as ``intel_layout.read_pck`` reads one). ``known``: values already read from this
        same certificate (another ``Certificate``'s, or that reader's), reused."""
        if cert is not None:
            self.__dict__["x509"] = cert
            if der is None:
                der = cert.public_bytes(Encoding.DER)
        if der is None:
            raise TypeError("Certificate needs cryptography's certificate or its DER")
        self.der = der
        fields = known if known is not None else _read_at_once(der)
        if fields:
            self.__dict__.update(fields)

    @computed_once
    def x509(self) -> _X509:
        """``cryptography``'s reading of the DER, made when first asked for (a certificate read by
        ``intel_layout.read_pck`` has none until then)."""
        return x509.load_der_x509_certificate(self.der)

    @computed_once
    def _signed_part(self) -> bytes:
        """The TBS certificate's exact bytes, sliced from the DER (``tbs_certificate_bytes`` re-encodes it)."""
        return der.signed_part(self.der)

    @computed_once
    def _tbs(self) -> list[der.Tlv]:
        """The fields of the TBS certificate, read directly (cheaper than building ``cryptography`` objects):
        serial, signature algorithm, issuer, validity, subject, public key info, then the optional ones."""
        try:
            fields = der.read_all(der.content(self._signed_part, der.TAG_SEQUENCE))
        except der.DerError as exc:
            raise CertificateFormatError(f"malformed certificate: {exc}") from exc
        if fields and fields[0].tag == 0xA0:  # explicit version
            fields = fields[1:]
        if len(fields) < 6:
            raise CertificateFormatError("malformed certificate: TBS too short")
        return fields

    @computed_once
    def _extensions(self) -> dict[bytes, bytes]:
        """Each extension's DER content (OID, critical flag, value) by its encoded OID; of duplicates, the first."""
        for item in self._tbs[6:]:
            if item.tag == 0xA3:
                return der.elements_by_oid(item.value)
        return {}

    def extension_value(self, oid: bytes) -> bytes | None:
        """The raw value (OCTET STRING content) of the extension with encoded OID ``oid``, if present."""
        content = self._extensions.get(oid)
        if content is None:
            return None
        pos, end, last = 0, len(content), (0, 0, 0)
        while pos < end:  # OID, [critical,] value: the last is the value
            last = der.header(content, pos, end)
            pos = last[2]
        if last[0] != der.TAG_OCTET_STRING:
            raise der.DerError("extension value is not an OCTET STRING")
        return content[last[1] : last[2]]

    @property
    def missing_extensions(self) -> tuple[str, ...]:
        """The ``REQUIRED_EXTENSIONS`` this certificate lacks, by name (none, for every certificate Intel issues)."""
        try:
            present = self._extensions
        except der.DerError as exc:
            raise CertificateFormatError(f"malformed extensions: {exc}") from exc
        if present.keys() >= _REQUIRED_OIDS:
            return ()
        return tuple(name for oid, name in REQUIRED_EXTENSIONS.items() if oid not in present)

    @classmethod
    def from_pem(cls, pem: bytes, encoded: bytes | None = None) -> Self:
        """One PEM certificate. A single BEGIN/END block is decoded here, without ``cryptography``'s PEM reader
        (which would cost more than parsing the DER); anything else is left to that reader. ``encoded``: what
        ``pem_der(pem)`` gave, when the caller has decoded it already."""
        if encoded is None:
            encoded = pem_der(pem)
        try:
            if encoded is None:
                cert = cls(x509.load_pem_x509_certificate(pem))
            else:
                cert = cls(x509.load_der_x509_certificate(encoded), encoded)
            _ = cert.issuer_raw, cert.subject_raw  # reject a certificate whose names cannot be read now, not later
        except (ValueError, der.DerError, x509.InvalidVersion) as exc:
            raise CertificateFormatError(f"unparsable certificate: {exc}") from exc
        return cert

    @computed_once
    def subject_raw(self) -> bytes:
        """The raw DER content of the subject Name."""
        return self._tbs[4].value

    @computed_once
    def issuer_raw(self) -> bytes:
        return self._tbs[2].value

    @computed_once
    def subject_cn(self) -> str:
        return _common_name(self.subject_raw)

    @computed_once
    def issuer_cn(self) -> str:
        return _common_name(self.issuer_raw)

    @computed_once
    def self_issued(self) -> bool:
        return self.subject_raw == self.issuer_raw

    @computed_once
    def public_key(self) -> ec.EllipticCurvePublicKey:
        try:
            key = self.x509.public_key()
        except (ValueError, UnsupportedAlgorithm) as exc:  # not a point on its curve; a curve cryptography lacks
            raise CertificateFormatError(f"certificate {self.subject_cn!r} has an unusable public key: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise CertificateFormatError(f"certificate {self.subject_cn!r} does not have an EC public key")
        return key

    @computed_once
    def public_key_bytes(self) -> bytes:
        """The subject public key as encoded in the certificate (an uncompressed point for EC keys)."""
        spki = der.read_all(self._tbs[5].value)
        if len(spki) != 2 or spki[1].tag != 0x03 or not spki[1].value:
            raise CertificateFormatError("malformed subject public key info")
        return spki[1].value[1:]

    @computed_once
    def not_before(self) -> int:
        return int(self.x509.not_valid_before_utc.timestamp())

    @computed_once
    def not_after(self) -> int:
        return int(self.x509.not_valid_after_utc.timestamp())

    @computed_once
    def serial_number(self) -> int:
        return self.x509.serial_number

    @computed_once
    def signature(self) -> bytes:
        """The signature value (a DER ECDSA-Sig-Value for Intel's certificates)."""
        return self.x509.signature

    @computed_once
    def digest(self) -> bytes:
        """SHA-256 of the DER: what pinned certificates are known by."""
        return hashlib.sha256(self.der).digest()

    @computed_once
    def _p256_point(self) -> bytes:
        """The key as an uncompressed point when ``cryptography`` reads it as a P-256 key (what the native
        accelerator checks with), else empty."""
        try:
            key = self.public_key
        except CertificateFormatError:
            return b""
        if not isinstance(key.curve, ec.SECP256R1):
            return b""
        return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    def signed(self, signature: bytes, data: bytes) -> bool:
        """The DER ECDSA-SHA256 ``signature`` over ``data`` verifies with this certificate's key."""
        if native.enabled() and native.der_ok(self._p256_point, signature, data):
            return True
        try:
            self.public_key.verify(signature, data, _ECDSA_SHA256)
        except (InvalidSignature, CertificateFormatError, ValueError):
            return False
        return True

    def is_signed_by(self, issuer: Certificate) -> bool:
        """ECDSA-SHA256 signature of this certificate verifies with ``issuer``'s key."""
        try:
            tbs = self._signed_part
        except der.DerError:
            return False
        return issuer.signed(self.signature, tbs)

    def __repr__(self) -> str:
        return f"Certificate({self.subject_cn!r})"


def _read_at_once(encoded: bytes) -> dict[str, object] | None:
    """What ``_signed_part``, ``issuer_raw``, ``subject_raw``, ``public_key_bytes`` and ``_extensions`` compute, from
    one walk of the DER (the same rules, without building each TBS field); None when any of them would fail, so
    that they are computed one by one and name what is wrong."""
    try:
        tag, start, end = der.header(encoded, 0, len(encoded))
        if tag != der.TAG_SEQUENCE or end != len(encoded):
            return None
        tag, pos, tbs_end = der.header(encoded, start, end)
        if tag != der.TAG_SEQUENCE:
            return None
        fields = []
        while pos < tbs_end:
            length = encoded[pos + 1] if pos + 1 < tbs_end else 0x80
            if length < 0x80 and encoded[pos] & 0x1F != 0x1F:  # a short-form header (most fields), read here
                field = (encoded[pos], pos + 2, pos + 2 + length)
                if field[2] > tbs_end:
                    return None
            else:
                field = der.header(encoded, pos, tbs_end)
            fields.append(field)
            pos = field[2]
        if fields and fields[0][0] == 0xA0:  # explicit version
            del fields[0]
        if len(fields) < 6:
            return None
        spki = fields[5]
        algorithm = der.header(encoded, spki[1], spki[2])
        tag, key_start, key_end = der.header(encoded, algorithm[2], spki[2])
        if tag != 0x03 or key_start == key_end or key_end != spki[2]:
            return None
        extensions: dict[bytes, bytes] = {}
        for tag, first, last in fields[6:]:
            if tag == 0xA3:
                extensions = der.elements_by_oid(encoded[first:last])
                break
        return {
            "_signed_part": encoded[start:tbs_end],
            "issuer_raw": encoded[fields[2][1] : fields[2][2]],
            "subject_raw": encoded[fields[4][1] : fields[4][2]],
            "public_key_bytes": encoded[key_start + 1 : key_end],
            "_extensions": extensions,
        }
    except der.DerError:
        return None


_COMMON_NAMES: dict[bytes, str] = {}  # by the Name's exact bytes: a few CAs name every certificate met


def _common_name(name: bytes) -> str:
    found = _COMMON_NAMES.get(name)
    if found is None:
        found = remember(_COMMON_NAMES, name, der.name_common_name(name), 64)
    return found


_PEM_WHITESPACE = b" \t\r\n"


def pem_der(pem: bytes) -> bytes | None:
    """The DER inside ``pem`` when it is exactly one BEGIN/END CERTIFICATE block of strict base64 (line breaks
    and spaces aside); None otherwise."""
    if not (pem.startswith(_BEGIN) and pem.endswith(_END)):
        return None
    body = pem[len(_BEGIN) : -len(_END)]
    try:  # most PEM has line feeds only, which replace() drops for less than translate() costs
        return binascii.a2b_base64(body.replace(b"\n", b""), strict_mode=True)
    except binascii.Error:
        pass
    try:  # any other whitespace: strict decoding refused it above
        return binascii.a2b_base64(body.translate(None, _PEM_WHITESPACE), strict_mode=True)
    except binascii.Error:
        return None


def split_pem_chain(pem: bytes) -> list[bytes]:
    """Each complete BEGIN/END CERTIFICATE block, in order. A block with a damaged marker is skipped,
    as Intel's verifier skips it (so the chain comes out short, and is rejected for its length)."""
    blocks = []
    pos = pem.find(_BEGIN)
    while pos >= 0:
        end = pem.find(_END, pos + len(_BEGIN))
        if end < 0:
            break
        nxt = pem.find(_BEGIN, pos + len(_BEGIN))
        if 0 <= nxt < end:  # this block's END marker is damaged: skip to the next BEGIN
            pos = nxt
            continue
        blocks.append(pem[pos : end + len(_END)])
        pos = pem.find(_BEGIN, end + len(_END))
    return blocks


def _load_all(
    blocks: list[bytes], load: Callable[[bytes], Certificate], require_extensions: bool
) -> tuple[Certificate, ...]:
    certs = []
    for position, block in enumerate(blocks):
        cert = load(block)
        if require_extensions and cert.missing_extensions:
            raise CertificateExtensionError(position, len(blocks), cert.missing_extensions, cert.subject_cn)
        certs.append(cert)
    return tuple(certs)


@dataclass(frozen=True)
class CertificateChain:
    """Certificates of one chain, classified by name and issuer relations, not by their order.

    As in Intel's library, ``root`` is the last self-issued certificate and ``topmost`` the last one that
    issues no other certificate of the chain (the leaf: the PCK or TCB Signing certificate)."""

    certificates: tuple[Certificate, ...]
    root: Certificate | None = field(default=None)
    topmost: Certificate | None = field(default=None)

    @classmethod
    def parse(
        cls,
        pem: bytes | str,
        load: Callable[[bytes], Certificate] = Certificate.from_pem,
        *,
        require_extensions: bool = False,
    ) -> CertificateChain:
        """Parse a PEM chain; raise ``CertificateFormatError`` if any certificate in it is unreadable.
        ``load`` parses one PEM block (a caller may pass a memoising loader). With ``require_extensions``, as in
        Intel's parser, a certificate lacking one of ``REQUIRED_EXTENSIONS`` raises ``CertificateExtensionError``;
        either way the first certificate in the chain's order that is wrong decides the error."""
        data = pem.encode() if isinstance(pem, str) else pem
        certs = _load_all(split_pem_chain(data), load, require_extensions)
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
