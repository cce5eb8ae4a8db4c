"""Intel QCNL's cache item format, byte for byte, so pydcap and Intel's library can share ``.dcap-qcnl/``:
a packed header (version 1, ``sgx_qpl_cache_type_t``, expiry as ``time_t``) then length-prefixed fields
(u32 little-endian): an HTTP response's raw header and body, or the four fields of a local PCK file.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from pydcap.provider.interface import CacheKind

ITEM_VERSION = 1
_HEADER = struct.Struct("<HIq")  # CacheItemHeader, #pragma pack(1): 14 bytes
HEADER_SIZE = _HEADER.size
_SIZE = struct.Struct("<I")


class CorruptCacheItem(ValueError):
    """A cache item that cannot be read; QCNL deletes such an item rather than serve it."""


def cache_key(url: str) -> str:
    """The name of a response's cache item: sha256 of the request URL, lowercase hex."""
    return hashlib.sha256(url.encode()).hexdigest()


@dataclass(frozen=True)
class ItemHeader:
    version: int
    kind: int
    expiry: int

    @classmethod
    def read(cls, value: bytes) -> ItemHeader:
        if len(value) < _HEADER.size:
            raise CorruptCacheItem(f"{len(value)} bytes, shorter than the {_HEADER.size}-byte item header")
        return cls(*_HEADER.unpack_from(value))

    def expired(self, now: float) -> bool:
        return now >= self.expiry


def encode_item(kind: CacheKind, expiry: int, *fields: bytes) -> bytes:
    """An item as QCNL writes one: the header, then each field as its u32 size and its bytes."""
    parts = [_HEADER.pack(ITEM_VERSION, int(kind), expiry)]
    for f in fields:
        parts += [_SIZE.pack(len(f)), f]
    return b"".join(parts)


def read_fields(value: bytes, count: int) -> list[bytes]:
    """``count`` length-prefixed fields after the header, read as QCNL reads a local PCK file (each field
    needs more than its four size bytes left; anything after the last field is ignored)."""
    fields, pos = [], _HEADER.size
    for index in range(count):
        if pos >= len(value) - _SIZE.size:
            raise CorruptCacheItem(f"field {index + 1} of {count} is missing")
        (size,) = _SIZE.unpack_from(value, pos)
        pos += _SIZE.size
        if pos > len(value) - size:
            raise CorruptCacheItem(f"field {index + 1} claims {size} bytes, {len(value) - pos} remain")
        fields.append(value[pos : pos + size])
        pos += size
    return fields


@dataclass(frozen=True)
class CachedResponse:
    """A cached HTTP response: the raw header block (``Name: value`` lines) and the body."""

    kind: CacheKind
    expiry: int
    raw_header: bytes
    body: bytes

    @classmethod
    def create(cls, kind: CacheKind, expiry: int, headers: Mapping[str, str], body: bytes) -> CachedResponse:
        lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        return cls(kind, expiry, f"HTTP/1.1 200 OK\r\n{lines}\r\n".encode("latin-1"), body)

    @classmethod
    def decode(cls, value: bytes) -> CachedResponse:
        """Read an item strictly, as QCNL does: version 1, and the body exactly fills the rest."""
        header = ItemHeader.read(value)
        if header.version != ITEM_VERSION:
            raise CorruptCacheItem(f"cache item version {header.version}, not {ITEM_VERSION}")
        pos = _HEADER.size
        if len(value) < pos + 2 * _SIZE.size:
            raise CorruptCacheItem("no room for the header and body sizes")
        (header_size,) = _SIZE.unpack_from(value, pos)
        if header_size > len(value) - pos - 2 * _SIZE.size:
            raise CorruptCacheItem(f"the header claims {header_size} bytes, more than the item holds")
        pos += _SIZE.size
        raw_header = value[pos : pos + header_size]
        pos += header_size
        (body_size,) = _SIZE.unpack_from(value, pos)
        pos += _SIZE.size
        if body_size != len(value) - pos:
            raise CorruptCacheItem(f"the body claims {body_size} bytes, {len(value) - pos} remain")
        return cls(CacheKind(header.kind & CacheKind.ALL), header.expiry, raw_header, value[pos:])

    def encode(self) -> bytes:
        return encode_item(self.kind, self.expiry, self.raw_header, self.body)

    def headers(self) -> dict[str, str]:
        """Header lines split at the first ``": "``, names lowercased, the first of a repeated name kept."""
        found: dict[str, str] = {}
        for line in self.raw_header.decode("latin-1").replace("\r", "\n").split("\n"):
            name, sep, value = line.partition(": ")
            if sep:
                found.setdefault(name.lower(), value)
        return found
