"""Certificate revocation lists in every encoding Intel's services use: DER, PEM, or hex-encoded DER."""

from __future__ import annotations

import binascii

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID, SignatureAlgorithmOID

from pydcap.errors import CertificateFormatError
from pydcap.lazy import computed_once
from pydcap.pki import der
from pydcap.pki.certs import Certificate

_HEX_DIGITS = b"0123456789abcdefABCDEF"


def crl_der(data: bytes | str) -> bytes:
    """Normalise a CRL given as DER, PEM or hex text to DER (without checking it parses)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    stripped = raw.strip().rstrip(b"\x00").strip()
    if stripped.startswith(b"-----BEGIN"):
        try:
            return x509.load_pem_x509_crl(stripped).public_bytes(Encoding.DER)
        except ValueError as exc:
            raise CertificateFormatError(f"unparsable PEM CRL: {exc}") from exc
    if stripped and not stripped[:64].translate(None, _HEX_DIGITS):  # its first 64 bytes are hex digits
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
        der_bytes = crl_der(data)
        try:
            crl = cls(x509.load_der_x509_crl(der_bytes), der_bytes)
            # Read the lazily parsed parts now, so that later access cannot fail: in one pass over a CRL laid out as
            # Intel issues them, else one by one.
            values = _intel_layout(der_bytes)
            if values is not None:
                crl.__dict__.update(values)
            _ = crl.issuer_raw, crl.this_update, crl.next_update, crl.crl_number, crl.has_authority_key_identifier
        except (ValueError, x509.InvalidVersion, x509.DuplicateExtension, UnsupportedAlgorithm) as exc:
            # cryptography's own errors for a CRL of an unknown version, with an extension twice, or with an
            # algorithm it does not know
            raise CertificateFormatError(f"unparsable CRL: {exc}") from exc
        return crl

    @computed_once
    def _tbs(self) -> bytes:
        """The signed part, sliced from the DER (``cryptography`` re-encodes it, at a cost that grows with the
        number of revoked certificates)."""
        try:
            return der.signed_part(self.der)
        except der.DerError as exc:
            raise CertificateFormatError(f"malformed CRL: {exc}") from exc

    @computed_once
    def issuer_raw(self) -> bytes:
        """Raw DER content of the issuer Name, read from the TBS of the CRL."""
        fields = der.read_prefix(der.read_one(self._tbs, der.TAG_SEQUENCE).value, 3)
        if fields and fields[0].tag == der.TAG_INTEGER:  # optional version
            fields = fields[1:]
        if len(fields) < 2:
            raise CertificateFormatError("malformed CRL: TBS too short")
        return fields[1].value

    @computed_once
    def issuer_cn(self) -> str:
        return der.name_common_name(self.issuer_raw)

    @computed_once
    def this_update(self) -> int:
        return int(self.x509.last_update_utc.timestamp())

    @computed_once
    def next_update(self) -> int:
        nu = self.x509.next_update_utc
        return int(nu.timestamp()) if nu is not None else 0

    @computed_once
    def crl_number(self) -> int | None:
        try:
            ext = self.x509.extensions.get_extension_for_class(x509.CRLNumber)
        except x509.ExtensionNotFound:
            return None
        return int(ext.value.crl_number)

    @computed_once
    def has_authority_key_identifier(self) -> bool:
        try:
            self.x509.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER)
        except x509.ExtensionNotFound:
            return False
        return True

    def revokes(self, cert: Certificate) -> bool:
        return self.revokes_serial(cert.serial_number)

    def revokes_serial(self, serial: int) -> bool:
        """Whether ``serial`` is on this list. The first question is answered by a search; from the second on
        (a verifier asks one list about every platform it sees) by a set of every revoked serial, built once."""
        serials: frozenset[int] | None = self.__dict__.get("_revoked")
        if serials is None:
            if not self.__dict__.setdefault("_asked", False):
                self.__dict__["_asked"] = True
                return self.x509.get_revoked_certificate_by_serial_number(serial) is not None
            serials = self.__dict__["_revoked"] = frozenset(entry.serial_number for entry in self.x509)
        return serial in serials

    def is_signed_by(self, issuer: Certificate) -> bool:
        try:
            if self.x509.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA256:  # all of Intel's
                return issuer.signed(self.x509.signature, self._tbs)
            return self.x509.is_signature_valid(issuer.public_key)
        except (InvalidSignature, UnsupportedAlgorithm, CertificateFormatError, ValueError, TypeError):
            return False


# Intel's CRLs: version 2 and ecdsa-with-SHA256, the issuer, two UTCTimes, the revoked certificates if any, then
# exactly two extensions, none critical: the CRL number, then the authority key identifier (a 20-byte key identifier).
_V2_ECDSA_SHA256 = bytes.fromhex("020101") + der.ECDSA_SHA256  # INTEGER 1 (version 2), then the algorithm
_CRL_NUMBER = bytes.fromhex("0603551d1404")  # inside its SEQUENCE: OID, then the OCTET STRING's short length


def _intel_layout(d: bytes) -> dict[str, object] | None:
    """What ``parse`` reads through ``cryptography`` (the signed part, issuer, dates, CRL number, authority key
    identifier), read in one pass over a CRL ``cryptography`` has loaded when it is laid out exactly as Intel issues
    them; None for any other layout, which the accessors then read. What it takes ``cryptography`` reads alike: the
    extensions are two, of two OIDs, each value well-formed DER (the CRL number a positive INTEGER in its shortest
    form), and the dates valid UTCTimes (a test compares both readings)."""
    try:
        tag, start, end = der.header(d, 0, len(d))
        if tag != der.TAG_SEQUENCE or end != len(d):
            return None
        tag, pos, tbs_end = der.header(d, start, end)
        if tag != der.TAG_SEQUENCE or d[pos : pos + 15] != _V2_ECDSA_SHA256:
            return None
        tag, name_start, name_end = der.header(d, pos + 15, tbs_end)
        if tag != der.TAG_SEQUENCE:
            return None
        pos = name_end + 30  # after both dates
        if pos < tbs_end and d[pos] == der.TAG_SEQUENCE:  # the revoked certificates
            pos = der.header(d, pos, tbs_end)[2]
    except der.DerError:
        return None
    if d[name_end : name_end + 2] != der.UTC_TIME or d[name_end + 15 : name_end + 17] != der.UTC_TIME:
        return None
    this_update, next_update = (
        der.utc_time(d[name_end + 2 : name_end + 15]),
        der.utc_time(d[name_end + 17 : name_end + 30]),
    )
    # [0] { SEQUENCE { SEQUENCE { CRL number }, SEQUENCE { AKI } } }, to the end of the signed part; short lengths.
    n = d[pos + 14] if pos + 15 < tbs_end else 0
    number = d[pos + 15 : pos + 15 + n]
    if this_update is None or next_update is None or not 1 <= n <= 20 or len(number) != n:
        return None
    if not der.unsigned_integer(number):  # negative, or not in its shortest form
        return None
    size = n + 44  # both extensions
    expected = bytes((0xA0, size + 2, der.TAG_SEQUENCE, size, der.TAG_SEQUENCE, n + 9)) + _CRL_NUMBER
    expected += bytes((n + 2, der.TAG_INTEGER, n)) + number + der.AKI_KEY_ID
    if d[pos : pos + len(expected)] != expected or pos + len(expected) + 20 != tbs_end:
        return None
    return {
        "_tbs": d[start:tbs_end],
        "issuer_raw": d[name_start:name_end],
        "this_update": this_update,
        "next_update": next_update,
        "crl_number": int.from_bytes(number, "big"),
        "has_authority_key_identifier": True,
    }
