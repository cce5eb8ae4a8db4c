"""Fixed-size structures inside a quote: header, SGX enclave report, TD reports, certification data.

Each structure keeps the exact bytes it was read from (``raw``); signatures cover those bytes.
Integers are little-endian, as Intel lays them out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar

HEADER_SIZE = 48
ENCLAVE_REPORT_SIZE = 384
TD_REPORT10_SIZE = 584
TD_REPORT15_SIZE = 648

INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
ATTESTATION_KEY_ECDSA_P256 = 2

SGX_ATTRIBUTE_DEBUG = 0x02  # bit 1 of ATTRIBUTES.FLAGS
TD_ATTRIBUTE_DEBUG = 0x01  # bit 0 of TDATTRIBUTES


class TeeType(enum.IntEnum):
    SGX = 0x00000000
    TDX = 0x00000081


def _u16(b: bytes, off: int) -> int:
    return int.from_bytes(b[off : off + 2], "little")


def _u32(b: bytes, off: int) -> int:
    return int.from_bytes(b[off : off + 4], "little")


def _hex_fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        out[name] = value.hex() if isinstance(value, bytes) else value
    return out


@dataclass(frozen=True, slots=True)
class QuoteHeader:
    """The 48-byte quote header."""

    raw: bytes
    version: int
    attestation_key_type: int
    tee_type: int
    qe_svn: int
    pce_svn: int
    qe_vendor_id: bytes
    user_data: bytes

    @classmethod
    def from_bytes(cls, raw: bytes) -> QuoteHeader:
        return cls(
            raw=raw,
            version=_u16(raw, 0),
            attestation_key_type=_u16(raw, 2),
            tee_type=_u32(raw, 4),
            qe_svn=_u16(raw, 8),
            pce_svn=_u16(raw, 10),
            qe_vendor_id=raw[12:28],
            user_data=raw[28:48],
        )

    def to_dict(self) -> dict[str, Any]:
        return _hex_fields(
            self,
            ("version", "attestation_key_type", "tee_type", "qe_svn", "pce_svn", "qe_vendor_id", "user_data"),
        )


@dataclass(frozen=True, slots=True)
class EnclaveReport:
    """An SGX enclave report body (384 bytes): the application enclave's, or the QE's own report."""

    raw: bytes
    cpu_svn: bytes
    misc_select: int
    isv_ext_prod_id: bytes
    attributes: bytes
    mr_enclave: bytes
    mr_signer: bytes
    config_id: bytes
    isv_prod_id: int
    isv_svn: int
    config_svn: int
    isv_family_id: bytes
    report_data: bytes

    FIELDS: ClassVar[tuple[str, ...]] = (
        "cpu_svn",
        "misc_select",
        "isv_ext_prod_id",
        "attributes",
        "mr_enclave",
        "mr_signer",
        "config_id",
        "isv_prod_id",
        "isv_svn",
        "config_svn",
        "isv_family_id",
        "report_data",
    )

    @classmethod
    def from_bytes(cls, raw: bytes) -> EnclaveReport:
        return cls(
            raw=raw,
            cpu_svn=raw[0:16],
            misc_select=_u32(raw, 16),
            isv_ext_prod_id=raw[32:48],
            attributes=raw[48:64],
            mr_enclave=raw[64:96],
            mr_signer=raw[128:160],
            config_id=raw[192:256],
            isv_prod_id=_u16(raw, 256),
            isv_svn=_u16(raw, 258),
            config_svn=_u16(raw, 260),
            isv_family_id=raw[304:320],
            report_data=raw[320:384],
        )

    @property
    def debug(self) -> bool:
        """Whether the enclave was launched in debug mode (ATTRIBUTES.DEBUG)."""
        return bool(self.attributes[0] & SGX_ATTRIBUTE_DEBUG)

    def to_dict(self) -> dict[str, Any]:
        out = _hex_fields(self, self.FIELDS)
        out["debug"] = self.debug
        return out


@dataclass(frozen=True, slots=True)
class TdReport10:
    """A TDX 1.0 TD report body (584 bytes)."""

    raw: bytes
    tee_tcb_svn: bytes
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: bytes
    td_attributes: bytes
    xfam: bytes
    mr_td: bytes
    mr_config_id: bytes
    mr_owner: bytes
    mr_owner_config: bytes
    rtmr0: bytes
    rtmr1: bytes
    rtmr2: bytes
    rtmr3: bytes
    report_data: bytes

    FIELDS: ClassVar[tuple[str, ...]] = (
        "tee_tcb_svn",
        "mr_seam",
        "mr_signer_seam",
        "seam_attributes",
        "td_attributes",
        "xfam",
        "mr_td",
        "mr_config_id",
        "mr_owner",
        "mr_owner_config",
        "rtmr0",
        "rtmr1",
        "rtmr2",
        "rtmr3",
        "report_data",
    )

    @classmethod
    def _fields_from(cls, raw: bytes) -> dict[str, bytes]:
        return {
            "raw": raw,
            "tee_tcb_svn": raw[0:16],
            "mr_seam": raw[16:64],
            "mr_signer_seam": raw[64:112],
            "seam_attributes": raw[112:120],
            "td_attributes": raw[120:128],
            "xfam": raw[128:136],
            "mr_td": raw[136:184],
            "mr_config_id": raw[184:232],
            "mr_owner": raw[232:280],
            "mr_owner_config": raw[280:328],
            "rtmr0": raw[328:376],
            "rtmr1": raw[376:424],
            "rtmr2": raw[424:472],
            "rtmr3": raw[472:520],
            "report_data": raw[520:584],
        }

    @classmethod
    def from_bytes(cls, raw: bytes) -> TdReport10:
        return cls(**cls._fields_from(raw))

    @property
    def rtmrs(self) -> tuple[bytes, bytes, bytes, bytes]:
        return (self.rtmr0, self.rtmr1, self.rtmr2, self.rtmr3)

    @property
    def debug(self) -> bool:
        """Whether the TD is debuggable (TDATTRIBUTES.DEBUG)."""
        return bool(self.td_attributes[0] & TD_ATTRIBUTE_DEBUG)

    def to_dict(self) -> dict[str, Any]:
        out = _hex_fields(self, self.FIELDS)
        out["debug"] = self.debug
        return out


@dataclass(frozen=True, slots=True)
class TdReport15(TdReport10):
    """A TDX 1.5 TD report body (648 bytes): TD 1.0 plus TEE_TCB_SVN2 and MRSERVICETD."""

    tee_tcb_svn2: bytes
    mr_service_td: bytes

    FIELDS: ClassVar[tuple[str, ...]] = (*TdReport10.FIELDS, "tee_tcb_svn2", "mr_service_td")

    @classmethod
    def from_bytes(cls, raw: bytes) -> TdReport15:
        return cls(**cls._fields_from(raw), tee_tcb_svn2=raw[584:600], mr_service_td=raw[600:648])


@dataclass(frozen=True, slots=True)
class CertificationData:
    """QE certification data: type 5 is a PEM PCK certificate chain."""

    type: int
    data: bytes

    PCK_CERT_CHAIN = 5
    QE_REPORT_CERTIFICATION_DATA = 6
