"""Microsoft's own Python SDK (azure-security-attestation) pointed at the service, over HTTPS with the service's
self-signed certificate (``connection_verify``), its token validation on (the default): attest an SGX quote and an
Open Enclave report, read the signing certificates and OpenID metadata, and set, read and reset a policy through
the administration client (its bearer token is the service's administrator token)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest

from pydcap.attest import AttestServer, open_enclave_report
from pydcap.sim import SimulatedIntel
from tests.support.attest import ADMIN_TOKEN, ENCLAVE, StaticCredential, sgx_quote

attestation = pytest.importorskip("azure.security.attestation", reason="the dev extra installs Microsoft's SDK")
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError  # noqa: E402

RUNTIME = b"a key the enclave made, bound by its report data"


OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Close the SDK's connections after each test (the server's shutdown would wait for idle keep-alives)."""
    yield
    while OPEN:
        OPEN.pop().close()


def sdk(server: AttestServer, kind: Any, token: str = "unused") -> Any:
    assert server.tls is not None
    client = kind(server.url, StaticCredential(token), connection_verify=str(server.tls.cert))
    OPEN.append(client)
    return client


def test_attest_sgx_enclave_token_validated_by_the_sdk(server: AttestServer, intel: SimulatedIntel) -> None:
    client = sdk(server, attestation.AttestationClient)
    result, token = client.attest_sgx_enclave(sgx_quote(intel, RUNTIME), runtime_data=RUNTIME)
    assert result.mr_enclave == ENCLAVE.mr_enclave.hex()
    assert result.mr_signer == ENCLAVE.mr_signer.hex()
    assert result.enclave_held_data == RUNTIME
    assert (result.product_id, result.svn, result.is_debuggable) == (3, 4, False)
    assert result.issuer == server.issuer and result.verifier_type == "sgx" and result.version == "1.0"
    assert set(result.sgx_collateral) >= {"quotehash", "tcbinfohash", "qeidhash", "tcbinfocertshash"}
    assert token.algorithm == "RS256"
    assert token._body["x-pydcap-tcb-status"] == "UpToDate"
    assert token._body["x-pydcap-root-is-intel"] is False
    # The SDK's validation is real: a token with another signature is refused by the same code path.
    header, body, signature = token.to_jwt_string().split(".")
    forged = attestation.AttestationToken(token=f"{header}.{body}.{signature[::-1]}")
    with pytest.raises(attestation.AttestationTokenValidationException):
        forged._validate_token(client.get_signing_certificates())


def test_attest_open_enclave(server: AttestServer, intel: SimulatedIntel) -> None:
    client = sdk(server, attestation.AttestationClient)
    report = open_enclave_report(sgx_quote(intel, RUNTIME))
    result, _ = client.attest_open_enclave(report, runtime_data=RUNTIME)
    assert (result.mr_enclave, result.mr_signer) == (ENCLAVE.mr_enclave.hex(), ENCLAVE.mr_signer.hex())
    assert result.enclave_held_data == RUNTIME


def test_json_runtime_data_becomes_runtime_claims(server: AttestServer, intel: SimulatedIntel) -> None:
    runtime = b'{"jwk": {"kty": "EC"}, "purpose": "test"}'
    result, _ = sdk(server, attestation.AttestationClient).attest_sgx_enclave(
        sgx_quote(intel, runtime), runtime_json=runtime
    )
    assert result.runtime_claims == {"jwk": {"kty": "EC"}, "purpose": "test"}


def test_signing_certificates_and_openid_metadata(server: AttestServer, intel: SimulatedIntel) -> None:
    client = sdk(server, attestation.AttestationClient)
    signers = client.get_signing_certificates()
    _, token = client.attest_sgx_enclave(sgx_quote(intel))
    assert token.key_id in {s.key_id for s in signers}
    assert all(s.certificates[0].startswith("-----BEGIN CERTIFICATE-----") for s in signers)
    metadata = client.get_open_id_metadata()
    assert metadata["issuer"] == server.issuer
    assert metadata["jwks_uri"] == f"{server.issuer}/certs"


def test_policy_set_through_the_administration_client_is_enforced(server: AttestServer, intel: SimulatedIntel) -> None:
    admin = sdk(server, attestation.AttestationAdministrationClient, ADMIN_TOKEN)
    client = sdk(server, attestation.AttestationClient)
    kind = attestation.AttestationType.SGX_ENCLAVE
    quote = sgx_quote(intel)
    policy = '{"mrsigner": "' + "33" * 32 + '", "product_id": 9, "allow_debug": false}'
    try:
        result, _ = admin.set_policy(kind, policy)
        assert result.policy_resolution == "Updated"
        assert admin.get_policy(kind)[0] == policy
        with pytest.raises(HttpResponseError) as refused:
            client.attest_sgx_enclave(quote)
        assert refused.value.status_code == 400
        assert refused.value.error.code == "PolicyEvaluationError"
        message = refused.value.error.message
        assert "mrsigner: MRSIGNER is" in message and "product_id: ISVPRODID is 3, expected 9" in message
        assert "allow_debug" not in message  # only the rules that failed
    finally:
        assert admin.reset_policy(kind)[0].policy_resolution == "Removed"
    result, token = client.attest_sgx_enclave(quote)
    assert admin.get_policy(kind)[0] == "{}"
    # MAA's definition: BASE64URL(SHA256(UTF8(BASE64URL(UTF8(policy text)))))
    inner = base64.urlsafe_b64encode(b"{}").rstrip(b"=")
    assert (
        token._body["x-ms-policy-hash"]
        == base64.urlsafe_b64encode(hashlib.sha256(inner).digest()).rstrip(b"=").decode()
    )


def test_policy_management_certificates(server: AttestServer) -> None:
    admin = sdk(server, attestation.AttestationAdministrationClient, ADMIN_TOKEN)
    certificates, _ = admin.get_policy_management_certificates()
    assert certificates == []  # not an Isolated-mode instance: the administrator's token authorizes changes


def test_administration_needs_the_admin_token(server: AttestServer) -> None:
    admin = sdk(server, attestation.AttestationAdministrationClient, "not the admin token")
    with pytest.raises(ClientAuthenticationError) as refused:
        admin.set_policy(attestation.AttestationType.SGX_ENCLAVE, "{}")
    assert refused.value.status_code == 401
