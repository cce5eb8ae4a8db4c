"""What an attest request carries, read strictly: MAA's JSON body (``quote`` or ``report`` in base64url, optional
``runtimeData`` / ``initTimeData`` with ``dataType`` Binary or JSON, ``draftPolicyForAttestation``, ``nonce``), the
Open Enclave report header around an SGX quote, and the TEE the path promises. Every refusal names the field.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from typing import Any

from pydcap.attest.errors import InvalidParameter
from pydcap.errors import QuoteFormatError
from pydcap.quote import Quote, encoding
from pydcap.serving.bodies import RequestBodyError, parse_json

OE_REPORT_HEADER_VERSION = 1
OE_REPORT_TYPE_SGX_LOCAL = 1
OE_REPORT_TYPE_SGX_REMOTE = 2
_OE_HEADER = struct.Struct("<IIQ")
MAX_NONCE = 1024


class AttestationType(enum.StrEnum):
    """MAA's attestation types that carry Intel DCAP evidence (the path segment of ``/attest/...``)."""

    SGX_ENCLAVE = "SgxEnclave"
    OPEN_ENCLAVE = "OpenEnclave"
    TDX_VM = "TdxVm"

    @property
    def tee(self) -> str:
        return "TDX" if self is AttestationType.TDX_VM else "SGX"

    @property
    def evidence_field(self) -> str:
        return "report" if self is AttestationType.OPEN_ENCLAVE else "quote"


@dataclass(frozen=True)
class TimeData:
    """``runtimeData`` or ``initTimeData``: the bytes, and their JSON value when ``dataType`` is JSON."""

    data: bytes
    is_json: bool
    value: Any = None


@dataclass(frozen=True)
class AttestRequest:
    kind: AttestationType
    quote: Quote
    runtime: TimeData | None
    inittime: TimeData | None
    draft_policy: str | None
    nonce: str | None


def decode_base64(text: Any, name: str) -> bytes:
    """base64url (MAA's encoding) or standard base64, padded or not; InvalidParameter names ``name``."""
    if not isinstance(text, str):
        raise InvalidParameter(f"{name} must be a base64url string, not {type(text).__name__}")
    try:
        return encoding.decode_base64(text)
    except ValueError as exc:
        raise InvalidParameter(f"{name} is not base64url: {exc}") from None


def _time_data(value: Any, name: str) -> TimeData | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidParameter(f"{name} must be an object with data and dataType")
    data = decode_base64(value.get("data"), f"{name}.data")
    data_type = value.get("dataType", "Binary")
    if data_type not in ("Binary", "JSON"):
        raise InvalidParameter(f"{name}.dataType must be Binary or JSON, not {data_type!r}")
    if data_type == "Binary":
        return TimeData(data, False)
    return TimeData(data, True, _json(data, f"{name}.data (dataType JSON)"))


def _json(data: bytes, name: str) -> Any:
    try:
        return parse_json(data, name)
    except RequestBodyError as exc:
        raise InvalidParameter(exc.message) from None


def open_enclave_quote(report: bytes) -> bytes:
    """The SGX quote inside an Open Enclave remote report (``oe_report_header_t``: version 1, type SGX remote,
    the report's size, then the report)."""
    if len(report) < _OE_HEADER.size:
        raise InvalidParameter(f"report is {len(report)} bytes, shorter than the Open Enclave report header (16)")
    version, report_type, size = _OE_HEADER.unpack_from(report)
    if version != OE_REPORT_HEADER_VERSION:
        raise InvalidParameter(f"report has Open Enclave header version {version}; version 1 is supported")
    if report_type == OE_REPORT_TYPE_SGX_LOCAL:
        raise InvalidParameter("report is a local SGX report; remote attestation needs a remote report (type 2)")
    if report_type != OE_REPORT_TYPE_SGX_REMOTE:
        raise InvalidParameter(f"report has Open Enclave report type {report_type}, not SGX remote (2)")
    if size != len(report) - _OE_HEADER.size:
        raise InvalidParameter(f"report header says {size} bytes follow, but {len(report) - _OE_HEADER.size} do")
    return report[_OE_HEADER.size :]


def open_enclave_report(quote: bytes) -> bytes:
    """An Open Enclave remote report wrapping ``quote`` (what ``oe_get_report`` returns on SGX with DCAP)."""
    return _OE_HEADER.pack(OE_REPORT_HEADER_VERSION, OE_REPORT_TYPE_SGX_REMOTE, len(quote)) + quote


def read_request(kind: AttestationType, body: bytes) -> AttestRequest:
    """The request ``body`` of ``POST /attest/<kind>``; InvalidParameter names what is wrong."""
    document = _json(body, "the request body")
    if not isinstance(document, dict):
        raise InvalidParameter("the request body must be a JSON object")
    field = kind.evidence_field
    if document.get(field) is None:
        raise InvalidParameter(f"the request has no {field} (the {kind.value} evidence, base64url)")
    raw = decode_base64(document[field], field)
    if kind is AttestationType.OPEN_ENCLAVE:
        raw = open_enclave_quote(raw)
    try:
        quote = Quote.parse(raw)
    except QuoteFormatError as exc:
        raise InvalidParameter(f"{field} is not a quote Intel's verifier can read: {exc}") from None
    if quote.tee != kind.tee:
        raise InvalidParameter(f"{field} is a {quote.tee} quote; /attest/{kind.value} takes {kind.tee} quotes")
    draft = document.get("draftPolicyForAttestation")
    if draft is not None and not isinstance(draft, str):
        raise InvalidParameter("draftPolicyForAttestation must be a string (the policy text)")
    nonce = document.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or len(nonce) > MAX_NONCE):
        raise InvalidParameter(f"nonce must be a string of at most {MAX_NONCE} characters")
    return AttestRequest(
        kind, quote, _time_data(document.get("runtimeData"), "runtimeData"),
        _time_data(document.get("initTimeData"), "initTimeData"), draft, nonce,
    )  # fmt: skip
