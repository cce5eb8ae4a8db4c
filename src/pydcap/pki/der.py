"""A minimal, strict DER reader for the few structures ``cryptography`` leaves opaque (the SGX extension), and for
the layouts read without it (``intel_layout``, ``crl``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from pydcap.lazy import remember

TAG_BOOLEAN = 0x01
TAG_INTEGER = 0x02
TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_ENUMERATED = 0x0A
TAG_SEQUENCE = 0x30

# Fixed parts of Intel's certificates and CRLs, as DER, for the layouts read by comparing bytes.
ECDSA_SHA256 = bytes.fromhex("300a06082a8648ce3d040302")  # AlgorithmIdentifier { ecdsa-with-SHA256 }
UTC_TIME = bytes.fromhex("170d")  # a UTCTime's header: 13 characters
AKI_KEY_ID = bytes.fromhex("301f0603551d23041830168014")  # authority key identifier extension, then its 20-byte key ID


class DerError(ValueError):
    """Malformed DER."""


class Tlv(NamedTuple):
    tag: int
    value: bytes


def read_all(data: bytes) -> list[Tlv]:
    """Split ``data`` into consecutive TLVs; it must be consumed exactly."""
    return read_prefix(data, len(data))  # every TLV takes at least two bytes: this reads them all


def read_one(data: bytes, tag: int) -> Tlv:
    items = read_all(data)
    if len(items) != 1 or items[0].tag != tag:
        raise DerError(f"expected a single element with tag 0x{tag:02x}")
    return items[0]


def decode_oid(value: bytes) -> str:
    if not value or value[-1] & 0x80:
        raise DerError("empty or truncated OID")
    subids: list[int] = []
    acc = 0
    for byte in value:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            subids.append(acc)
            acc = 0
    first = min(subids[0] // 40, 2)
    return ".".join(str(p) for p in (first, subids[0] - 40 * first, *subids[1:]))


def decode_integer(value: bytes) -> int:
    if not value:
        raise DerError("empty INTEGER")
    return int.from_bytes(value, "big", signed=True)


def unsigned_integer(value: bytes) -> bool:
    """Whether ``value``, an INTEGER's content, is a non-negative integer in DER's shortest form."""
    return bool(value) and not value[0] & 0x80 and not (len(value) > 1 and value[0] == 0 and value[1] < 0x80)


def decode_boolean(value: bytes) -> bool:
    if len(value) != 1:
        raise DerError("BOOLEAN must be one byte")
    return value != b"\x00"


def header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """The tag of the TLV at ``pos`` and where its content starts and ends, within ``data[:end]``: a one-byte tag, a
    length in short form or in up to four bytes. Every reader here reads headers by these rules."""
    if pos + 2 > end:
        raise DerError("truncated TLV header")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not supported")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if size == 0 or size > 4 or pos + size > end:
            raise DerError("bad length encoding")
        length = int.from_bytes(data[pos : pos + size], "big")
        pos += size
    if pos + length > end:
        raise DerError("value runs past the end")
    return tag, pos, pos + length


def read_prefix(data: bytes, count: int) -> list[Tlv]:
    """The first ``count`` TLVs of ``data`` (the rest is not decoded)."""
    items: list[Tlv] = []
    pos, n = 0, len(data)
    while pos < n and count:
        tag, start, end = header(data, pos, n)
        items.append(_new_tlv(Tlv, (tag, data[start:end])))  # Tlv(tag, value), without namedtuple's __new__
        pos = end
        count -= 1
    return items


_new_tlv = tuple.__new__


def elements_by_oid(seq: bytes) -> dict[bytes, bytes]:
    """The content (OID included) of each element of the DER ``SEQUENCE OF SEQUENCE { OID, ... }`` ``seq`` (a
    certificate's extensions) by its OID's encoded bytes, in order; of duplicates, the first. Only the OID is decoded,
    so that finding which elements are present stays cheap."""
    n = len(seq)
    start, end = _content(seq, 0, TAG_SEQUENCE)
    if end != n:
        raise DerError("bytes after the SEQUENCE")
    out: dict[bytes, bytes] = {}
    pos = start
    while pos < end:  # each element's header read here (``_content``'s rules): a certificate has several
        if pos + 2 > end or seq[pos] != TAG_SEQUENCE:
            raise DerError(f"expected tag 0x{TAG_SEQUENCE:02x} at offset {pos}")
        first, length = pos + 2, seq[pos + 1]
        if length & 0x80:
            size = length & 0x7F
            if size == 0 or size > 4 or first + size > end:
                raise DerError("bad length encoding")
            length = int.from_bytes(seq[first : first + size], "big")
            first += size
        last = first + length
        if last > end:
            raise DerError("value runs past the end")
        size = seq[first + 1] if first + 2 <= last else 0x80  # an OID's length is short-form
        if size & 0x80 or seq[first] != TAG_OID or first + 2 + size > last:
            raise DerError(f"element at offset {pos} does not start with an OID")
        out.setdefault(seq[first + 2 : first + 2 + size], seq[first:last])
        pos = last
    return out


def content(data: bytes, tag: int) -> bytes:
    """The content of ``data``, which must be exactly one TLV with tag ``tag``."""
    start, end = _content(data, 0, tag)
    if end != len(data):
        raise DerError(f"expected a single element with tag 0x{tag:02x}")
    return data[start:end]


def signed_part(data: bytes) -> bytes:
    """The whole encoding (header included) of the first element of the DER SEQUENCE ``data``: for a certificate
    or a CRL, the exact "to be signed" bytes its signature covers."""
    start, end = _content(data, 0, TAG_SEQUENCE)
    if end != len(data):
        raise DerError("bytes after the SEQUENCE")
    return data[start : _content(data, start, TAG_SEQUENCE)[1]]


def _content(data: bytes, pos: int, tag: int) -> tuple[int, int]:
    """Where the content of the TLV at ``pos`` starts and ends; it must have tag ``tag`` and fit in ``data``."""
    if pos + 2 > len(data) or data[pos] != tag:
        raise DerError(f"expected tag 0x{tag:02x} at offset {pos}")
    _, start, end = header(data, pos, len(data))
    return start, end


_CN_OID = bytes.fromhex("550403")


def name_common_name(name_value: bytes) -> str:
    """The first commonName in the content of a DER ``Name`` (SEQUENCE OF SET OF {OID, value})."""
    for rdn in read_all(name_value):
        for attr in read_all(rdn.value):
            parts = read_all(attr.value)
            if len(parts) == 2 and parts[0].tag == TAG_OID and parts[0].value == _CN_OID:
                return parts[1].value.decode("utf-8", "replace")
    return ""


def encode_oid(dotted: str) -> bytes:
    """The DER content octets of an OBJECT IDENTIFIER (used to match OIDs without decoding them)."""
    arcs = [int(a) for a in dotted.split(".")]
    out = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


_UTC_TIMES: dict[bytes, int] = {}  # UTCTime values read, by their 13 characters


def utc_time(raw: bytes) -> int | None:
    """A UTCTime's 13 characters (YYMMDDHHMMSSZ, years 1950-2049) as unix seconds, as ``cryptography`` reads them;
    None when not a valid time. Remembered: certificates and CRLs of one issuer share a handful of times."""
    found = _UTC_TIMES.get(raw)
    if found is None:
        if len(raw) != 13 or raw[12] != 0x5A or not raw[:12].isdigit():
            return None
        year = int(raw[:2])
        try:
            moment = datetime(
                year + (1900 if year >= 50 else 2000),
                int(raw[2:4]),
                int(raw[4:6]),
                int(raw[6:8]),
                int(raw[8:10]),
                int(raw[10:12]),
                tzinfo=UTC,
            )
        except ValueError:
            return None
        found = remember(_UTC_TIMES, raw, int(moment.timestamp()), 4096)
    return found
