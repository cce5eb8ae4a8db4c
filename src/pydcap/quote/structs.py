"""Fixed-size structures inside a quote: header, SGX enclave report, TD reports, certification data.

Each structure keeps the exact bytes it was read from (``raw``); signatures cover those bytes.
Integers are little-endian, as Intel lays them out.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self, cast

from pydcap.lazy import maker

HEADER_SIZE = 48
ENCLAVE_REPORT_SIZE = 384
TD_REPORT10_SIZE = 584
TD_REPORT15_SIZE = 648
TD_REPORT15EX_SIZE = 885

INTEL_QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
ATTESTATION_KEY_ECDSA_P256 = 2

SGX_ATTRIBUTE_DEBUG = 0x02  # bit 1 of ATTRIBUTES.FLAGS
TD_ATTRIBUTE_DEBUG = 0x01  # bit 0 of TDATTRIBUTES


# The header's fields in order (version, key type, TEE type, QE and PCE SVN, QE vendor, user data), little-endian;
# and the enclave report's (reserved bytes skipped).
_HEADER = struct.Struct("<HHIHH16s20s")
_ENCLAVE_REPORT = struct.Struct("<16sI12x16s16s32s32x32s32x64sHHH42x16s64s")


class TeeType(enum.IntEnum):
    SGX = 0x00000000
    TDX = 0x00000081


def _u16(b: bytes, off: int) -> int:
    return int.from_bytes(b[off : off + 2], "little")


def _hex_fields(obj: Any, names: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    """``names`` of ``obj`` (bytes as hex), then ``extra``."""
    out: dict[str, Any] = {}
    for name in names:
        value = getattr(obj, name)
        out[name] = value.hex() if isinstance(value, bytes) else value
    out.update(extra)
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
        return _make_header(raw, *_HEADER.unpack(raw))

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
        return _make_enclave_report(raw, *_ENCLAVE_REPORT.unpack(raw))

    @property
    def debug(self) -> bool:
        """Whether the enclave was launched in debug mode (ATTRIBUTES.DEBUG)."""
        return bool(self.attributes[0] & SGX_ATTRIBUTE_DEBUG)

    def to_dict(self) -> dict[str, Any]:
        return _hex_fields(self, self.FIELDS, debug=self.debug)


def _layout(*fields: tuple[str, int]) -> struct.Struct:
    """The layout of consecutive byte-string fields given as (name, size)."""
    return struct.Struct("".join(f"{size}s" for _, size in fields))


_TD10_FIELDS = (
    ("tee_tcb_svn", 16),
    ("mr_seam", 48),
    ("mr_signer_seam", 48),
    ("seam_attributes", 8),
    ("td_attributes", 8),
    ("xfam", 8),
    ("mr_td", 48),
    ("mr_config_id", 48),
    ("mr_owner", 48),
    ("mr_owner_config", 48),
    ("rtmr0", 48),
    ("rtmr1", 48),
    ("rtmr2", 48),
    ("rtmr3", 48),
    ("report_data", 64),
)
_TD15_FIELDS = (*_TD10_FIELDS, ("tee_tcb_svn2", 16), ("mr_service_td", 48))
_TD15EX_FIELDS = (
    *_TD15_FIELDS,
    ("vm_id", 1),
    ("td_id", 32),
    ("dev_info", 48),
    ("init_serv_td_hash", 48),
    ("init_serv_td_attributes", 8),
    ("init_cpu_svn", 16),
    ("init_tee_tcb_svn", 16),
    ("init_tee_fmspc", 12),
    ("cur_serv_td_hash", 48),
    ("cur_serv_td_attributes", 8),
)


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

    LAYOUT: ClassVar[struct.Struct] = _layout(*_TD10_FIELDS)
    FIELDS: ClassVar[tuple[str, ...]] = tuple(name for name, _ in _TD10_FIELDS)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        return cast(Self, _TD_MAKERS[cls](raw, *cls.LAYOUT.unpack(raw)))

    @property
    def rtmrs(self) -> tuple[bytes, bytes, bytes, bytes]:
        return (self.rtmr0, self.rtmr1, self.rtmr2, self.rtmr3)

    @property
    def debug(self) -> bool:
        """Whether the TD is debuggable (TDATTRIBUTES.DEBUG)."""
        return bool(self.td_attributes[0] & TD_ATTRIBUTE_DEBUG)

    def to_dict(self) -> dict[str, Any]:
        return _hex_fields(self, self.FIELDS, debug=self.debug)


@dataclass(frozen=True, slots=True)
class TdReport15(TdReport10):
    """A TDX 1.5 TD report body (648 bytes): TD 1.0 plus TEE_TCB_SVN2 and MRSERVICETD."""

    tee_tcb_svn2: bytes
    mr_service_td: bytes

    LAYOUT: ClassVar[struct.Struct] = _layout(*_TD15_FIELDS)
    FIELDS: ClassVar[tuple[str, ...]] = tuple(name for name, _ in _TD15_FIELDS)


@dataclass(frozen=True, slots=True)
class TdReport15Ex(TdReport15):
    """A TD 1.5 report with the TD partitioning fields (885 bytes; v5 body type 4, new in Intel's 2026 QVL).

    Intel's verifier reads only its TD 1.5 part (TEE_TCB_SVN, TEE_TCB_SVN2, the SEAM fields); so does pydcap."""

    vm_id: bytes
    td_id: bytes
    dev_info: bytes
    init_serv_td_hash: bytes
    init_serv_td_attributes: bytes
    init_cpu_svn: bytes
    init_tee_tcb_svn: bytes
    init_tee_fmspc: bytes
    cur_serv_td_hash: bytes
    cur_serv_td_attributes: bytes

    LAYOUT: ClassVar[struct.Struct] = _layout(*_TD15EX_FIELDS)
    FIELDS: ClassVar[tuple[str, ...]] = tuple(name for name, _ in _TD15EX_FIELDS)


_make_header = maker(QuoteHeader)
_make_enclave_report = maker(EnclaveReport)
_TD_MAKERS: dict[type[TdReport10], Callable[..., TdReport10]] = {
    kind: maker(kind) for kind in (TdReport10, TdReport15, TdReport15Ex)
}


@dataclass(frozen=True, slots=True)
class EncryptedPpid:
    """What certification data of type 2 or 3 carries instead of a PCK certificate chain: the PPID encrypted
    with Intel's RSA key (2048 or 3072 bits), the platform's raw TCB (CPUSVN, PCESVN) and its PCE-ID (a 16-bit
    value, as in Intel's ABI). With the QE-ID they name the platform's PCK certificate to Intel PCS or a PCCS."""

    encrypted_ppid: bytes
    cpu_svn: bytes
    pce_svn: int
    pce_id: int


@dataclass(frozen=True, slots=True)
class CertificationData:
    """QE certification data: type 5 is a PEM PCK certificate chain; types 2 and 3 an encrypted PPID."""

    type: int
    data: bytes

    ENCRYPTED_PPID_2048 = 2
    ENCRYPTED_PPID_3072 = 3
    PCK_CERT_CHAIN = 5
    QE_REPORT_CERTIFICATION_DATA = 6

    @property
    def encrypted_ppid(self) -> EncryptedPpid | None:
        """The encrypted PPID, raw TCB and PCE-ID of type 2 or 3; None for other types or a size that is not the
        encrypted PPID's (256 or 384 bytes) plus CPUSVN (16), PCESVN (2) and PCE-ID (2)."""
        size = {self.ENCRYPTED_PPID_2048: 256, self.ENCRYPTED_PPID_3072: 384}.get(self.type)
        if size is None or len(self.data) != size + 20:
            return None
        d = self.data
        return EncryptedPpid(d[:size], d[size : size + 16], _u16(d, size + 16), _u16(d, size + 18))
