"""Policies name every reason for a rejection."""

from __future__ import annotations

import dataclasses

import pytest

from pydcap import AllOf, AnyOf, Collateral, Policy, UnsafeAcceptAnyStatus, Verifier
from pydcap.verify import TcbStatus, VerificationResult
from tests.support.testdata import Bundle, real_bundle


def _result(name: str) -> tuple[Bundle, VerificationResult]:
    b = real_bundle(name)
    return b, Verifier().appraise(b.quote, Collateral.load(b.path), at=b.at)


def test_default_accepts_only_up_to_date() -> None:
    _, tdx = _result("phala-tdx-v4")
    assert Policy().reasons(tdx) == []
    _, sgx = _result("phala-sgx-v3")
    assert Policy().reasons(sgx) == [
        "TCB status ConfigurationAndSWHardeningNeeded is not accepted (accepted: UpToDate)"
    ]
    assert Policy(accepted_statuses=frozenset({"ConfigurationAndSWHardeningNeeded"})).reasons(sgx) == []


def test_every_reason_is_listed() -> None:
    _, sgx = _result("teepot-vault_proxy")  # a debug enclave, SWHardeningNeeded
    assert sgx.report is not None and sgx.report.debug
    expired = dataclasses.replace(sgx, collateral_expired=True)
    reasons = Policy(mr_enclave="00" * 32, isv_prod_id=99, min_isv_svn=1000, report_data="ff").reasons(expired)
    text = "\n".join(reasons)
    for words in ("TCB status", "expired", "debug", "MRENCLAVE", "ISVPRODID", "ISVSVN", "REPORTDATA"):
        assert words in text
    assert len(reasons) == 7


def test_expected_values_match() -> None:
    _, sgx = _result("phala-sgx-v3")
    report = sgx.report
    assert report is not None and not report.debug
    policy = Policy(
        accepted_statuses=frozenset({"ConfigurationAndSWHardeningNeeded"}),
        mr_enclave=report.mr_enclave.hex(),
        mr_signer=report.mr_signer,
        isv_prod_id=report.isv_prod_id,
        min_isv_svn=report.isv_svn,
        report_data=report.report_data[:20],
    )
    assert policy.reasons(sgx) == []


def test_td_measurements() -> None:
    _, tdx = _result("phala-tdx-v4")
    td = tdx.quote.td_report if tdx.quote else None
    assert td is not None
    assert Policy(mr_td=td.mr_td, rtmrs=[td.rtmr0, None, td.rtmr2]).reasons(tdx) == []
    reasons = Policy(mr_td="00" * 48, mr_enclave="00" * 32).reasons(tdx)
    assert any("MRTD" in r for r in reasons) and any("SGX enclave measurement" in r for r in reasons)


def test_advisory_blocklist_and_composition() -> None:
    _, sgx = _result("phala-sgx-v3")
    lenient = Policy(accepted_statuses=frozenset({"ConfigurationAndSWHardeningNeeded"}))
    blocked = dataclasses.replace(lenient, rejected_advisory_ids=frozenset({"INTEL-SA-00615"}))
    assert blocked.reasons(sgx) == ["advisories INTEL-SA-00615 are not accepted"]
    assert AllOf(lenient, blocked).reasons(sgx) == blocked.reasons(sgx)
    assert AnyOf(blocked, lenient).reasons(sgx) == []
    assert UnsafeAcceptAnyStatus().reasons(sgx) == []


def test_verification_failure_is_always_a_reason() -> None:
    _, failed = _result("go-tdx-guest-v4-SPR")
    assert UnsafeAcceptAnyStatus().reasons(failed) == [f"verification failed: TCB_NOT_SUPPORTED ({failed.detail})"]
    assert Policy().reasons(failed)[0].startswith("verification failed: TCB_NOT_SUPPORTED")


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"mr_enclave": "zz"}, "mr_enclave 'zz' is not hex"),
        ({"mr_signer": "0"}, "mr_signer '0' is not hex"),
        ({"mr_td": "not hex"}, "mr_td"),
        ({"report_data": "0x12"}, "report_data"),
        ({"rtmrs": [None, "q"]}, "rtmrs[1]"),
        ({"rtmrs": ["00"] * 5}, "4 RTMRs"),
    ],
)
def test_malformed_expected_values_are_named_when_the_policy_is_made(kwargs: dict[str, object], words: str) -> None:
    """They used to pass construction and raise a bare ValueError from the first verification."""
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        Policy(**kwargs)  # type: ignore[arg-type]


def test_empty_combinations_are_refused() -> None:
    """With no policy inside, AllOf() and AnyOf() accepted every result, a failed verification included."""
    for combine in (AllOf, AnyOf):
        with pytest.raises(ValueError, match="at least one policy"):
            combine()


def test_accepted_statuses_are_tcb_statuses_and_a_misspelled_one_is_refused() -> None:
    assert Policy(accepted_statuses=frozenset({"swhardeningneeded"})).accepted_statuses == {
        TcbStatus.SW_HARDENING_NEEDED
    }
    with pytest.raises(ValueError, match="accepted_statuses: 'UpToDat' is not a TCB status"):
        Policy(accepted_statuses=frozenset({"UpToDat"}))
