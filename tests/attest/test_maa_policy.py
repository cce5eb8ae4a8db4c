"""Policies in Microsoft Azure Attestation's own language: MAA's documented sample and default SGX policies parse
and decide as MAA describes; a refusal names each rule and its false condition; parse errors give line and column;
through the service, an MAA policy set with Microsoft's SDK is enforced and its issuance rules add claims."""

from __future__ import annotations

from typing import Any

import pytest

from pydcap.attest import AttestServer
from pydcap.attest.errors import PolicyParsingError
from pydcap.attest.maa_policy import parse_maa_policy
from pydcap.attest.policy import AttestationPolicy
from pydcap.sim import SimulatedIntel
from tests.support.attest import ADMIN_TOKEN, ENCLAVE, StaticCredential, sgx_quote

SIGNER = ENCLAVE.mr_signer.hex()
CLAIMS: dict[str, Any] = {
    "x-ms-sgx-is-debuggable": False, "x-ms-sgx-product-id": 3, "x-ms-sgx-svn": 4, "x-ms-sgx-mrsigner": SIGNER,
    "x-pydcap-tcb-status": "UpToDate",
}  # fmt: skip

# The shape of MAA's documented sample custom SGX policy, with this test's values.
SAMPLE = f"""version= 1.0;
authorizationrules
{{
    [ type=="x-ms-sgx-is-debuggable", value==false ]
    && [ type=="x-ms-sgx-product-id", value==3 ]
    && [ type=="x-ms-sgx-svn", value>= 0 ]
    && [ type=="x-ms-sgx-mrsigner", value=="{SIGNER.upper()}"]
    => permit();
}};
issuancerules {{
    c:[type=="x-ms-sgx-mrsigner"] => issue(type="enclave-signer", value=c.value);
}};
"""

# MAA's default SGX policy (version 1.1, with configuration rules).
DEFAULT = """version= 1.1;
configurationrules{
    => issueproperty(type="x-ms-sgx-tcbidentifier", value="azuredefault");
};
authorizationrules{
    => permit();
};
issuancerules{
    c:[type=="x-ms-sgx-is-debuggable"] => issue(type="is-debuggable", value=c.value);
    c:[type=="x-ms-sgx-mrsigner"] => issue(type="sgx-mrsigner", value=c.value);
    c:[type=="x-ms-sgx-product-id"] => issue(type="product-id", value=c.value);
};
"""


def test_sample_policy() -> None:
    policy = parse_maa_policy(SAMPLE)
    assert policy.failures(CLAIMS) == []  # hex compared case-blind, as MAA does
    assert policy.issue(CLAIMS) == {"enclave-signer": SIGNER}
    refused = policy.failures({**CLAIMS, "x-ms-sgx-is-debuggable": True})
    assert refused == ["rule at line 4: x-ms-sgx-is-debuggable is true, not == false"]
    assert parse_maa_policy(SAMPLE).failures({k: v for k, v in CLAIMS.items() if k != "x-ms-sgx-svn"}) == [
        "rule at line 4: no claim x-ms-sgx-svn"
    ]


def test_default_policy_permits_and_issues() -> None:
    policy = parse_maa_policy(DEFAULT)
    assert policy.failures(CLAIMS) == []
    assert policy.issue(CLAIMS) == {"is-debuggable": False, "sgx-mrsigner": SIGNER, "product-id": 3}


def test_deny_and_several_rules() -> None:
    policy = parse_maa_policy(
        'version=1.2;\nauthorizationrules {\n [type=="x-pydcap-tcb-status", value=="UpToDate"] => permit();\n'
        ' [type=="x-ms-sgx-svn", value<5] => deny();\n [type=="x-ms-sgx-product-id", value!=3] => permit();\n};'
    )
    assert policy.failures(CLAIMS) == ["rule at line 5: x-ms-sgx-product-id is 3, not != 3", "rule at line 4 denied"]
    assert policy.failures({**CLAIMS, "x-ms-sgx-svn": 5}) == []
    assert parse_maa_policy("version=1.0; authorizationrules { };").failures(CLAIMS) == [
        "no rule permits (authorizationrules has no permit())"
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('version=1.0;\nauthorizationrules {\n  [type=="a" value==1] => permit();\n};', "line 3, column 14"),
        ("version=1.0;\nauthorizationrules {\n  => permit()\n};", "line 4, column 1"),
        ("version=2.0;", "not 1.x"),
        ('version=1.0;\nissuancerules { c:[type=="a"] => issue(type="b", value=d.value); };', "binds no claim d"),
        ("version=1.0; authorizationrules { => permit(); }; #", "'#' at line 1, column 51"),
    ],
)
def test_parse_errors(text: str, where: str) -> None:
    with pytest.raises(PolicyParsingError, match=where):
        AttestationPolicy.parse(text)


def test_maa_policy_through_the_sdk(server: AttestServer, intel: SimulatedIntel) -> None:
    attestation = pytest.importorskip("azure.security.attestation")
    from azure.core.exceptions import HttpResponseError

    assert server.tls is not None
    options = {"connection_verify": str(server.tls.cert)}
    with (
        attestation.AttestationAdministrationClient(server.url, StaticCredential(ADMIN_TOKEN), **options) as admin,
        attestation.AttestationClient(server.url, StaticCredential("unused"), **options) as client,
    ):
        kind = attestation.AttestationType.SGX_ENCLAVE
        admin.set_policy(kind, SAMPLE)
        try:
            _, token = client.attest_sgx_enclave(sgx_quote(intel))
            assert token._body["enclave-signer"] == SIGNER
            with pytest.raises(HttpResponseError) as refused:
                client.attest_sgx_enclave(sgx_quote(intel, debug=True))
            assert refused.value.error.code == "PolicyEvaluationError"
            assert "rule at line 4: x-ms-sgx-is-debuggable is true, not == false" in refused.value.error.message
        finally:
            admin.reset_policy(kind)
