"""PCK certificates laid out exactly as Intel issues them, read by comparing their bytes with that layout rather than
by a general X.509 parser: reading the PCK certificate is most of the Python a first contact with a platform costs.
Anything laid out otherwise goes to ``PckCertificate.from_pem``, which reads the same values (a test compares both)."""

from __future__ import annotations

from typing import cast

from pydcap.lazy import remember
from pydcap.pki import der
from pydcap.pki.certs import pem_der
from pydcap.pki.pck import PckCertificate, read_standard_layout

# The fixed parts of the layout, as DER.
_VERSION_3 = bytes.fromhex("a003020102")  # [0] { INTEGER 2 }
_VALIDITY = bytes.fromhex("301e170d")  # SEQUENCE { UTCTime of 13 characters, ... }
_P256_KEY = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")  # then the 65-byte point
_CRL_DP = bytes.fromhex("0603551d1f04")  # inside its SEQUENCE: OID, then the OCTET STRING's short length
_SKI = bytes.fromhex("301d0603551d0e04160414")  # then the 20-byte key identifier
_KEY_USAGE = bytes.fromhex("300e0603551d0f0101ff0404030206c0")  # critical: digitalSignature, nonRepudiation
_BASIC_CONSTRAINTS = bytes.fromhex("300c0603551d130101ff04023000")  # critical: not a CA
_SGX = bytes.fromhex("06092a864886f84d010d010482")  # inside its SEQUENCE: OID, then the OCTET STRING's long length
# The extensions' OIDs, as ``der.elements_by_oid`` keys them.
_AKI_OID, _CRL_DP_OID, _SKI_OID = der.AKI_KEY_ID[4:7], _CRL_DP[2:5], _SKI[4:7]
_KEY_USAGE_OID, _BASIC_CONSTRAINTS_OID, _SGX_OID = _KEY_USAGE[4:7], _BASIC_CONSTRAINTS[4:7], _SGX[2:11]

# Subject Names (their DER content) that ``cryptography`` has read in a PCK certificate: the layout takes a Name's
# bytes as they are, so only one that the general reader has accepted before.
_SUBJECTS: dict[bytes, bool] = {}


def read_pck(block: bytes, issuer: bytes) -> PckCertificate:
    """``PckCertificate.from_pem(block)`` (and its errors), without a general parser when the certificate is in
    Intel's layout, is issued by ``issuer`` (the DER content of a CA certificate's subject Name) and has a subject
    that one read by ``from_pem`` had."""
    encoded = pem_der(block)
    known = None if encoded is None else intel_layout(encoded, issuer)
    if encoded is not None and known is not None:
        extensions = cast(dict[bytes, bytes], known["_extensions"])
        sgx = read_standard_layout(extensions[_SGX_OID][15:])  # the value after its OID and OCTET STRING header
        return PckCertificate(None, encoded, known, sgx)
    cert = PckCertificate.from_pem(block, encoded)
    remember(_SUBJECTS, cert.subject_raw, True, 64)
    return cert


