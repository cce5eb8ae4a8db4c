"""The same appraisal as an IETF RATS EAR (EAT Attestation Result, draft-ietf-rats-ear; Veraison's profile):
``ear.status`` (affirming, warning, contraindicated) and the AR4SI trustworthiness vector of one submodule.

Mapping: a quote that verified and passed the policy with an UpToDate TCB is affirming; one whose TCB needs
updates, configuration or hardening (or whose collateral has expired) is a warning; one the policy refused, or
whose verification failed, is contraindicated.
"""

from __future__ import annotations

from typing import Any

from pydcap.intel import TcbStatus
from pydcap.results import VerificationResult

EAR_PROFILE = "tag:github.com,2023:veraison/ear"
EAR_MEDIA_TYPE = "application/eat+jwt"
# AR4SI trustworthiness claim values (draft-ietf-rats-ar4si): 2 affirming, 32 warning, 96 contraindicated.
AFFIRMING, WARNING, CONTRAINDICATED = 2, 32, 96
_WARNING_STATUSES = frozenset(
    {TcbStatus.SW_HARDENING_NEEDED, TcbStatus.CONFIGURATION_NEEDED, TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED}
)


def _tier(value: int) -> str:
    return "affirming" if value < WARNING else "warning" if value < CONTRAINDICATED else "contraindicated"


def trustworthiness(result: VerificationResult, policy_failures: list[str]) -> dict[str, int]:
    """The AR4SI vector: hardware from the TCB status, executables from the policy, instance identity from the
    quote signature, configuration from debug mode."""
    status = result.tcb_status
    if result.failure is not None:
        hardware = CONTRAINDICATED
    elif status is TcbStatus.UP_TO_DATE:
        hardware = AFFIRMING
    elif status in _WARNING_STATUSES:
        hardware = WARNING
    else:  # OutOfDate, Revoked, ...: known vulnerable
        hardware = CONTRAINDICATED if status is TcbStatus.REVOKED else WARNING
    report = result.report
    vector = {
        "instance-identity": AFFIRMING if result.failure is None else CONTRAINDICATED,
        "hardware": hardware,
        "executables": CONTRAINDICATED if policy_failures else AFFIRMING,
        "configuration": WARNING if report is not None and report.debug else AFFIRMING,
    }
    if result.collateral_expired:
        vector["sourced-data"] = WARNING
    return vector


def ear_claims(
    result: VerificationResult,
    policy_failures: list[str],
    *,
    submodule: str,
    policy_id: str,
    nonce: str | None,
    developer: str,
) -> dict[str, Any]:
    """The EAR claims (without ``iss``, ``iat``, ...): one submodule named after the attested TEE."""
    vector = trustworthiness(result, policy_failures)
    appraisal: dict[str, Any] = {
        "ear.status": _tier(max(vector.values())),
        "ear.trustworthiness-vector": vector,
        "ear.appraisal-policy-id": policy_id,
        # What Intel's verification itself returned, and why the policy refused (extensions, as EAR allows).
        "x-pydcap-quote3-error": result.quote3_error.value,
        "x-pydcap-qv-result": result.qv_result.value,
        "x-pydcap-policy-failures": policy_failures,
    }
    if result.failure is not None:
        appraisal["x-pydcap-failure"] = f"{result.failure.value}: {result.detail}"
    claims: dict[str, Any] = {
        "eat_profile": EAR_PROFILE,
        "ear.verifier-id": {"developer": developer, "build": "pydcap"},
        "submods": {submodule: appraisal},
    }
    if nonce is not None:
        claims["eat_nonce"] = nonce
    return claims
