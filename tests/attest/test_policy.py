"""Attestation policies: each rule on real appraisals of simulated quotes, every failed rule named, parse errors
with line and column or the rule's name."""

from __future__ import annotations

import pytest

from pydcap.attest.errors import PolicyParsingError
from pydcap.attest.policy import AttestationPolicy, policy_hash
from pydcap.sim import SimulatedIntel
from pydcap.verify import VerificationResult, Verifier
from tests.support.attest import ENCLAVE, sgx_quote


def appraise(intel: SimulatedIntel, quote: bytes, at: int | None = None) -> VerificationResult:
    verifier = Verifier(trusted_root=intel.trust_root)
    collateral = intel.collateral_for(quote)
    return verifier.appraise(quote, collateral, at=at if at is not None else intel.now)


@pytest.fixture(scope="module")
def good(intel: SimulatedIntel) -> VerificationResult:
    result = appraise(intel, sgx_quote(intel))
    assert result.verified and result.tcb_status is not None and result.tcb_status.value == "UpToDate"
    return result


def test_default_policy_accepts_any_verified_quote(intel: SimulatedIntel, good: VerificationResult) -> None:
    assert AttestationPolicy.parse("{}").failures(good, {}) == []
    debug = appraise(intel, sgx_quote(intel, debug=True))
    out_of_date = appraise(intel, intel.sgx_platform(scenario="out-of-date").quote(b""))
    assert out_of_date.tcb_status is not None and out_of_date.tcb_status.value == "OutOfDate"
    assert (
        AttestationPolicy.parse("{}").failures(debug, {})
        == AttestationPolicy.parse("{}").failures(out_of_date, {})
        == []
    )


def test_every_failed_rule_is_named(intel: SimulatedIntel, good: VerificationResult) -> None:
    policy = AttestationPolicy.parse(
        '{"mrenclave": ["' + "00" * 32 + '", "' + "11" * 32 + '"], "mrsigner": "' + ENCLAVE.mr_signer.hex() + '",'
        ' "product_id": 4, "min_svn": 5, "accepted_tcb_statuses": ["SWHardeningNeeded"], "mrtd": "' + "00" * 48 + '"}'
    )
    failures = policy.failures(good, {})
    named = {f.split(":")[0] for f in failures}
    assert named == {"mrenclave", "product_id", "min_svn", "accepted_tcb_statuses", "mrtd"}
    assert any("ISVSVN 4 is below the minimum 5" in f for f in failures)
    assert AttestationPolicy.parse('{"mrenclave": "' + ENCLAVE.mr_enclave.hex() + '"}').failures(good, {}) == []


def test_debug_age_advisories_and_conclave(intel: SimulatedIntel, good: VerificationResult) -> None:
    debug = appraise(intel, sgx_quote(intel, debug=True))
    assert AttestationPolicy.parse('{"allow_debug": false}').failures(debug, {}) == [
        "allow_debug: the enclave is in debug mode"
    ]
    assert AttestationPolicy.parse('{"allow_debug": false}').failures(good, {}) == []
    assert good.supplemental is not None
    later = appraise(intel, sgx_quote(intel), at=good.supplemental.latest_issue_date + 3 * 86400)
    assert AttestationPolicy.parse('{"max_collateral_age": "P4D"}').failures(later, {}) == []
    [stale] = AttestationPolicy.parse('{"max_collateral_age": 86400}').failures(later, {})
    assert stale == "max_collateral_age: the collateral is 259200 s old; at most 86400 s is accepted"
    constraint = f"S:{ENCLAVE.mr_signer.hex()} PROD:3 SEC:INSECURE"  # a simulated root is insecure to Conclave
    assert AttestationPolicy.parse(f'{{"conclave_constraint": "{constraint}"}}').failures(good, {}) == []
    refused = AttestationPolicy.parse('{"conclave_constraint": "S:' + "aa" * 32 + ' PROD:3"}').failures(good, {})
    assert refused and refused[0].startswith("conclave_constraint:")
    advisories = appraise(intel, intel.sgx_platform(scenario="sw-hardening-needed").quote(b""))
    if advisories.advisory_ids:
        rule = '{"rejected_advisory_ids": ["' + advisories.advisory_ids[0] + '"]}'
        assert AttestationPolicy.parse(rule).failures(advisories, {})


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{\n  "allow_debug": tru\n}', "line 2, column"),
        ("[]", "JSON object"),
        ('{"mrsigner": "zz"}', "rule 'mrsigner'"),
        ('{"accepted_tcb_statuses": ["Fine"]}', "'Fine' is not a TCB status"),
        ('{"product_id": true}', "rule 'product_id'"),
        ('{"max_collateral_age": "30 days"}', "rule 'max_collateral_age'"),
        ('{"conclave_constraint": "PROD:1"}', "rule 'conclave_constraint'"),
        ('{"allow_everything": true}', "unknown rule 'allow_everything'"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_parse_errors(text: str, words: str) -> None:
    with pytest.raises(PolicyParsingError) as refused:
        AttestationPolicy.parse(text)
    assert words in refused.value.message
    assert refused.value.status == 400 and refused.value.code == "PolicyParsingError"


def test_policy_hash_is_maa_s() -> None:
    # BASE64URL(SHA256(UTF8(BASE64URL(UTF8("{}"))))): "{}" is "e30" in base64url.
    import base64
    import hashlib

    expected = base64.urlsafe_b64encode(hashlib.sha256(b"e30").digest()).rstrip(b"=").decode()
    assert policy_hash("{}") == expected
