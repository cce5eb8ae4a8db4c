"""Parse a DCAP ECDSA quote (v3 SGX, v4 SGX/TDX 1.0, v5 SGX/TD 1.0/TD 1.5) by its declared lengths.

The parser follows Intel's QVL layout rules: the QE report section must fill its certification data exactly,
while bytes after the (outer) certification data, inside the signature data or after it (padding some TDX
stacks add), are ignored as Intel's parser ignores them. Any inconsistency raises ``QuoteFormatError`` with
the offset; no other exception leaves ``Quote.parse``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from pydcap.errors import QuoteFormatError
from pydcap.lazy import maker
from pydcap.quote.structs import (
    ATTESTATION_KEY_ECDSA_P256,
    ENCLAVE_REPORT_SIZE,
    HEADER_SIZE,
    INTEL_QE_VENDOR_ID,
    TD_REPORT10_SIZE,
    TD_REPORT15_SIZE,
    TD_REPORT15EX_SIZE,
    CertificationData,
    EnclaveReport,
    QuoteHeader,
    TdReport10,
    TdReport15,
    TdReport15Ex,
    TeeType,
)

BODY_SGX = 1
BODY_TD10 = 2
BODY_TD15 = 3
BODY_TD15EX = 4
_BODIES: dict[int, tuple[int, type[EnclaveReport | TdReport10]]] = {
    BODY_SGX: (ENCLAVE_REPORT_SIZE, EnclaveReport),
    BODY_TD10: (TD_REPORT10_SIZE, TdReport10),
    BODY_TD15: (TD_REPORT15_SIZE, TdReport15),
    BODY_TD15EX: (TD_REPORT15EX_SIZE, TdReport15Ex),
}

_TEE_NAMES = {tee.value: tee.name for tee in TeeType}
# The members, read as module names: an enum's members, read as the class's attributes, cost as much as the
# comparisons that use them here (its metaclass has a __getattr__).
_SGX, _TDX = TeeType.SGX, TeeType.TDX
_PCK_CERT_CHAIN = CertificationData.PCK_CERT_CHAIN
_BYTES_LIKE = (bytes, bytearray, memoryview)

SIGNATURE_SIZE = 64
PUBLIC_KEY_SIZE = 64

Body = EnclaveReport | TdReport10  # TdReport15 and TdReport15Ex are TdReport10s


class _Reader:
    """A bounded cursor over the quote bytes that raises QuoteFormatError on overrun."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data = data
        self.pos = pos
        self.end = end

    def take(self, n: int, what: str) -> bytes:
        start = self.pos
        if n < 0 or start + n > self.end:
            raise QuoteFormatError(start, f"{what} needs {n} bytes but only {self.end - start} remain")
        self.pos = start + n
        return self.data[start : self.pos]

    def section(self, n: int, what: str) -> _Reader:
        """A reader over the next ``n`` bytes, which this reader skips."""
        start = self.pos
        self.take(n, what)
        return _Reader(self.data, start, self.pos)

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "little")

    def u32(self, what: str) -> int:
        return int.from_bytes(self.take(4, what), "little")


@dataclass(frozen=True, slots=True)
class Quote:
    """A parsed quote. Every field is available by name; ``raw`` and ``signed_data`` keep the bytes.

    ``trailing_bytes`` counts the bytes after the declared signature data (padding)."""

    raw: bytes
    header: QuoteHeader
    body_type: int
    body: Body
    signed_data: bytes
    signature: bytes
    attestation_key: bytes
    qe_report: EnclaveReport
    qe_report_signature: bytes
    qe_auth_data: bytes
    certification_data: CertificationData
    trailing_bytes: int

    @classmethod
    def parse(cls, data: bytes) -> Quote:
        """Parse quote bytes; raise ``QuoteFormatError`` (offset and reason) if they are malformed."""
        if not isinstance(data, _BYTES_LIKE):
            raise QuoteFormatError(0, f"expected bytes, got {type(data).__name__}")
        data = bytes(data)
        return _read_common(data) or _parse(data)

    @property
    def version(self) -> int:
        return self.header.version

    @property
    def tee(self) -> str:
        """``"SGX"`` or ``"TDX"``."""
        return _TEE_NAMES[self.header.tee_type]

    @property
    def is_tdx(self) -> bool:
        return self.header.tee_type == _TDX

    @property
    def sgx_report(self) -> EnclaveReport | None:
        return self.body if isinstance(self.body, EnclaveReport) else None

    @property
    def td_report(self) -> TdReport10 | None:
        return self.body if isinstance(self.body, TdReport10) else None

    @property
    def report_data(self) -> bytes:
        return self.body.report_data

    @property
    def debug(self) -> bool:
        return self.body.debug

    @property
    def pck_chain_pem(self) -> bytes | None:
        """The PEM PCK certificate chain (certification data type 5), or None for other types."""
        certification_data = self.certification_data
        return certification_data.data if certification_data.type == _PCK_CERT_CHAIN else None

    def to_dict(self) -> dict[str, Any]:
        """Every parsed field, with bytes as hex (for ``pydcap quote show --json``)."""
        return {
            "version": self.version,
            "tee": self.tee,
            "header": self.header.to_dict(),
            "body_type": self.body_type,
            "report": self.body.to_dict(),
            "signature": self.signature.hex(),
            "attestation_key": self.attestation_key.hex(),
            "qe_report": self.qe_report.to_dict(),
            "qe_report_signature": self.qe_report_signature.hex(),
            "qe_auth_data": self.qe_auth_data.hex(),
            "certification_data_type": self.certification_data.type,
            "certification_data_size": len(self.certification_data.data),
            "size": len(self.raw),
            "trailing_bytes": self.trailing_bytes,
        }


