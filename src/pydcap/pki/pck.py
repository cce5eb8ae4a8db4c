"""PCK certificates: the SGX extension (OID 1.2.840.113741.1.13.1) that names a platform and its TCB."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from pydcap.errors import CertificateFormatError
from pydcap.lazy import maker, remember
from pydcap.pki import der
from pydcap.pki.certs import Certificate

SGX_EXTENSION_OID = "1.2.840.113741.1.13.1"


class SgxType(enum.IntEnum):
    STANDARD = 0
    SCALABLE = 1
    SCALABLE_WITH_INTEGRITY = 2

    @property
    def label(self) -> str:
        """The name Intel's supplemental data uses."""
        return _SGX_TYPE_LABELS[self]


_SGX_TYPE_LABELS = {
    SgxType.STANDARD: "Standard",
    SgxType.SCALABLE: "Scalable",
    SgxType.SCALABLE_WITH_INTEGRITY: "ScalableWithIntegrity",
}


@dataclass(frozen=True, slots=True)
class PckTcb:
    """The TCB a PCK certificate was issued for: 16 CPU component SVNs, PCESVN and the raw CPUSVN."""

    components: tuple[int, ...]
    pce_svn: int
    cpu_svn: bytes


@dataclass(frozen=True, slots=True)
class SgxExtension:
    ppid: bytes
    tcb: PckTcb
    pce_id: bytes
    fmspc: bytes
    sgx_type: SgxType
    platform_instance_id: bytes | None = None
    dynamic_platform: bool | None = None
    cached_keys: bool | None = None
    smt_enabled: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ppid": self.ppid.hex(),
            "tcb": {
                "components": list(self.tcb.components),
                "pcesvn": self.tcb.pce_svn,
                "cpusvn": self.tcb.cpu_svn.hex(),
            },
            "pce_id": self.pce_id.hex(),
            "fmspc": self.fmspc.hex(),
            "sgx_type": self.sgx_type.label,
            "platform_instance_id": self.platform_instance_id.hex() if self.platform_instance_id else None,
            "dynamic_platform": self.dynamic_platform,
            "cached_keys": self.cached_keys,
            "smt_enabled": self.smt_enabled,
        }


class PckCertificate(Certificate):
    """A PCK leaf certificate: a ``Certificate`` plus its parsed SGX extension and CA type."""

    __slots__ = ("sgx",)

    def __init__(
        self,
        cert: x509.Certificate | None,
        der: bytes | None = None,
        known: Mapping[str, object] | None = None,
        sgx: SgxExtension | None = None,
    ) -> None:
        """``sgx``: its SGX extension, when already read."""
        super().__init__(cert, der, known)
        self.sgx = parse_sgx_extension(self) if sgx is None else sgx

    @classmethod
    def from_certificate(cls, cert: Certificate) -> PckCertificate:
        return cls(None, cert.der, cert.__dict__)

    @property
    def ca_type(self) -> str:
        return ca_type(self.issuer_cn)

    @property
    def fmspc(self) -> bytes:
        return self.sgx.fmspc

    @property
    def pce_id(self) -> bytes:
        return self.sgx.pce_id


def ca_type(issuer_cn: str) -> str:
    """``"processor"`` or ``"platform"``, from the issuing CA's name, as Intel's tools decide it."""
    return "processor" if "Processor" in issuer_cn else "platform"


def parse_sgx_extension(cert: Certificate) -> SgxExtension:
    """Read the SGX extension; raise ``CertificateFormatError`` if it is absent or malformed."""
    try:
        value = cert.extension_value(_SGX_EXTENSION)
    except der.DerError as exc:
        raise CertificateFormatError(f"malformed extensions: {exc}") from exc
    if value is None:
        raise CertificateFormatError("PCK certificate has no SGX extension")
    try:
        return read_standard_layout(value) or read_sgx_extension(value)
    except ValueError as exc:  # DerError, or an SGX type out of the enum
        raise CertificateFormatError(f"malformed SGX extension: {exc}") from exc


def _oid(suffix: str) -> bytes:
    return der.encode_oid(f"{SGX_EXTENSION_OID}.{suffix}")


_SGX_EXTENSION = der.encode_oid(SGX_EXTENSION_OID)
_PPID, _TCB, _PCE_ID, _FMSPC, _SGX_TYPE, _INSTANCE, _CONFIG = (_oid(str(i)) for i in range(1, 8))
_TCB_COMPONENTS = tuple(_oid(f"2.{i}") for i in range(1, 17))
_PCESVN, _CPUSVN = _oid("2.17"), _oid("2.18")
_DYNAMIC, _CACHED_KEYS, _SMT = _oid("7.1"), _oid("7.2"), _oid("7.3")


