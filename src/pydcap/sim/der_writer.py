"""A minimal DER writer for the one structure ``cryptography`` cannot build: Intel's SGX extension.

Intel encodes the extension (OID 1.2.840.113741.1.13.1) as a SEQUENCE of ``{OID, value}`` pairs; the TCB and
the configuration flags are nested SEQUENCEs of the same shape. ``pydcap.pki.der`` reads what this writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydcap.pki.der import TAG_BOOLEAN, TAG_ENUMERATED, TAG_INTEGER, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE
from pydcap.pki.pck import SGX_EXTENSION_OID


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _length(len(value)) + value


def sequence(items: Iterable[bytes]) -> bytes:
    return tlv(TAG_SEQUENCE, b"".join(items))


def octet_string(value: bytes) -> bytes:
    return tlv(TAG_OCTET_STRING, value)


def boolean(value: bool) -> bytes:
    return tlv(TAG_BOOLEAN, b"\xff" if value else b"\x00")


def _signed_minimal(value: int) -> bytes:
    """The shortest two's-complement big-endian encoding, as DER requires."""
    length = max(1, (value.bit_length() + 8) // 8)
    return value.to_bytes(length, "big", signed=True)


def integer(value: int) -> bytes:
    return tlv(TAG_INTEGER, _signed_minimal(value))


def enumerated(value: int) -> bytes:
    return tlv(TAG_ENUMERATED, _signed_minimal(value))


def _base128(value: int) -> bytes:
    """An OID arc in base 128, most significant group first, continuation bit on all but the last."""
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(groups))


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    if len(parts) < 2 or parts[0] > 2 or (parts[0] < 2 and parts[1] >= 40):
        raise ValueError(f"not a valid OID: {dotted}")
    body = bytearray()
    for arc in [40 * parts[0] + parts[1], *parts[2:]]:
        body.extend(_base128(arc))
    return tlv(TAG_OID, bytes(body))


def pair(dotted: str, value: bytes) -> bytes:
    """``SEQUENCE { OID, value }``, the building block of the SGX extension."""
    return sequence([oid(dotted), value])


@dataclass(frozen=True, slots=True)
class SgxExtensionFields:
    """The values a PCK certificate's SGX extension carries. Platform-CA certificates add the last four."""

    ppid: bytes
    components: tuple[int, ...]
    pce_svn: int
    cpu_svn: bytes
    pce_id: bytes
    fmspc: bytes
    sgx_type: int
    platform_instance_id: bytes | None = None
    dynamic_platform: bool | None = None
    cached_keys: bool | None = None
    smt_enabled: bool | None = None


def sgx_extension(fields: SgxExtensionFields) -> bytes:
    """The DER value of the SGX extension, laid out exactly as in Intel's PCK certificates."""
    if len(fields.ppid) != 16 or len(fields.cpu_svn) != 16 or len(fields.components) != 16:
        raise ValueError("PPID, CPUSVN and the TCB components must be 16 bytes / 16 values")
    if len(fields.pce_id) != 2 or len(fields.fmspc) != 6:
        raise ValueError("PCE-ID must be 2 bytes and FMSPC 6 bytes")
    p = SGX_EXTENSION_OID
    tcb = [pair(f"{p}.2.{i}", integer(svn)) for i, svn in enumerate(fields.components, start=1)]
    tcb.append(pair(f"{p}.2.17", integer(fields.pce_svn)))
    tcb.append(pair(f"{p}.2.18", octet_string(fields.cpu_svn)))
    items = [
        pair(f"{p}.1", octet_string(fields.ppid)),
        pair(f"{p}.2", sequence(tcb)),
        pair(f"{p}.3", octet_string(fields.pce_id)),
        pair(f"{p}.4", octet_string(fields.fmspc)),
        pair(f"{p}.5", enumerated(fields.sgx_type)),
    ]
    if fields.platform_instance_id is not None:
        items.append(pair(f"{p}.6", octet_string(fields.platform_instance_id)))
        flags = [
            pair(f"{p}.7.{i}", boolean(bool(value)))
            for i, value in enumerate((fields.dynamic_platform, fields.cached_keys, fields.smt_enabled), start=1)
            if value is not None
        ]
        items.append(pair(f"{p}.7", sequence(flags)))
    return sequence(items)