_make_quote = maker(Quote)
_make_certification_data = maker(CertificationData)
_BODY_HEADER = struct.Struct("<HI")  # a v5 quote's body type and size; the outer certification data's type and size
_QE_SECTION = ENCLAVE_REPORT_SIZE + SIGNATURE_SIZE


def _read_common(data: bytes) -> Quote | None:
    """``_parse`` of a quote without defects, with plain offsets for its checked reader; None at the first thing
    that is not as a valid quote has it (``_parse`` then names it)."""
    n = len(data)
    if n < HEADER_SIZE:
        return None
    header = QuoteHeader.from_bytes(data[:HEADER_SIZE])
    version, tee = header.version, header.tee_type
    if header.attestation_key_type != ATTESTATION_KEY_ECDSA_P256 or header.qe_vendor_id != INTEL_QE_VENDOR_ID:
        return None
    pos = HEADER_SIZE
    if version == 5:
        if pos + 6 > n:
            return None
        body_type, body_size = _BODY_HEADER.unpack_from(data, pos)
        pos += 6
        if body_type not in _BODIES or body_size != _BODIES[body_type][0] or tee not in (_SGX, _TDX):
            return None
        if (body_type == BODY_SGX) != (tee == _SGX):
            return None
    elif tee == _SGX and version in (3, 4):
        body_type = BODY_SGX
    elif tee == _TDX and version == 4:
        body_type = BODY_TD10
    else:
        return None
    size, kind = _BODIES[body_type]
    signed_end = pos + size
    if signed_end + 4 > n:
        return None
    start = signed_end + 4
    end = signed_data_end = start + int.from_bytes(data[signed_end:start], "little")
    pos = start + SIGNATURE_SIZE + PUBLIC_KEY_SIZE
    if end > n or pos > end:
        return None
    if version != 3:
        if pos + 6 > end:
            return None
        outer_type, outer_size = _BODY_HEADER.unpack_from(data, pos)
        pos += 6
        if outer_type != CertificationData.QE_REPORT_CERTIFICATION_DATA or pos + outer_size > end:
            return None
        end = pos + outer_size  # the QE report certification data must fill it exactly
    qe_end = pos + _QE_SECTION
    if qe_end + 2 > end:
        return None
    auth_end = qe_end + 2 + int.from_bytes(data[qe_end : qe_end + 2], "little")
    if auth_end + 6 > end:
        return None
    cert_type, cert_size = _BODY_HEADER.unpack_from(data, auth_end)
    cert_end = auth_end + 6 + cert_size
    if cert_end > end or (version != 3 and cert_end != end) or not 1 <= cert_type <= 5:
        return None
    return _make_quote(  # Quote's fields, in order
        data,
        header,
        body_type,
        kind.from_bytes(data[signed_end - size : signed_end]),
        data[:signed_end],
        data[start : start + SIGNATURE_SIZE],
        data[start + SIGNATURE_SIZE : start + SIGNATURE_SIZE + PUBLIC_KEY_SIZE],
        EnclaveReport.from_bytes(data[pos : pos + ENCLAVE_REPORT_SIZE]),
        data[pos + ENCLAVE_REPORT_SIZE : qe_end],
        data[qe_end + 2 : auth_end],
        _make_certification_data(cert_type, data[auth_end + 6 : cert_end]),
        n - signed_data_end,
    )


