"""Whatever arrives, the service answers MAA's error object (400, 404, 405, 413) or a token: never a 500, never a
traceback; checked on the ASGI application directly with generated bodies, paths and headers."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pydcap.attest import AttestServer
from pydcap.sim import SimulatedIntel

QUOTE_FIELDS = st.one_of(
    st.text(max_size=40), st.binary(max_size=64).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.integers(), st.none(), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)  # fmt: skip


def call(
    server: AttestServer, method: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, Any]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": method, "path": path, "query_string": b"api-version=2022-08-01",
        "headers": [(b"content-length", str(len(body)).encode()), *headers],
    }  # fmt: skip
    asyncio.run(server.app(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"]) if sent[1]["body"][:1] == b"{" else sent[1]["body"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["SgxEnclave", "OpenEnclave", "TdxVm"]),
    document=st.dictionaries(
        st.sampled_from(["quote", "report", "runtimeData", "initTimeData", "nonce", "draftPolicyForAttestation"]),
        QUOTE_FIELDS, max_size=4,
    ),
    raw=st.one_of(st.none(), st.binary(max_size=200)),
)  # fmt: skip
def test_attest_bodies_never_fail_the_service(
    server: AttestServer, kind: str, document: dict[str, Any], raw: bytes | None
) -> None:
    body = raw if raw is not None else json.dumps(document).encode()
    status, answer = call(server, "POST", f"/attest/{kind}", body, [])
    assert status in (200, 400), answer
    if status == 400:
        assert answer["error"]["code"] in ("InvalidParameter", "PolicyParsingError") and answer["error"]["message"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "PUT", "POST", "DELETE", "PATCH"]),
    path=st.one_of(st.text(max_size=30).map(lambda t: "/" + t), st.sampled_from(["/policies/SgxEnclave", "/policies/TdxVm:reset", "/tenants/acme/certs", "/tenants/x/attest/SgxEnclave"])),
    body=st.binary(max_size=100),
    authorization=st.one_of(st.none(), st.binary(max_size=40)),
)  # fmt: skip
def test_any_request_gets_an_answer(
    server: AttestServer, method: str, path: str, body: bytes, authorization: bytes | None
) -> None:
    headers = [(b"authorization", authorization)] if authorization is not None else []
    status, answer = call(server, method, path, body, headers)
    assert status < 500, answer


def test_mutated_quotes(server: AttestServer, intel: SimulatedIntel) -> None:
    quote = bytearray(intel.sgx_platform().quote(b""))
    for position in range(0, len(quote), 97):
        mutated = bytes(quote[:position]) + bytes([quote[position] ^ 0x5A]) + bytes(quote[position + 1 :])
        body = json.dumps({"quote": base64.urlsafe_b64encode(mutated).decode()}).encode()
        status, answer = call(server, "POST", "/attest/SgxEnclave", body, [])
        assert status in (200, 400), answer
