"""PCK certificates: the SGX extension (OID 1.2.840.113741.1.13.1) that names a platform and its TCB."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from pydcap.errors import CertificateFormatError
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

    def __init__(self, cert: x509.Certificate, known: Mapping[str, object] | None = None) -> None:
        """``known``: values already read from this same certificate (a ``Certificate``'s cache), reused."""
        super().__init__(cert)
        if known:
            self.__dict__.update(known)
        self.sgx = parse_sgx_extension(self)

    @classmethod
    def from_certificate(cls, cert: Certificate) -> PckCertificate:
        return cls(cert.x509, cert.__dict__)

    @property
    def ca_type(self) -> str:
        """``"processor"`` or ``"platform"``, from the issuing CA's name, as Intel's tools decide it."""
        return "processor" if "Processor" in self.issuer_cn else "platform"

    @property
    def fmspc(self) -> bytes:
        return self.sgx.fmspc

    @property
    def pce_id(self) -> bytes:
        return self.sgx.pce_id


def parse_sgx_extension(cert: Certificate) -> SgxExtension:
    """Read the SGX extension; raise ``CertificateFormatError`` if it is absent or malformed."""
    try:
        value = cert.extension_value(_SGX_EXTENSION)
    except der.DerError as exc:
        raise CertificateFormatError(f"malformed extensions: {exc}") from exc
    if value is None:
        raise CertificateFormatError("PCK certificate has no SGX extension")
    try:
        return _decode(value)
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


def _decode(raw: bytes) -> SgxExtension:
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
