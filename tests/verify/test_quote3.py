"""Every quote3_error_t verification can return is produced by some input, with Intel's result UNSPECIFIED on every
failure; the table is Intel's (qve.cpp status_error_to_quote3_error) and the pre-flight codes are the steps'."""

from __future__ import annotations

import dataclasses

from pydcap import Collateral, Quote3Error, QvResult, Verifier
from pydcap.intel.quote3 import NON_TERMINAL, QUOTE3_ERROR_OF_FAILURE, PreflightStep
from pydcap.sim import SCENARIOS
from pydcap.verify import Failure, VerificationResult
from tests.support.testdata import real_bundle

_E = Quote3Error
SGX = "phala-sgx-v3"

# Codes of Intel's table that verification never returns: non-terminal statuses (Intel returns success and sets the
# expiry flag or gives the TCB status), and a status only Intel's separate enclave-report call produces.
NEVER_RETURNED = {QUOTE3_ERROR_OF_FAILURE[f] for f in NON_TERMINAL} | {
    _E.SGX_QL_TCB_OUT_OF_DATE,
    _E.SGX_QL_TCB_OUT_OF_DATE_CONFIGURATION_NEEDED,
    _E.SGX_QL_TCB_CONFIGURATION_NEEDED,
    _E.SGX_QL_TCB_SW_HARDENING_NEEDED,
    _E.SGX_QL_TCB_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    _E.SGX_QL_QE_REPORT_UNSUPPORTED_FORMAT,
}


def _appraise(
    quote: bytes | None = None, collateral: Collateral | None = None, at: int | None = None
) -> VerificationResult:
    b = real_bundle(SGX)
    return Verifier().appraise(quote or b.quote, collateral or Collateral.load(b.path), at=b.at if at is None else at)


def _api(result: VerificationResult) -> tuple[Failure | None, Quote3Error, QvResult]:
    return result.failure, result.quote3_error, result.qv_result


def test_time_zero_is_an_invalid_parameter() -> None:
    assert _api(_appraise(at=0)) == (Failure.INVALID_PARAMETER, _E.SGX_QL_ERROR_INVALID_PARAMETER, QvResult.UNSPECIFIED)


def test_short_quote_and_unknown_tee_are_invalid_parameters_before_parsing() -> None:
    """tee_verify_evidence refuses a quote under 1,020 bytes, or of a TEE type neither SGX nor TDX, as a parameter."""
    quote = real_bundle(SGX).quote
    unknown_tee = quote[:4] + b"\x02\x00\x00\x00" + quote[8:]
    for bad in (quote[:1019], unknown_tee):
        assert _api(_appraise(bad)) == (
            Failure.UNSUPPORTED_QUOTE_FORMAT,
            _E.SGX_QL_ERROR_INVALID_PARAMETER,
            QvResult.UNSPECIFIED,
        )
    # 1,020 bytes or more: the quote parser's answer
    assert _api(_appraise(quote[:1020])) == (
        Failure.UNSUPPORTED_QUOTE_FORMAT,
        _E.SGX_QL_QUOTE_FORMAT_UNSUPPORTED,
        QvResult.UNSPECIFIED,
    )


def test_signing_chain_of_three_certificates_is_an_unsupported_pck_cert_format() -> None:
    """The TCB info's issuer chain parses in the pre-flight; the TCB info check wants exactly two certificates
    (UNSUPPORTED_CERT_FORMAT, which Intel's table makes SGX_QL_PCK_CERT_UNSUPPORTED_FORMAT)."""
    b = real_bundle(SGX)
    c = Collateral.load(b.path)
    three = (
        c.tcb_info_issuer_chain
        + c.pck_crl_issuer_chain.split(b"-----END CERTIFICATE-----")[0]
        + (b"-----END CERTIFICATE-----\n")
    )
    result = _appraise(collateral=dataclasses.replace(c, tcb_info_issuer_chain=three))
    assert _api(result) == (
        Failure.UNSUPPORTED_CERT_FORMAT,
        _E.SGX_QL_PCK_CERT_UNSUPPORTED_FORMAT,
        QvResult.UNSPECIFIED,
    ), result.detail


def test_every_code_verification_can_return_is_produced() -> None:
    """By a simulated scenario (each run against the verifier in tests/sim/test_scenarios.py) or by the tests
    above; the rest of Intel's codes are never returned by verification, and say why."""
    produced = {s.expected.quote3_error for s in SCENARIOS.values()} | {
        _E.SGX_QL_ERROR_INVALID_PARAMETER,
        _E.SGX_QL_PCK_CERT_UNSUPPORTED_FORMAT,
    }
    assert produced | NEVER_RETURNED == set(Quote3Error)
    assert not produced & NEVER_RETURNED


def test_the_table_collapses_as_intels() -> None:
    """Spot checks of qve.cpp's table, including the collapses observed with Intel's code."""
    spot = {
        Failure.SGX_INTERMEDIATE_CA_REVOKED: _E.SGX_QL_PCK_REVOKED,
        Failure.SGX_TCB_SIGNING_CERT_REVOKED: _E.SGX_QL_PCK_REVOKED,
        Failure.SGX_PCK_REVOKED: _E.SGX_QL_PCK_REVOKED,
        Failure.TCB_INFO_INVALID_SIGNATURE: _E.SGX_QL_TCBINFO_CHAIN_ERROR,
        Failure.SGX_PCK_INVALID_ISSUER: _E.SGX_QL_ERROR_UNEXPECTED,
        Failure.SGX_QE_IDENTITY_INVALID: _E.SGX_QL_QEIDENTITY_MISMATCH,
        Failure.SGX_ENCLAVE_IDENTITY_INVALID: _E.SGX_QL_QEIDENTITY_CHAIN_ERROR,
        Failure.INVALID_QE_REPORT_DATA: _E.SGX_QL_ERROR_UNEXPECTED,
        Failure.SGX_CRL_UNSUPPORTED_FORMAT: _E.SGX_QL_ERROR_UNEXPECTED,  # from the table; the pre-flight says CRL_...
    }
    assert {f: QUOTE3_ERROR_OF_FAILURE[f] for f in spot} == spot
    assert set(QUOTE3_ERROR_OF_FAILURE) == set(Failure)


def test_preflight_codes() -> None:
    assert [s.quote3_error for s in PreflightStep] == [
        _E.SGX_QL_ERROR_INVALID_PARAMETER,
        _E.SGX_QL_QUOTE_FORMAT_UNSUPPORTED,
        _E.SGX_QL_QUOTE_CERTIFICATION_DATA_UNSUPPORTED,
        _E.SGX_QL_TCBINFO_UNSUPPORTED_FORMAT,
        _E.SGX_QL_PCK_CERT_CHAIN_ERROR,
        _E.SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT,
        _E.SGX_QL_PCK_CERT_CHAIN_ERROR,
        _E.SGX_QL_CRL_UNSUPPORTED_FORMAT,
    ]
    assert {e.code for e in Quote3Error} >= {0x0000, 0xE022, 0xE068}
