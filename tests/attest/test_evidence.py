"""Reading attest requests: base64url and base64, the Open Enclave report header, runtime and init-time data."""

from __future__ import annotations

import base64
import json

import pytest

from pydcap.attest.errors import InvalidParameter
from pydcap.attest.evidence import AttestationType, decode_base64, open_enclave_quote, open_enclave_report, read_request
from pydcap.sim import SimulatedIntel


def test_base64_forms() -> None:
    data = bytes(range(256))
    for text in (
        base64.urlsafe_b64encode(data).decode(),
        base64.urlsafe_b64encode(data).rstrip(b"=").decode(),
        base64.b64encode(data).decode(),
    ):
        assert decode_base64(text, "quote") == data
    for bad, words in (("a", "length"), ("ab$", "characters"), (12, "string")):
        with pytest.raises(InvalidParameter, match=words):
            decode_base64(bad, "quote")


def test_open_enclave_header(intel: SimulatedIntel) -> None:
    quote = intel.sgx_platform().quote(b"")
    report = open_enclave_report(quote)
    assert len(report) == len(quote) + 16 and open_enclave_quote(report) == quote
    for changed, words in (
        (b"\x02\x00\x00\x00" + report[4:], "version 2"),
        (report[:4] + b"\x07\x00\x00\x00" + report[8:], "type 7"),
        (report[:-1], "header says"),
        (report[:10], "shorter than"),
    ):
        with pytest.raises(InvalidParameter, match=words):
            open_enclave_quote(changed)


def test_time_data(intel: SimulatedIntel) -> None:
    quote = base64.b64encode(intel.sgx_platform().quote(b"")).decode()

    def body(**fields: object) -> bytes:
        return json.dumps({"quote": quote, **fields}).encode()

    request = read_request(
        AttestationType.SGX_ENCLAVE, body(runtimeData={"data": "eyJhIjogMX0", "dataType": "JSON"}, nonce="n")
    )
    assert request.runtime is not None and request.runtime.value == {"a": 1} and request.nonce == "n"
    for fields, words in (
        ({"runtimeData": {"data": "AAAA", "dataType": "JSON"}}, "not UTF-8 JSON"),
        ({"runtimeData": {"data": "AAAA", "dataType": "Text"}}, "Binary or JSON"),
        ({"initTimeData": "AAAA"}, "initTimeData must be an object"),
        ({"nonce": 5}, "nonce must be a string"),
        ({"draftPolicyForAttestation": {}}, "draftPolicyForAttestation"),
    ):
        with pytest.raises(InvalidParameter, match=words):
            read_request(AttestationType.SGX_ENCLAVE, body(**fields))
