"""The byte layout of DCAP quotes (v3, v4, v5; SGX, TD 1.0, TD 1.5), the inverse of ``pydcap.quote.parser``.

Integers are little-endian. Every writer checks field sizes, so a mistake here fails loudly instead of
producing a quote that is merely rejected.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from pydcap.quote.parser import BODY_SGX, BODY_TD10, BODY_TD15
from pydcap.quote.structs import (
    ATTESTATION_KEY_ECDSA_P256,
    ENCLAVE_REPORT_SIZE,
    INTEL_QE_VENDOR_ID,
    TD_REPORT10_SIZE,
    TD_REPORT15_SIZE,
    CertificationData,
    TeeType,
)

QE_AUTH_DATA = bytes(range(32))  # what Intel's quoting enclaves put there


def _fixed(value: bytes, size: int, name: str) -> bytes:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")
    return bytes(value)


def padded(value: bytes, size: int, name: str) -> bytes:
    """``value`` zero-padded to ``size`` bytes (report data, user data)."""
    if len(value) > size:
        raise ValueError(f"{name} is at most {size} bytes, got {len(value)}")
    return bytes(value) + bytes(size - len(value))


def header(
    *,
    version: int,
    tee_type: int,
    qe_svn: int,
    pce_svn: int,
    user_data: bytes,
    qe_vendor_id: bytes = INTEL_QE_VENDOR_ID,
) -> bytes:
    """The 48-byte quote header."""
    return (
        struct.pack("<HHIHH", version, ATTESTATION_KEY_ECDSA_P256, tee_type, qe_svn, pce_svn)
        + _fixed(qe_vendor_id, 16, "QE vendor ID")
        + padded(user_data, 20, "user data")
    )


@dataclass(frozen=True, slots=True)
class EnclaveReportFields:
    """An SGX report body: the application enclave's (quote body) or the QE's (QE report)."""

    cpu_svn: bytes
    attributes: bytes
    mr_enclave: bytes
    mr_signer: bytes
    report_data: bytes
    misc_select: int = 0
    isv_ext_prod_id: bytes = bytes(16)
    config_id: bytes = bytes(64)
    isv_prod_id: int = 0
    isv_svn: int = 0
    config_svn: int = 0
    isv_family_id: bytes = bytes(16)

    def encode(self) -> bytes:
        out = (
            _fixed(self.cpu_svn, 16, "CPUSVN")
            + struct.pack("<I", self.misc_select)
            + bytes(12)
            + _fixed(self.isv_ext_prod_id, 16, "ISVEXTPRODID")
            + _fixed(self.attributes, 16, "ATTRIBUTES")
            + _fixed(self.mr_enclave, 32, "MRENCLAVE")
            + bytes(32)
            + _fixed(self.mr_signer, 32, "MRSIGNER")
            + bytes(32)
            + _fixed(self.config_id, 64, "CONFIGID")
            + struct.pack("<HHH", self.isv_prod_id, self.isv_svn, self.config_svn)
            + bytes(42)
            + _fixed(self.isv_family_id, 16, "ISVFAMILYID")
            + padded(self.report_data, 64, "REPORTDATA")
        )
        assert len(out) == ENCLAVE_REPORT_SIZE
        return out


@dataclass(frozen=True, slots=True)
class TdReportFields:
    """A TD report body: TD 1.0 (584 bytes) or, with ``tee_tcb_svn2``, TD 1.5 (648 bytes)."""

    tee_tcb_svn: bytes
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: bytes
    td_attributes: bytes
    xfam: bytes
    mr_td: bytes
    report_data: bytes
    mr_config_id: bytes = bytes(48)
    mr_owner: bytes = bytes(48)
    mr_owner_config: bytes = bytes(48)
    rtmrs: tuple[bytes, bytes, bytes, bytes] = field(default=(bytes(48), bytes(48), bytes(48), bytes(48)))
    tee_tcb_svn2: bytes | None = None
    mr_service_td: bytes = bytes(48)

    @property
    def body_type(self) -> int:
        return BODY_TD10 if self.tee_tcb_svn2 is None else BODY_TD15

    def encode(self) -> bytes:
        out = (
            _fixed(self.tee_tcb_svn, 16, "TEE_TCB_SVN")
            + _fixed(self.mr_seam, 48, "MRSEAM")
            + _fixed(self.mr_signer_seam, 48, "MRSIGNERSEAM")
            + _fixed(self.seam_attributes, 8, "SEAMATTRIBUTES")
            + _fixed(self.td_attributes, 8, "TDATTRIBUTES")
            + _fixed(self.xfam, 8, "XFAM")
            + _fixed(self.mr_td, 48, "MRTD")
            + _fixed(self.mr_config_id, 48, "MRCONFIGID")
            + _fixed(self.mr_owner, 48, "MROWNER")
            + _fixed(self.mr_owner_config, 48, "MROWNERCONFIG")
            + b"".join(_fixed(r, 48, f"RTMR{i}") for i, r in enumerate(self.rtmrs))
            + padded(self.report_data, 64, "REPORTDATA")
        )
        if self.tee_tcb_svn2 is not None:
            out += _fixed(self.tee_tcb_svn2, 16, "TEE_TCB_SVN2") + _fixed(self.mr_service_td, 48, "MRSERVICETD")
        assert len(out) == (TD_REPORT10_SIZE if self.tee_tcb_svn2 is None else TD_REPORT15_SIZE)
        return out


def body_prefix(version: int, body_type: int, body: bytes) -> bytes:
    """Version 5 quotes carry the body type and size before the body; earlier versions carry nothing."""
    return struct.pack("<HI", body_type, len(body)) if version == 5 else b""


def qe_report_section(
    qe_report: bytes, qe_report_signature: bytes, qe_auth_data: bytes, certification: CertificationData
) -> bytes:
    """QE report, its signature, QE authentication data and the (inner) certification data."""
    return (
        _fixed(qe_report, ENCLAVE_REPORT_SIZE, "QE report")
        + _fixed(qe_report_signature, 64, "QE report signature")
        + struct.pack("<H", len(qe_auth_data))
        + qe_auth_data
        + struct.pack("<HI", certification.type, len(certification.data))
        + certification.data
    )


def signature_data(version: int, quote_signature: bytes, attestation_key: bytes, qe_section: bytes) -> bytes:
    """The length-prefixed signature data: v3 holds the QE section directly, v4 and v5 wrap it as
    certification data type 6."""
    inner = _fixed(quote_signature, 64, "quote signature") + _fixed(attestation_key, 64, "attestation key")
    if version == 3:
        inner += qe_section
    else:
        inner += struct.pack("<HI", CertificationData.QE_REPORT_CERTIFICATION_DATA, len(qe_section)) + qe_section
    return struct.pack("<I", len(inner)) + inner


def tee_type(tdx: bool) -> int:
    return int(TeeType.TDX if tdx else TeeType.SGX)


SGX_BODY_TYPE = BODY_SGX
