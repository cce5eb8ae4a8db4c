"""PCK certificates: the SGX extension (OID 1.2.840.113741.1.13.1) that names a platform and its TCB."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from pydcap.errors import CertificateFormatError
from pydcap.pki import der
from pydcap.pki.certs import Certificate

SGX_EXTENSION_OID = "1.2.840.113741.1.13.1"
_P = SGX_EXTENSION_OID


class SgxType(enum.IntEnum):
    STANDARD = 0
    SCALABLE = 1
    SCALABLE_WITH_INTEGRITY = 2

    @property
    def label(self) -> str:
        """The name Intel's supplemental data uses."""
        return {0: "Standard", 1: "Scalable", 2: "ScalableWithIntegrity"}[self.value]


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

    def __init__(self, cert: x509.Certificate) -> None:
        super().__init__(cert)
        self.sgx = parse_sgx_extension(cert)

    @classmethod
    def from_certificate(cls, cert: Certificate) -> PckCertificate:
        return cls(cert.x509)

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


def parse_sgx_extension(cert: x509.Certificate) -> SgxExtension:
    """Read the SGX extension; raise ``CertificateFormatError`` if it is absent or malformed."""
    try:
        ext = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(SGX_EXTENSION_OID))
    except x509.ExtensionNotFound as exc:
        raise CertificateFormatError("PCK certificate has no SGX extension") from exc
    except ValueError as exc:
        raise CertificateFormatError(f"PCK certificate extensions are malformed: {exc}") from exc
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise CertificateFormatError("unexpected SGX extension type")
    try:
        return _decode(value.value)
    except (der.DerError, KeyError, ValueError) as exc:
        raise CertificateFormatError(f"malformed SGX extension: {exc}") from exc


def _pairs(seq_value: bytes) -> dict[str, der.Tlv]:
    """Decode a SEQUENCE OF SEQUENCE { OID, value } into {oid: value}."""
    out: dict[str, der.Tlv] = {}
    for item in der.read_all(seq_value):
        if item.tag != der.TAG_SEQUENCE:
            raise der.DerError("SGX extension entry is not a SEQUENCE")
        parts = der.read_all(item.value)
        if len(parts) != 2 or parts[0].tag != der.TAG_OID:
            raise der.DerError("SGX extension entry is not {OID, value}")
        oid = der.decode_oid(parts[0].value)
        if oid in out:
            raise der.DerError(f"duplicate SGX extension entry {oid}")
        out[oid] = parts[1]
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
    tcb_tlv = top[f"{_P}.2"]
    if tcb_tlv.tag != der.TAG_SEQUENCE:
        raise der.DerError("TCB must be a SEQUENCE")
    tcb = _pairs(tcb_tlv.value)
    components = tuple(_int(tcb[f"{_P}.2.{i}"], f"SGX TCB component {i}", maximum=255) for i in range(1, 17))
    tcb_info = PckTcb(
        components=components,
        pce_svn=_int(tcb[f"{_P}.2.17"], "PCESVN"),
        cpu_svn=_octets(tcb[f"{_P}.2.18"], 16, "CPUSVN"),
    )
    sgx_type = SgxType(_int(top[f"{_P}.5"], "SGX type", tag=der.TAG_ENUMERATED, maximum=2))
    instance = top.get(f"{_P}.6")
    config = top.get(f"{_P}.7")
    flags: dict[str, bool] = {}
    if config is not None:
        if config.tag != der.TAG_SEQUENCE:
            raise der.DerError("configuration must be a SEQUENCE")
        for oid, tlv in _pairs(config.value).items():
            if tlv.tag != der.TAG_BOOLEAN:
                raise der.DerError(f"configuration flag {oid} is not a BOOLEAN")
            flags[oid] = der.decode_boolean(tlv.value)
    return SgxExtension(
        ppid=_octets(top[f"{_P}.1"], 16, "PPID"),
        tcb=tcb_info,
        pce_id=_octets(top[f"{_P}.3"], 2, "PCE-ID"),
        fmspc=_octets(top[f"{_P}.4"], 6, "FMSPC"),
        sgx_type=sgx_type,
        platform_instance_id=_octets(instance, 16, "platform instance ID") if instance is not None else None,
        dynamic_platform=flags.get(f"{_P}.7.1"),
        cached_keys=flags.get(f"{_P}.7.2"),
        smt_enabled=flags.get(f"{_P}.7.3"),
    )