class _Entries(dict[bytes, der.Tlv]):
    """SEQUENCE OF SEQUENCE { OID, value }, keyed by the OID's encoded bytes."""

    def need(self, oid: bytes) -> der.Tlv:
        if oid not in self:
            raise der.DerError(f"SGX extension lacks {der.decode_oid(oid)}")
        return self[oid]


def _pairs(seq_value: bytes) -> _Entries:
    out = _Entries()
    for item in der.read_all(seq_value):
        if item.tag != der.TAG_SEQUENCE:
            raise der.DerError("SGX extension entry is not a SEQUENCE")
        parts = der.read_all(item.value)
        if len(parts) != 2 or parts[0].tag != der.TAG_OID:
            raise der.DerError("SGX extension entry is not {OID, value}")
        if parts[0].value in out:
            raise der.DerError(f"duplicate SGX extension entry {der.decode_oid(parts[0].value)}")
        out[parts[0].value] = parts[1]
    return out


def _octets(tlv: der.Tlv, size: int, name: str) -> bytes:
    if tlv.tag != der.TAG_OCTET_STRING or len(tlv.value) != size:
        raise der.DerError(f"{name} must be an OCTET STRING of {size} bytes")
    return tlv.value


def _int(tlv: der.Tlv, name: str, *, tag: int = der.TAG_INTEGER, maximum: int = 0xFFFF) -> int:
    if tlv.tag != tag:
        raise der.DerError(f"{name} has the wrong type")
    value = der.decode_integer(tlv.value)
    if not 0 <= value <= maximum:
        raise der.DerError(f"{name} {value} out of range")
    return value


def read_sgx_extension(raw: bytes) -> SgxExtension:
    """The SGX extension's DER value, entry by entry in any order (unknown entries ignored); raises ``DerError``
    or ``ValueError``."""
    top = _pairs(der.read_one(raw, der.TAG_SEQUENCE).value)
    tcb_tlv = top.need(_TCB)
    if tcb_tlv.tag != der.TAG_SEQUENCE:
        raise der.DerError("TCB must be a SEQUENCE")
    tcb = _pairs(tcb_tlv.value)
    components = tuple(
        _int(tcb.need(oid), f"SGX TCB component {i}", maximum=255) for i, oid in enumerate(_TCB_COMPONENTS, 1)
    )
    tcb_info = PckTcb(
        components=components,
        pce_svn=_int(tcb.need(_PCESVN), "PCESVN"),
        cpu_svn=_octets(tcb.need(_CPUSVN), 16, "CPUSVN"),
    )
    sgx_type = SgxType(_int(top.need(_SGX_TYPE), "SGX type", tag=der.TAG_ENUMERATED, maximum=2))
    instance = top.get(_INSTANCE)
    config = top.get(_CONFIG)
    flags: dict[bytes, bool] = {}
    if config is not None:
        if config.tag != der.TAG_SEQUENCE:
            raise der.DerError("configuration must be a SEQUENCE")
        for oid, tlv in _pairs(config.value).items():
            if tlv.tag != der.TAG_BOOLEAN:
                raise der.DerError(f"configuration flag {der.decode_oid(oid)} is not a BOOLEAN")
            flags[oid] = der.decode_boolean(tlv.value)
    return SgxExtension(
        ppid=_octets(top.need(_PPID), 16, "PPID"),
        tcb=tcb_info,
        pce_id=_octets(top.need(_PCE_ID), 2, "PCE-ID"),
        fmspc=_octets(top.need(_FMSPC), 6, "FMSPC"),
        sgx_type=sgx_type,
        platform_instance_id=_octets(instance, 16, "platform instance ID") if instance is not None else None,
        dynamic_platform=flags.get(_DYNAMIC),
        cached_keys=flags.get(_CACHED_KEYS),
        smt_enabled=flags.get(_SMT),
    )


# The layout Intel's PCK certificates use, as one pattern: every entry in order, each integer in its shortest form,
# each flag 0x00 or 0xff. What it matches, the generic decoder reads to the same values (a test checks both on
# every certificate and on mutations); anything else (other orders, extra entries, longer encodings) takes the
# generic decoder, which also names what is wrong.
def _entry(suffix: str, tag: int, size: int, value: bytes = b"(.{%d})") -> bytes:
    """``SEQUENCE { OID, <tag> of size bytes }`` with the value captured (or matched by ``value``)."""
    oid = _oid(suffix)
    head = bytes([der.TAG_OID, len(oid)]) + oid + bytes([tag, size])
    return re.escape(bytes([der.TAG_SEQUENCE, len(head) + size]) + head) + (value % size if b"%d" in value else value)


