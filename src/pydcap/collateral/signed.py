"""Intel-signed JSON documents: ``{"tcbInfo": <body>, "signature": "<hex>"}`` with the body kept byte-exact.

Intel signs the body as served (compact JSON). Re-serialising it would break the signature, so the exact
bytes of the body are cut out of the document rather than re-encoded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydcap.collateral.jsonread import NOT_READ, compact_object, object_members, read, written_as
from pydcap.errors import CollateralFormatError
from pydcap.lazy import computed_once

_DECODER = json.JSONDecoder()
_WS = " \t\r\n"
_WS_BYTES = _WS.encode()
_FLOAT_FREE = "_float_free"  # set in a document's __dict__: its parsed body was read by object_members (no float)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _member(text: str, pos: int, part: str, spans: dict[str, tuple[int, int]], values: dict[str, Any]) -> int:
    """Read the member at ``pos`` (name, colon, value) into ``spans`` (and its value, decoded, into ``values``);
    where reading goes on."""
    if pos >= len(text) or text[pos] != '"':
        raise CollateralFormatError(part, f"expected a member name at character {pos}")
    try:
        key, pos = _DECODER.raw_decode(text, pos)
        pos = _skip_ws(text, pos)
        if pos >= len(text) or text[pos] != ":":
            raise CollateralFormatError(part, f"expected ':' at character {pos}")
        start = _skip_ws(text, pos + 1)
        value, end = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as exc:
        raise CollateralFormatError(part, f"invalid JSON: {exc.msg} at character {exc.pos}") from exc
    except RecursionError as exc:
        raise CollateralFormatError(part, "JSON nested too deeply") from exc
    if key in spans:
        raise CollateralFormatError(part, f"duplicate member {key!r}")
    spans[key] = (start, end)
    values[key] = value
    return _skip_ws(text, end)


def top_level_spans(text: str, part: str, values: dict[str, Any] | None = None) -> dict[str, tuple[int, int]]:
    """Character spans of each top-level member value of a JSON object (duplicate keys are refused); with
    ``values``, each member's value decoded into it (the object itself, as ``json.loads`` reads it)."""
    spans: dict[str, tuple[int, int]] = {}
    values = {} if values is None else values
    pos = _skip_ws(text, 0)
    if pos >= len(text) or text[pos] != "{":
        raise CollateralFormatError(part, "document is not a JSON object")
    pos = _skip_ws(text, pos + 1)
    if pos >= len(text) or text[pos] != "}":  # not the empty object: members, then "}"
        while True:
            pos = _member(text, pos, part, spans, values)
            if pos < len(text) and text[pos] == ",":
                pos = _skip_ws(text, pos + 1)
                continue
            if pos >= len(text) or text[pos] != "}":
                raise CollateralFormatError(part, f"expected ',' or '}}' at character {pos}")
            break
    if _skip_ws(text, pos + 1) != len(text):
        raise CollateralFormatError(part, "trailing data after the JSON object")
    return spans


