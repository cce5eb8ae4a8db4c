"""Every real bundle gives Intel's verdict at its pinned time; every negative bundle fails as Intel's does."""

from __future__ import annotations

import pytest

from pydcap import Collateral, Verifier, verify_quote
from tests.support.testdata import NEGATIVE, REAL, Bundle, bundle_params, require_testdata


def _check(bundle: Bundle | None) -> Bundle:
    require_testdata()
    assert bundle is not None
    return bundle


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_real_bundle_matches_intel(bundle: Bundle | None) -> None:
    b = _check(bundle)
    e = b.expected
    result = verify_quote(b.quote, Collateral.load(b.path), at=b.at)
    assert (result.tcb_status.value if result.tcb_status else None) == e["tcb_status"]
    assert (result.failure.value if result.failure else None) == e["failure"]
    assert list(result.advisory_ids) == e["advisory_ids"]
    if e.get("collateral_expired") is not None:
        assert result.collateral_expired == e["collateral_expired"]


@pytest.mark.parametrize("bundle", bundle_params(REAL + NEGATIVE))
def test_bundle_gives_intels_api_answer(bundle: Bundle | None) -> None:
    """What Intel's tee_verify_quote returned for the bundle (expected.json ``intel_api``, measured with Intel's
    own code path): its quote3_error_t, its result, and on success the expiry flag."""
    b = _check(bundle)
    intel = b.expected["intel_api"]
    result = verify_quote(b.quote, Collateral.load(b.path), at=b.at)
    assert (result.quote3_error.value, result.qv_result.value) == (intel["quote3_error"], intel["qv_result"])
    if "collateral_expired" in intel:
        assert result.collateral_expired == intel["collateral_expired"]


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_dcap_qvl_json_gives_the_same_verdict(bundle: Bundle | None) -> None:
    b = _check(bundle)
    qvl_json = b.path / "collateral-dcap-qvl.json"
    if not qvl_json.is_file():
        pytest.skip("bundle has no dcap-qvl collateral")
    from_dir = verify_quote(b.quote, Collateral.load(b.path), at=b.at)
    from_json = verify_quote(b.quote, Collateral.load(qvl_json), at=b.at)
    assert (from_dir.failure, from_dir.tcb_status) == (from_json.failure, from_json.tcb_status)


@pytest.mark.parametrize("bundle", bundle_params(NEGATIVE))
def test_negative_bundle_rejected_with_intels_failure(bundle: Bundle | None) -> None:
    b = _check(bundle)
    e = b.expected
    result = verify_quote(b.quote, Collateral.load(b.path), at=b.at)
    assert not result.accepted
    allowed = set(e.get("failure_any") or [e["failure"]])
    assert result.failure is not None and result.failure.value in allowed


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_collateral_expires_400_days_later_but_status_stands(bundle: Bundle | None) -> None:
    b = _check(bundle)
    later = b.expected.get("intel_qvl_plus400d")
    if not later:
        pytest.skip("no +400 days verdict recorded")
    now = verify_quote(b.quote, Collateral.load(b.path), at=b.at)
    result = verify_quote(b.quote, Collateral.load(b.path), at=later["verify_at"])
    assert result.failure == now.failure
    assert result.tcb_status == now.tcb_status
    if result.failure is None:
        assert result.collateral_expired
        assert not result.accepted
        assert any("expired" in r for r in result.reasons)


def test_warm_verifier_gives_the_same_answers_as_cold() -> None:
    require_testdata()
    warm = Verifier()
    for b in REAL + NEGATIVE:
        c = Collateral.load(b.path)
        first = warm.appraise(b.quote, c, at=b.at)
        second = warm.appraise(b.quote, c, at=b.at)
        cold = Verifier().appraise(b.quote, Collateral.load(b.path), at=b.at)
        assert first == second
        assert (cold.failure, cold.tcb_status, cold.advisory_ids) == (
            first.failure,
            first.tcb_status,
            first.advisory_ids,
        )
