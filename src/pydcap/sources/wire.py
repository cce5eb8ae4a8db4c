"""Intel's wire conventions: URL-encoded PEM issuer chains in headers, CRLs as DER, PEM or hex, TCBm.

Each reader raises ``MalformedResponseError`` naming the URL and the header or body that is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from pydcap.errors import CertificateFormatError
from pydcap.intel import Tcb, TcbFormatError
from pydcap.intel.protocol import REQUEST_ID, url_decoded
from pydcap.pki.crl import RevocationList
from pydcap.sources.errors import MalformedResponseError
from pydcap.sources.http import display_url
from pydcap.sources.models import Fetched

PEM_BEGIN = b"-----BEGIN CERTIFICATE-----"


def fetched(response: httpx.Response, data: bytes, chain: bytes, meta: Mapping[str, str] | None = None) -> Fetched:
    """The ``Fetched`` of one answer: its decoded body and chain, where it came from, the service's Request-ID."""
    return Fetched(data, chain, str(response.request.url), response.headers.get(REQUEST_ID), dict(meta or {}))


def malformed(what: str, response: httpx.Response, detail: str) -> MalformedResponseError:
    return MalformedResponseError(
        what,
        display_url(response.request.url),
        response.status_code,
        detail,
        "the service does not speak the expected protocol: check the URL and the API version",
        request_id=response.headers.get(REQUEST_ID),
    )


def issuer_chain_pem(value: str, what: str, response: httpx.Response) -> bytes:
    """An issuer chain as services send it (URL-encoded PEM, leaf-most first) decoded to PEM bytes."""
    pem = url_decoded(value)
    if PEM_BEGIN not in pem:
        raise malformed(what, response, "the issuer chain is not PEM certificates")
    return pem


def header_chain(response: httpx.Response, names: Sequence[str], what: str) -> bytes:
    """The issuer chain from the first of ``names`` present (services differ between API versions)."""
    for name in names:
        value = response.headers.get(name)
        if value:
            return issuer_chain_pem(value, what, response)
    raise malformed(what, response, f"the {' or '.join(names)} header is missing")


def crl_body(response: httpx.Response, what: str) -> bytes:
    """The CRL in the body (DER, PEM or hex text, whichever the service chose) as DER."""
    try:
        return RevocationList.parse(response.content).der
    except CertificateFormatError as exc:
        raise malformed(what, response, f"the body is not a CRL: {exc}") from exc


def json_body(response: httpx.Response, what: str) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError) as exc:
        raise malformed(what, response, f"the body is not JSON: {exc}") from exc


def pem_certificate_body(data: bytes, what: str, response: httpx.Response) -> bytes:
    """A PEM certificate as served; only checked to be PEM (verification comes later, in the cache)."""
    if PEM_BEGIN not in data:
        raise malformed(what, response, "the body is not a PEM certificate")
    return data


def signed_document_body(response: httpx.Response, key: str, what: str) -> bytes:
    """A signed JSON document, byte-exact; only checked to be a JSON object holding ``key``."""
    body = json_body(response, what)
    if not isinstance(body, dict) or key not in body or "signature" not in body:
        raise malformed(what, response, f"the body is not a {{{key!r}: ..., 'signature': ...}} document")
    return response.content


def tcbm(value: str, what: str, response: httpx.Response) -> str:
    """``SGX-TCBm``: CPUSVN (16 bytes) then PCESVN (2 bytes, little-endian), as lower-case hex."""
    try:
        return Tcb.from_tcbm(value).tcbm.lower()
    except TcbFormatError as exc:
        raise malformed(what, response, str(exc)) from exc