@dataclass(frozen=True)
class SignedDocument:
    """A signed JSON body (exact bytes) and its raw 64-byte ECDSA signature (r || s)."""

    body_key: str
    body: bytes
    signature: bytes

    @classmethod
    def parse(cls, data: bytes | str, body_key: str, part: str) -> SignedDocument:
        """Cut ``body_key``'s value and ``signature`` out of a served document."""
        text = _text(data, part)
        members = object_members(text.encode("utf-8").strip(_WS_BYTES))
        if members is not None and body_key in members and "signature" in members:
            body, parsed = members[body_key]
            _require_unicode(body, parsed, part)
            document = cls(body_key, body, _signature(members["signature"][1], part))
            document.__dict__["parsed_body"] = parsed  # what json.loads(body) gives: read once, not twice
            document.__dict__[_FLOAT_FREE] = True
            return document
        values: dict[str, Any] = {}
        spans = top_level_spans(text, part, values)
        if body_key not in spans:
            raise CollateralFormatError(part, f"missing member {body_key!r}")
        if "signature" not in spans:
            raise CollateralFormatError(part, "missing member 'signature'")
        start, end = spans[body_key]
        body = text[start:end].encode("utf-8")
        _require_unicode(body, values[body_key], part)
        document = cls(body_key, body, _signature(values["signature"], part))
        document.__dict__["parsed_body"] = values[body_key]  # what json.loads(body) gives: read once, not twice
        return document

    @classmethod
    def from_parts(cls, body: bytes | str, signature_hex: str, body_key: str, part: str) -> SignedDocument:
        """Build from a separately stored body and hex signature (dcap-qvl's serialisation). The body must be a
        JSON object, as in a served document (whitespace around it is dropped), so that ``to_bytes`` gives a
        document ``parse`` reads back to the same body."""
        text = _text(body, part).strip(_WS)
        encoded = text.encode("utf-8")
        values = compact_object(encoded)
        compact = values is not None
        if values is None:
            values = {}
            top_level_spans(text, part, values)
        _require_unicode(encoded, values, part)
        document = cls(body_key, encoded, _signature(signature_hex, part))
        document.__dict__["parsed_body"] = values  # what json.loads(body) gives (no member twice): read once
        if compact:  # the body is what re-serialising its values writes: known now, not computed again
            document.__dict__["compact_body"] = encoded
        return document

    def to_bytes(self) -> bytes:
        """The document as Intel serves it."""
        return b'{"%s":%s,"signature":"%s"}' % (
            self.body_key.encode(),
            self.body,
            self.signature.hex().encode(),
        )

    @computed_once
    def parsed_body(self) -> Any:
        """The body as JSON values (raises ``ValueError`` if it is not JSON)."""
        value = read(self.body)
        return json.loads(self.body) if value is NOT_READ else value

    @computed_once
    def compact_body(self) -> bytes:
        """The body re-serialised compactly in document order, as Intel's library re-serialises it before
        checking the signature. That is ``body`` itself for anything Intel serves."""
        if (self.__dict__.get(_FLOAT_FREE) and written_as(self.parsed_body, self.body)) or _already_compact(self.body):
            return self.body
        return json.dumps(self.parsed_body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_LITERALS = (b"true", b"false", b"null")
_STRUCTURE_AND_INTEGERS = b"{}[],:-0123456789"


def _already_compact(body: bytes) -> bool:
    """Whether re-serialising ``body`` would give it back unchanged, found at a fraction of the cost of
    re-serialising: no escapes anywhere, and between the strings nothing but structure, integers (not -0)
    and literals (no whitespace, fractions or exponents)."""
    if b"\\" in body:
        return False
    between_strings = b"".join(body.split(b'"')[::2])
    for literal in _LITERALS:
        between_strings = between_strings.replace(literal, b"")
    return b"-0" not in between_strings and not between_strings.translate(None, _STRUCTURE_AND_INTEGERS)


def _text(data: bytes | str, part: str) -> str:
    if isinstance(data, str):
        if data.isascii():  # known without a look at the characters
            return data
        try:
            data.encode("utf-8")  # a lone surrogate (JSON's "\ud800") has no UTF-8: the document cannot be signed text
        except UnicodeEncodeError as exc:
            raise CollateralFormatError(part, f"not UTF-8 text: {exc.reason} at character {exc.start}") from exc
        return data
    try:
        return bytes(data).decode("utf-8").rstrip("\x00")
    except UnicodeDecodeError as exc:
        raise CollateralFormatError(part, f"not UTF-8 text: {exc}") from exc


def _require_unicode(body: bytes, parsed: Any, part: str) -> None:
    """Refuse a body whose strings hold a lone surrogate escape (``"\\ud800"``): no Unicode text, so no UTF-8 to
    re-serialise and check the signature over; Intel's JSON parser refuses it as well. Only a body with an escape
    is looked at."""
    if b"\\u" not in body:
        return
    try:
        json.dumps(parsed, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CollateralFormatError(part, f"not Unicode text: a lone surrogate escape ({exc.reason})") from exc


def _signature(value: object, part: str) -> bytes:
    if not isinstance(value, str) or len(value) != 128:
        raise CollateralFormatError(part, "signature must be 128 hex characters")
    try:
        return bytes.fromhex(value)
    except ValueError as exc:
        raise CollateralFormatError(part, "signature is not hex") from exc