def _small_int(suffix: str) -> bytes:
    """An INTEGER 0..255: one byte below 0x80, else 0x00 then the byte (two alternatives, one captured)."""
    return b"(?:%s|%s)" % (
        _entry(suffix, der.TAG_INTEGER, 1, b"([\x00-\x7f])"),
        _entry(suffix, der.TAG_INTEGER, 2, b"\x00([\x80-\xff])"),
    )


def _word_int(suffix: str) -> bytes:
    """An INTEGER 0..65535 in its shortest form (three alternatives, one captured)."""
    return b"(?:%s|%s|%s)" % (
        _entry(suffix, der.TAG_INTEGER, 1, b"([\x00-\x7f])"),
        _entry(suffix, der.TAG_INTEGER, 2, b"([\x01-\x7f].|\x00[\x80-\xff])"),
        _entry(suffix, der.TAG_INTEGER, 3, b"(\x00[\x80-\xff].)"),
    )


def _container(suffix: str) -> bytes:
    """The head of ``SEQUENCE { OID, SEQUENCE {...} }`` whose lengths take two bytes (checked after matching)."""
    oid = _oid(suffix)
    return b"\x30\x82(..)" + re.escape(bytes([der.TAG_OID, len(oid)]) + oid) + b"\x30\x82(..)"


def _flag(suffix: str) -> bytes:
    return _entry(suffix, der.TAG_BOOLEAN, 1, b"([\x00\xff])")


_STANDARD_LAYOUT = re.compile(
    b"\\x30\\x82(?P<outer>..)"
    + _entry("1", der.TAG_OCTET_STRING, 16)  # PPID
    + _container("2")  # TCB: the entry's length, then its SEQUENCE's
    + b"(?P<tcb>"
    + b"".join(_small_int(f"2.{i}") for i in range(1, 17))
    + _word_int("2.17")
    + _entry("2.18", der.TAG_OCTET_STRING, 16)  # CPUSVN
    + b")"
    + _entry("3", der.TAG_OCTET_STRING, 2)  # PCE-ID
    + _entry("4", der.TAG_OCTET_STRING, 6)  # FMSPC
    + _entry("5", der.TAG_ENUMERATED, 1, b"([\\x00-\\x02])")  # SGX type
    + b"(?:"
    + _entry("6", der.TAG_OCTET_STRING, 16)  # platform instance ID
    + re.escape(bytes([der.TAG_SEQUENCE, 0x44, der.TAG_OID, 10]) + _oid("7") + bytes([der.TAG_SEQUENCE, 0x36]))
    + _flag("7.1")
    + _flag("7.2")
    + _flag("7.3")
    + b")?",
    re.DOTALL,
)


_make_sgx_extension = maker(SgxExtension)
_SGX_TYPES = tuple(SgxType)
_FLAGS = {b"\xff": True, b"\x00": False}

# What the certificates of a fleet have in common, one object each (a few hundred bytes less per platform a verifier
# remembers): TCBs by the exact bytes they were read from, and PCE-IDs and FMSPCs.
_TCBS: dict[bytes, PckTcb] = {}
_SHARED_BYTES: dict[bytes, bytes] = {}
_SHARED_MAX = 4096


def _shared(value: bytes) -> bytes:
    found = _SHARED_BYTES.get(value)
    return remember(_SHARED_BYTES, value, value, _SHARED_MAX) if found is None else found


def read_standard_layout(raw: bytes) -> SgxExtension | None:
    """The extension in Intel's own layout, read in one match; None when it is laid out otherwise."""
    m = _STANDARD_LAYOUT.fullmatch(raw)
    if m is None:
        return None
    g = m.groups()
    # g: outer length, PPID, TCB entry and SEQUENCE lengths, TCB span, 16 x 2 component alternatives, 3 PCESVN
    # alternatives, CPUSVN, PCE-ID, FMSPC, SGX type, instance ID, 3 flags.
    tcb_start, tcb_end = m.span("tcb")
    if (
        int.from_bytes(g[0], "big") != len(raw) - 4
        or int.from_bytes(g[3], "big") != tcb_end - tcb_start
        or int.from_bytes(g[2], "big") != tcb_end - tcb_start + 4 + 2 + len(_TCB)
    ):
        return None
    tcb_raw = raw[tcb_start:tcb_end]
    tcb = _TCBS.get(tcb_raw)
    if tcb is None:
        components = tuple(b"".join(filter(None, g[5:37])))
        tcb = PckTcb(components, int.from_bytes(b"".join(filter(None, g[37:40])), "big"), g[40])
        remember(_TCBS, tcb_raw, tcb, _SHARED_MAX)
    flag = _FLAGS.get
    return _make_sgx_extension(
        g[1],
        tcb,
        _shared(g[41]),
        _shared(g[42]),
        _SGX_TYPES[g[43][0]],
        g[44],
        flag(g[45]),
        flag(g[46]),
        flag(g[47]),
    )
