"""The service's HTTP API without an SDK: TDX, EAR, nonces, drafts, tenants, rotation, metrics, and every kind of
bad input answered with MAA's error object, nothing stored, the service still serving."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import httpx
import jwt
import pytest

from pydcap.attest import AttestServer, TokenError, TokenVerifier, open_enclave_report, verify_token
from pydcap.sim import QuoteDefect, SimulatedIntel
from tests.support.attest import ADMIN_TOKEN, API, client, sgx_quote

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def attest(server: AttestServer, path: str, body: dict[str, object], **params: str) -> httpx.Response:
    with client(server) as http:
        return http.post(path, params={**API, **params}, json=body)


def ca(server: AttestServer) -> str:
    assert server.tls is not None
    return str(server.tls.cert)


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    body = response.json()["error"]
    assert body["code"] == code
    return str(body["message"])


def test_tdx_vm(server: AttestServer, intel: SimulatedIntel) -> None:
    runtime = b"td runtime data"
    mr_td = bytes(range(48))
    quote = intel.tdx_platform().quote(hashlib.sha256(runtime).digest(), mr_td=mr_td)
    response = attest(
        server,
        "/attest/TdxVm",
        {"quote": b64url(quote), "runtimeData": {"data": b64url(runtime), "dataType": "Binary"}},
    )
    assert response.status_code == 200, response.text
    claims = verify_token(response.json()["token"], server.issuer, ca_cert=ca(server))
    assert claims["x-ms-attestation-type"] == "tdxvm"
    assert claims["tdx_mrtd"] == mr_td.hex()
    assert claims["attester_tcb_status"] == claims["x-pydcap-tcb-status"] == "UpToDate"
    assert claims["tdx_td_attributes_debug"] is False and claims["dbgstat"] == "disabled-since-boot"
    assert claims["x-pydcap-fmspc"] and claims["x-pydcap-qv-result"] == "OK"
    assert claims["x-pydcap-runtime-data"] == b64url(runtime)


def test_nonce_and_python_verifier(server: AttestServer, intel: SimulatedIntel) -> None:
    response = attest(server, "/attest/SgxEnclave", {"quote": b64url(sgx_quote(intel)), "nonce": "n-123"})
    token = response.json()["token"]
    with TokenVerifier(server.issuer, ca_cert=ca(server)) as verifier:
        assert verifier.verify(token, nonce="n-123")["nonce"] == "n-123"
        with pytest.raises(TokenError, match="nonce"):
            verifier.verify(token, nonce="another")
        header, _, signature = token.split(".")
        with pytest.raises(TokenError):
            verifier.verify(f"{header}.{b64url(json.dumps({'iss': server.issuer}).encode())}.{signature}")
    with pytest.raises(TokenError, match="not among"):  # another tenant's keys do not sign this token
        verify_token(token, server.issuer + "/tenants/acme", ca_cert=ca(server))


def test_ear(server: AttestServer, intel: SimulatedIntel) -> None:
    response = attest(
        server, "/attest/SgxEnclave", {"quote": b64url(sgx_quote(intel)), "nonce": "ear-nonce"}, format="ear"
    )
    claims = verify_token(response.json()["token"], server.issuer, ca_cert=ca(server))
    assert claims["eat_profile"] == "tag:github.com,2023:veraison/ear"
    assert claims["eat_nonce"] == "ear-nonce"
    [appraisal] = claims["submods"].values()
    assert appraisal["ear.status"] == "affirming" and appraisal["x-pydcap-quote3-error"] == "SGX_QL_SUCCESS"
    assert appraisal["ear.trustworthiness-vector"]["hardware"] == 2
    # A draft policy the evidence fails: the EAR still comes, contraindicated.
    refused = attest(
        server, "/attest/SgxEnclave",
        {"quote": b64url(sgx_quote(intel)), "draftPolicyForAttestation": '{"product_id": 99}'}, format="ear",
    )  # fmt: skip
    draft_token = refused.json()["token"]
    assert jwt.get_unverified_header(draft_token)["alg"] == "none"  # a draft policy's token is never signed
    [appraisal] = jwt.decode(draft_token, options={"verify_signature": False})["submods"].values()
    assert appraisal["ear.status"] == "contraindicated"


def test_draft_policy_gives_an_unsecured_token(server: AttestServer, intel: SimulatedIntel) -> None:
    response = attest(
        server, "/attest/SgxEnclave", {"quote": b64url(sgx_quote(intel)), "draftPolicyForAttestation": "{}"}
    )
    token = response.json()["token"]
    assert jwt.get_unverified_header(token)["alg"] == "none"
    with pytest.raises(TokenError):
        verify_token(token, server.issuer, ca_cert=ca(server))


def test_tenants_have_their_own_issuer_and_keys(server: AttestServer, intel: SimulatedIntel) -> None:
    response = attest(server, "/tenants/acme/attest/SgxEnclave", {"quote": b64url(sgx_quote(intel))})
    acme = f"{server.issuer}/tenants/acme"
    claims = verify_token(response.json()["token"], acme, ca_cert=ca(server))
    assert claims["iss"] == acme
    with client(server) as http:
        root_kids = {k["kid"] for k in http.get("/certs").json()["keys"]}
        acme_kids = {k["kid"] for k in http.get("/tenants/acme/certs").json()["keys"]}
        assert root_kids.isdisjoint(acme_kids)
        error(http.post("/tenants/nobody/attest/SgxEnclave", params=API, json={}), 404, "NotFound")


def test_rotation_keeps_old_tokens_valid(server: AttestServer, intel: SimulatedIntel) -> None:
    before = attest(server, "/tenants/acme/attest/SgxEnclave", {"quote": b64url(sgx_quote(intel))}).json()["token"]
    new = server.app.service.rotate("acme")
    after = attest(server, "/tenants/acme/attest/SgxEnclave", {"quote": b64url(sgx_quote(intel))}).json()["token"]
    assert jwt.get_unverified_header(after)["kid"] == new.kid != jwt.get_unverified_header(before)["kid"]
    with TokenVerifier(f"{server.issuer}/tenants/acme", ca_cert=ca(server)) as verifier:
        verifier.verify(before)
        verifier.verify(after)


def test_metrics_and_health(server: AttestServer, intel: SimulatedIntel) -> None:
    attest(server, "/attest/SgxEnclave", {"quote": b64url(sgx_quote(intel))})
    with client(server) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        text = http.get("/metrics").text
    assert 'pydcap_attest_requests_total{endpoint="attest/SgxEnclave",status="200"}' in text


@pytest.mark.parametrize(
    ("path", "params", "body", "status", "code", "words"),
    [
        ("/attest/SgxEnclave", API, b"{not json", 400, "InvalidParameter", "not JSON"),
        ("/attest/SgxEnclave", API, b'{"quote": "***"}', 400, "InvalidParameter", "quote is not base64url"),
        ("/attest/SgxEnclave", API, b'{"quote": "AAAA"}', 400, "InvalidParameter", "quote is not a quote"),
        ("/attest/SgxEnclave", API, b"{}", 400, "InvalidParameter", "no quote"),
        ("/attest/OpenEnclave", API, b'{"report": "AAAA"}', 400, "InvalidParameter", "Open Enclave report header"),
        (
            "/attest/SgxEnclave",
            {"api-version": "2099-01-01"},
            b"{}",
            400,
            "InvalidParameter",
            "api-version '2099-01-01'",
        ),
        ("/attest/SgxEnclave", {}, b"{}", 400, "InvalidParameter", "api-version query parameter is missing"),
        ("/attest/SevSnpVm", API, b"{}", 404, "NotFound", "SevSnpVm"),
        ("/nowhere", API, b"{}", 404, "NotFound", "/nowhere"),
        ("/attest/SgxEnclave", API, b"x" * (1024 * 1024 + 1), 413, "PayloadTooLarge", "at most"),
    ],
)
def test_bad_requests(
    server: AttestServer, path: str, params: dict[str, str], body: bytes, status: int, code: str, words: str
) -> None:
    with client(server) as http:
        message = error(http.post(path, params=params, content=body), status, code)
        assert words in message
        assert http.get("/healthz").status_code == 200


def test_bad_evidence(server: AttestServer, intel: SimulatedIntel) -> None:
    tdx = intel.tdx_platform().quote(b"")
    message = error(attest(server, "/attest/SgxEnclave", {"quote": b64url(tdx)}), 400, "InvalidParameter")
    assert "TDX quote" in message and "/attest/SgxEnclave takes SGX" in message
    quote = sgx_quote(intel, b"bound data")
    message = error(
        attest(
            server,
            "/attest/SgxEnclave",
            {"quote": b64url(quote), "runtimeData": {"data": b64url(b"other"), "dataType": "Binary"}},
        ),
        400,
        "InvalidParameter",
    )
    assert "runtimeData does not match the quote" in message
    bad = intel.sgx_platform(name="forger", quote_defects=[QuoteDefect.QUOTE_SIGNED_BY_WRONG_KEY]).quote(b"")
    message = error(attest(server, "/attest/SgxEnclave", {"quote": b64url(bad)}), 400, "InvalidParameter")
    assert "INVALID_QUOTE_SIGNATURE" in message and "SGX_QL_" in message and "qv_result UNSPECIFIED" in message
    ear = attest(server, "/attest/SgxEnclave", {"quote": b64url(bad)}, format="ear")  # the EAR says so, signed
    [appraisal] = verify_token(ear.json()["token"], server.issuer, ca_cert=ca(server))["submods"].values()
    assert appraisal["ear.status"] == "contraindicated" and appraisal["x-pydcap-qv-result"] == "UNSPECIFIED"
    assert appraisal["x-pydcap-failure"].startswith("INVALID_QUOTE_SIGNATURE")
    local = open_enclave_report(quote)
    local = local[:4] + (1).to_bytes(4, "little") + local[8:]
    assert "local SGX report" in error(
        attest(server, "/attest/OpenEnclave", {"report": b64url(local)}), 400, "InvalidParameter"
    )


def test_policy_administration_errors(server: AttestServer) -> None:
    unsigned = jwt.encode({"AttestationPolicy": b64url(b'{\n  "mrsigner": [\n}')}, "", algorithm="none")
    with client(server) as http:
        assert "missing" in error(http.put("/policies/SgxEnclave", params=API, content=unsigned), 401, "Unauthorized")
        wrong = {"authorization": "Bearer guess"}
        assert "wrong" in error(
            http.put("/policies/SgxEnclave", params=API, content=unsigned, headers=wrong), 401, "Unauthorized"
        )
        message = error(
            http.put("/policies/SgxEnclave", params=API, content=unsigned, headers=ADMIN), 400, "PolicyParsingError"
        )
        assert "line 3, column 1" in message
        bad_rule = jwt.encode({"AttestationPolicy": b64url(b'{"mrsigner": "zz"}')}, "", algorithm="none")
        assert "rule 'mrsigner'" in error(
            http.put("/policies/SgxEnclave", params=API, content=bad_rule, headers=ADMIN), 400, "PolicyParsingError"
        )
        assert "JSON Web Signature" in error(
            http.put("/policies/SgxEnclave", params=API, content=b"plain text", headers=ADMIN), 400, "InvalidOperation"
        )
        assert error(http.get("/policies/SgxEnclave", params=API), 401, "Unauthorized")
        stored = http.get("/policies/SgxEnclave", params=API, headers=ADMIN)  # nothing refused was stored
        policy = jwt.decode(stored.json()["token"], options={"verify_signature": False})["x-ms-policy"]
        assert jwt.decode(policy, options={"verify_signature": False}) == {"AttestationPolicy": b64url(b"{}")}
        assert error(http.delete("/certs"), 405, "MethodNotAllowed")
        refused = http.post("/certificates:add", params=API, content=b'{"policyCertificateToAdd": "x"}', headers=ADMIN)
        assert "Isolated mode" in error(refused, 400, "InvalidOperation")


def test_token_times_and_signature_are_checked(server: AttestServer) -> None:
    key = server.app.service.tenant("").keys.current()
    now = int(time.time())

    def signed(**claims: object) -> str:
        body = {"iss": server.issuer, "iat": now, "nbf": now, "exp": now + 600, **claims}
        return jwt.encode(body, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid})

    with TokenVerifier(server.issuer, ca_cert=ca(server)) as verifier:
        assert verifier.verify(signed())["iss"] == server.issuer
        with pytest.raises(TokenError, match="expired"):
            verifier.verify(signed(iat=now - 7200, nbf=now - 7200, exp=now - 3600))
        with pytest.raises(TokenError, match="not yet valid"):
            verifier.verify(signed(nbf=now + 3600))
        with pytest.raises(TokenError, match=r"[Ii]ssuer"):
            verifier.verify(signed(iss="https://someone.else"))
        with pytest.raises(TokenError, match="none"):
            verifier.verify(jwt.encode({"iss": server.issuer}, "", algorithm="none"))


def test_retired_keys_leave_the_jwks_when_their_tokens_have_expired(server: AttestServer) -> None:
    from pydcap.attest.keys import KeyRing

    now = [1_000_000.0]
    ring = KeyRing(
        server.app.service.store.engine, "clock-test", algorithm="ES256", subject="https://clock.test",
        token_lifetime=100, clock=lambda: now[0],
    )  # fmt: skip
    first = ring.current()
    now[0] += 1
    second = ring.rotate()  # first retired now: published until now + the token lifetime
    assert [k.kid for k in ring.published()] == [first.kid, second.kid]
    now[0] += 99
    assert len(ring.published()) == 2
    now[0] += 2
    assert [k.kid for k in ring.published()] == [second.kid]
    assert ring.current().kid == second.kid


def test_init_time_data_is_bound_to_the_config_id(server: AttestServer, intel: SimulatedIntel) -> None:
    init = b'{"volume": "sha256:abc"}'
    quote = intel.sgx_platform().quote(b"", config_id=hashlib.sha256(init).digest() + bytes(32), config_svn=2)
    body = {"quote": b64url(quote), "initTimeData": {"data": b64url(init), "dataType": "JSON"}}
    response = attest(server, "/attest/SgxEnclave", body)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    assert claims["x-ms-inittime"] == {"volume": "sha256:abc"}
    assert (
        claims["x-ms-sgx-config-id"].startswith(hashlib.sha256(init).hexdigest()) and claims["x-ms-sgx-config-svn"] == 2
    )
    body["initTimeData"] = {"data": b64url(b"other"), "dataType": "Binary"}
    assert "CONFIGID" in error(attest(server, "/attest/SgxEnclave", body), 400, "InvalidParameter")


def test_an_issuer_s_documents_are_read_up_to_a_size(server: AttestServer) -> None:
    """A JWKS over ``MAX_DOCUMENT_BYTES`` is refused unread past the limit, naming its URL."""
    import http.server

    from pydcap.attest.client import MAX_DOCUMENT_BYTES, IssuerError
    from tests.provider.pccs_server import loopback_server

    key = server.app.service.tenant("").keys.current()

    class Issuer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            root = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/.well-known/openid-configuration":
                body = json.dumps({"issuer": root, "jwks_uri": f"{root}/certs"}).encode()
            else:
                body = json.dumps({"keys": [], "padding": "x" * MAX_DOCUMENT_BYTES}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()  # no Content-Length: the limit holds as the body streams in
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    with loopback_server(Issuer) as root:
        token = jwt.encode({"iss": root}, key.private_key, algorithm=key.algorithm, headers={"kid": key.kid})
        with pytest.raises(IssuerError, match=f"{root}/certs answered more than {MAX_DOCUMENT_BYTES} bytes"):
            verify_token(token, root)


def test_an_attestation_reads_the_pck_certificate_once(
    server: AttestServer, intel: SimulatedIntel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The collateral is chosen with the verifier's own reading of the PCK certificate (the costliest part of the
    quote to read), not a second one."""
    from pydcap.pki.pck import PckCertificate

    reads: list[object] = []
    read = PckCertificate.__init__

    def counted(cert: PckCertificate, *args: Any, **kwargs: Any) -> None:
        reads.append(cert)
        read(cert, *args, **kwargs)

    monkeypatch.setattr(PckCertificate, "__init__", counted)
    for name in ("read-once-1", "read-once-2"):  # new platforms: their chains are read now
        quote = intel.sgx_platform(name=name).quote(b"")
        response = attest(server, "/attest/SgxEnclave", {"quote": b64url(quote)})
        assert response.status_code == 200, response.text
    assert len(reads) == 2