def _parse(data: bytes) -> Quote:
    r = _Reader(data, 0, len(data))
    header = QuoteHeader.from_bytes(r.take(HEADER_SIZE, "header"))
    if header.version not in (3, 4, 5):
        raise QuoteFormatError(0, f"unsupported quote version {header.version} (supported: 3, 4, 5)")
    if header.attestation_key_type != ATTESTATION_KEY_ECDSA_P256:
        raise QuoteFormatError(
            2, f"unsupported attestation key type {header.attestation_key_type} (supported: 2, ECDSA P-256)"
        )
    if header.tee_type not in (TeeType.SGX, TeeType.TDX):
        raise QuoteFormatError(4, f"unknown TEE type 0x{header.tee_type:x} (expected 0x0 SGX or 0x81 TDX)")
    if header.qe_vendor_id != INTEL_QE_VENDOR_ID:
        raise QuoteFormatError(12, f"QE vendor ID {header.qe_vendor_id.hex()} is not Intel's")
    if header.version == 3 and header.tee_type != TeeType.SGX:
        raise QuoteFormatError(4, "a version 3 quote must be SGX")

    if header.version == 5:
        body_type = r.u16("body type")
        body_size = r.u32("body size")
        if body_type not in _BODIES:
            raise QuoteFormatError(HEADER_SIZE, f"unsupported body type {body_type} (supported: 1, 2, 3, 4)")
        expected = _BODIES[body_type][0]
        if body_size != expected:
            raise QuoteFormatError(
                HEADER_SIZE + 2, f"body type {body_type} must be {expected} bytes, header says {body_size}"
            )
        if (body_type == BODY_SGX) != (header.tee_type == TeeType.SGX):
            raise QuoteFormatError(HEADER_SIZE, f"body type {body_type} does not match TEE type {header.tee_type:#x}")
    else:
        body_type = BODY_SGX if header.tee_type == TeeType.SGX else BODY_TD10
    size, kind = _BODIES[body_type]
    body = kind.from_bytes(r.take(size, "report body"))
    signed_data = data[: r.pos]

    a = r.section(r.u32("signature data length"), "signature data")
    signature = a.take(SIGNATURE_SIZE, "quote signature")
    attestation_key = a.take(PUBLIC_KEY_SIZE, "attestation key")
    if header.version == 3:
        qe_report, qe_sig, qe_auth, cert = _qe_report_section(a)
        if not 1 <= cert.type <= 5:
            raise QuoteFormatError(a.pos, f"certification data type {cert.type} is not valid in a v3 quote")
    else:
        outer_type = a.u16("certification data type")
        if outer_type != CertificationData.QE_REPORT_CERTIFICATION_DATA:
            raise QuoteFormatError(
                a.pos - 2, f"certification data type {outer_type} (a v{header.version} quote needs type 6)"
            )
        outer = a.section(a.u32("certification data size"), "certification data")
        qe_report, qe_sig, qe_auth, cert = _qe_report_section(outer)
        if outer.pos != outer.end:
            raise QuoteFormatError(outer.pos, f"{outer.end - outer.pos} bytes follow the QE certification data")
        if not 1 <= cert.type <= 5:
            raise QuoteFormatError(outer.pos, f"inner certification data type {cert.type} is not 1-5")
    return Quote(
        raw=data,
        header=header,
        body_type=body_type,
        body=body,
        signed_data=signed_data,
        signature=signature,
        attestation_key=attestation_key,
        qe_report=qe_report,
        qe_report_signature=qe_sig,
        qe_auth_data=qe_auth,
        certification_data=cert,
        trailing_bytes=len(data) - r.pos,
    )


def _qe_report_section(r: _Reader) -> tuple[EnclaveReport, bytes, bytes, CertificationData]:
    """QE report, its signature, QE authentication data and certification data, read from ``r``."""
    qe_report = EnclaveReport.from_bytes(r.take(ENCLAVE_REPORT_SIZE, "QE report"))
    qe_sig = r.take(SIGNATURE_SIZE, "QE report signature")
    qe_auth = r.take(r.u16("QE authentication data size"), "QE authentication data")
    cert_type = r.u16("certification data type")
    cert_data = r.take(r.u32("certification data size"), "certification data")
    return qe_report, qe_sig, qe_auth, CertificationData(cert_type, cert_data)