def intel_layout(d: bytes, issuer: bytes) -> dict[str, object] | None:
    """What ``Certificate`` reads from the DER certificate ``d`` (the values ``_read_at_once`` gives, its dates,
    serial number and signature), when ``d`` is in Intel's PCK layout with ``issuer`` as its issuer and a known
    subject; None otherwise. Every length is checked against the layout and for DER's shortest form, so that what
    this accepts, ``cryptography`` accepts."""
    n, named = len(d), len(issuer)
    try:
        if d[0] != 0x30 or d[1] != 0x82 or d[2] == 0 or (d[2] << 8 | d[3]) != n - 4 or d[4] != 0x30 or d[5] != 0x82:
            return None
        tbs_end = 8 + (d[6] << 8 | d[7])
        size = d[14]
        if d[6] == 0 or not d.startswith(_VERSION_3, 8) or d[13] != 0x02 or not 0 < size <= 21:
            return None
        p = 15 + size
        serial = d[15:p]
        if not der.unsigned_integer(serial):  # negative, or not in its shortest form
            return None
        if not d.startswith(der.ECDSA_SHA256, p) or d[p + 12] != 0x30 or d[p + 13] != named or named >= 0x80:
            return None
        p += 14
        if d[p : p + named] != issuer:
            return None
        p += named
        if not d.startswith(_VALIDITY, p) or not d.startswith(der.UTC_TIME, p + 17):
            return None
        not_before, not_after = der.utc_time(d[p + 4 : p + 17]), der.utc_time(d[p + 19 : p + 32])
        p += 32
        if not_before is None or not_after is None or d[p] != 0x30 or d[p + 1] >= 0x80:
            return None
        subject = d[p + 2 : p + 2 + d[p + 1]]
        if subject not in _SUBJECTS:
            return None
        p += 2 + len(subject)
        if not d.startswith(_P256_KEY, p):
            return None
        point = d[p + 26 : p + 91]
        p += 91
        # [3] { SEQUENCE { AKI, CRL distribution points, SKI, key usage, basic constraints, SGX } } ends the TBS
        if (
            d[p] != 0xA3
            or d[p + 1] != 0x82
            or d[p + 2] == 0
            or p + 4 + (d[p + 2] << 8 | d[p + 3]) != tbs_end
            or d[p + 4] != 0x30
            or d[p + 5] != 0x82
            or d[p + 6] == 0
            or (d[p + 6] << 8 | d[p + 7]) != tbs_end - p - 8
        ):
            return None
        aki = p + 8
        crl = aki + 33
        crl_end = crl + 2 + d[crl + 1]
        if (
            not d.startswith(der.AKI_KEY_ID, aki)
            or d[crl] != 0x30
            or d[crl + 1] >= 0x80
            or not d.startswith(_CRL_DP, crl + 2)
        ):
            return None
        if d[crl + 8] != crl_end - crl - 9:
            return None
        ski = crl_end
        usage = ski + 31
        sgx = usage + 30
        if not (
            d.startswith(_SKI, ski) and d.startswith(_KEY_USAGE, usage) and d.startswith(_BASIC_CONSTRAINTS, usage + 16)
        ):
            return None
        sgx_end = sgx + 4 + (d[sgx + 2] << 8 | d[sgx + 3])
        if d[sgx] != 0x30 or d[sgx + 1] != 0x82 or d[sgx + 2] == 0 or sgx_end != tbs_end:
            return None
        if (
            not d.startswith(_SGX, sgx + 4)
            or d[sgx + 17] == 0
            or (d[sgx + 17] << 8 | d[sgx + 18]) != sgx_end - sgx - 19
        ):
            return None
        # signatureAlgorithm, then BIT STRING { no unused bits, the signature } to the end
        if not d.startswith(der.ECDSA_SHA256, tbs_end) or d[tbs_end + 12] != 0x03 or d[tbs_end + 13] >= 0x80:
            return None
        if tbs_end + 14 + d[tbs_end + 13] != n or d[tbs_end + 14] != 0:
            return None
    except IndexError:  # shorter than the layout
        return None
    return {
        "_signed_part": d[4:tbs_end],
        "issuer_raw": issuer,
        "subject_raw": subject,
        "public_key_bytes": point,
        "_extensions": {
            _AKI_OID: d[aki + 2 : crl],
            _CRL_DP_OID: d[crl + 2 : crl_end],
            _SKI_OID: d[ski + 2 : usage],
            _KEY_USAGE_OID: d[usage + 2 : usage + 16],
            _BASIC_CONSTRAINTS_OID: d[usage + 18 : sgx],
            _SGX_OID: d[sgx + 4 : sgx_end],
        },
        "not_before": not_before,
        "not_after": not_after,
        "serial_number": int.from_bytes(serial, "big"),
        "signature": d[tbs_end + 15 :],
    }
