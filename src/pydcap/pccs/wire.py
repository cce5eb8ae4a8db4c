"""What Intel's PCCS puts on the wire, encoded once per cached document: hex or DER CRLs, JSON as signed,
URL-encoded PEM issuer chains, each API version's header names, and the ``text/plain`` bodies of errors (Intel's
PCCS sends its sentences as ``text/html``; plain text cannot run in a browser, whatever a client put in a request)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pydcap.pccs.errors import PccsError

JSON = "application/json; charset=utf-8"
PEM_TEXT = "application/x-pem-file; charset=utf-8"
CRL_DER = "application/pkix-crl"
CRL_HEX = "application/pkix-crl; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"

STALE_WARNING = '110 - "Response is Stale"'
V3_WARNING = '299 - "PCS API v3 is deprecated by Intel; use /sgx/certification/v4/"'


def new_request_id() -> bytes:
    return os.urandom(16).hex().encode()


@dataclass(frozen=True, slots=True)
class Reply:
    """A complete answer but for ``Request-ID``: status, headers (name, value) and body, all as bytes."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def with_headers(self, extra: Mapping[str, str]) -> Reply:
        added = tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in extra.items())
        return Reply(self.status, self.headers + added, self.body)


def reply(status: int, body: bytes | str, content_type: str, headers: Mapping[str, str] | None = None) -> Reply:
    data = body.encode() if isinstance(body, str) else body
    encoded: list[tuple[bytes, bytes]] = [
        (k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
    ]
    encoded.append((b"Content-Type", content_type.encode()))
    encoded.append((b"Content-Length", str(len(data)).encode()))
    return Reply(status, tuple(encoded), data)


def error_reply(error: PccsError) -> Reply:
    return reply(error.status, error.message, TEXT, error.headers)


def text_reply(status: int, text: str) -> Reply:
    return reply(status, text, TEXT)
