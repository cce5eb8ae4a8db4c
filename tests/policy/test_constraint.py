"""Conclave constraints: syntax, and every criterion's rejection message."""

from __future__ import annotations

import dataclasses

import pytest

from pydcap import Collateral, Verifier
from pydcap.policy import EnclaveConstraint, SecurityLevel, security_level
from pydcap.policy.constraint import parse_period
from pydcap.quote import EnclaveReport
from pydcap.verify import VerificationResult
from tests.support.testdata import REAL, real_bundle, require_testdata


def _result(name: str) -> VerificationResult:
    b = real_bundle(name)
    return Verifier().appraise(b.quote, Collateral.load(b.path), at=b.at)


def _sgx(name: str = "phala-sgx-v3") -> tuple[VerificationResult, EnclaveReport]:
    r = _result(name)
    assert isinstance(r.report, EnclaveReport)
    return r, r.report


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one C"),
        ("PROD:1", "at least one C"),
        ("S:" + "00" * 32, "needs PROD"),
        ("C:" + "00" * 32 + " PROD:1", "needs at least one S"),
        ("C:zz", "not hex"),
        ("C:" + "00" * 31, "32 bytes"),
        ("C:" + "00" * 32 + " SEC:GOOD", "INSECURE, STALE or SECURE"),
        ("C:" + "00" * 32 + " EXPIRE:30D", "ISO 8601"),
        ("C:" + "00" * 32 + " FOO:1", "unknown constraint key"),
        ("C:" + "00" * 32 + " REVOKE:1 REVOKE:2", "twice"),
        ("C:" + "00" * 32 + " REVOKE:70000", "out of range"),
        ("C" + "00" * 32, "KEY:VALUE"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EnclaveConstraint.parse(text)


def test_periods() -> None:
    assert parse_period("P30D") == 30 * 86400
    assert parse_period("PT12H") == 12 * 3600
    assert parse_period("P1Y2M3DT4H5M6S") == (365 + 60 + 3) * 86400 + 4 * 3600 + 5 * 60 + 6
    assert parse_period("P2W") == 14 * 86400
    for bad in ("P", "PT", "P1DT", "1D", "P-1D"):
        with pytest.raises(ValueError):
            parse_period(bad)


def test_security_levels() -> None:
    assert security_level(_result("phala-tdx-v4"))[0] == SecurityLevel.SECURE
    assert security_level(_result("phala-sgx-v3"))[0] == SecurityLevel.STALE
    assert security_level(_result("teepot-vault_proxy")) == (SecurityLevel.INSECURE, "the enclave is in debug mode")
    assert security_level(_result("go-tdx-guest-v4-SPR"))[0] == SecurityLevel.INSECURE
    simulated = dataclasses.replace(_result("phala-tdx-v4"), root_is_intel=False, trusted_root="Test Root")
    assert security_level(simulated)[0] == SecurityLevel.INSECURE


def test_signer_and_product_match() -> None:
    r, report = _sgx()
    c = EnclaveConstraint.parse(f"S:{report.mr_signer.hex()} PROD:{report.isv_prod_id} SEC:STALE")
    assert c.reasons(r) == []
    wrong = EnclaveConstraint.parse(f"S:{report.mr_signer.hex()} PROD:{report.isv_prod_id + 1}")
    assert wrong.reasons(r) == [f"product ID is {report.isv_prod_id}, expected PROD:{report.isv_prod_id + 1}"]


def test_code_hash_alternatives() -> None:
    r, report = _sgx()
    c = EnclaveConstraint.parse(f"C:{'11' * 32} C:{report.mr_enclave.hex()}")
    assert c.reasons(r) == []
    miss = EnclaveConstraint.parse(f"C:{'11' * 32}").reasons(r)
    assert len(miss) == 1 and "matches none of" in miss[0] and report.mr_enclave.hex() in miss[0]


def test_td_code_hash_is_mrtd() -> None:
    r = _result("phala-tdx-v4")
    td = r.quote.td_report if r.quote else None
    assert td is not None
    assert EnclaveConstraint.parse(f"C:{td.mr_td.hex()} SEC:SECURE").reasons(r) == []


def test_revocation_level_and_security_level() -> None:
    r, report = _sgx()
    c = EnclaveConstraint.parse(f"C:{report.mr_enclave.hex()} REVOKE:{report.isv_svn + 1} SEC:SECURE")
    reasons = c.reasons(r)
    assert f"ISVSVN {report.isv_svn} is below REVOKE:{report.isv_svn + 1}" in reasons
    assert any("security level is STALE" in x and "SEC:SECURE required" in x for x in reasons)


def test_insecure_accepts_only_insecure() -> None:
    r, report = _sgx()
    c = EnclaveConstraint.parse(f"C:{report.mr_enclave.hex()} SEC:INSECURE")
    assert "SEC:INSECURE accepts only insecure enclaves" in c.reasons(r)[0]
    debug, dreport = _sgx("teepot-vault_proxy")
    assert EnclaveConstraint.parse(f"C:{dreport.mr_enclave.hex()} SEC:INSECURE").reasons(debug) == []


def test_failed_verification_is_never_accepted() -> None:
    r = _result("go-tdx-guest-v4-SPR")
    td = r.quote.td_report if r.quote else None
    assert td is not None
    reasons = EnclaveConstraint.parse(f"C:{td.mr_td.hex()} SEC:INSECURE").reasons(r)
    assert reasons and reasons[0].startswith("verification failed: TCB_NOT_SUPPORTED")


def test_expiry() -> None:
    r, report = _sgx()
    assert r.supplemental is not None
    age = r.verified_at - r.supplemental.latest_issue_date
    ok = EnclaveConstraint.parse(f"C:{report.mr_enclave.hex()} EXPIRE:PT{age + 1}S")
    assert ok.reasons(r) == []
    old = EnclaveConstraint.parse(f"C:{report.mr_enclave.hex()} EXPIRE:PT{max(age - 1, 0)}S")
    assert old.reasons(r) == [f"the attestation is {age} s old, EXPIRE allows {max(age - 1, 0)} s"]


def test_unreadable_quote_names_the_failure() -> None:
    require_testdata()
    b = REAL[0]
    r = Verifier().appraise(b"\x03\x00" + bytes(100), Collateral.load(b.path), at=b.at)
    assert r.report is None
    reasons = EnclaveConstraint.parse("C:" + "00" * 32 + " SEC:INSECURE").reasons(r)
    assert reasons[0].startswith("verification failed: UNSUPPORTED_QUOTE_FORMAT")
    assert reasons[1] == "no enclave report to check the constraint against"
