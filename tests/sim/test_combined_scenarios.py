"""Several defects at once: the verifier names the one Intel's verification API meets first, with Intel's code.

The named combined scenarios (each with its answer read from Intel's code) run with every scenario in
test_scenarios.py; here: that they cover the three categories where pydcap's old order differed from Intel's,
and random pairs of single-defect scenarios, whose answer is the defect of the earlier stage of Intel's order
(``INTEL_STAGES``). ``PYDCAP_ALL_PAIRS=1`` checks every pair instead (minutes).
"""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pydcap import Verifier
from pydcap.intel.quote3 import Quote3Error
from pydcap.sim import SCENARIOS, CollateralDefect, QuoteDefect, SimulatedIntel
from pydcap.sim.combined_scenarios import DEFECT_PARTS, INTEL_STAGES, NOT_FAILING, combined_scenarios, pair
from pydcap.sim.scenario_model import Scenario
from pydcap.verify import Failure, QvResult
from tests.support.sim import AT

SINGLE = sorted({*itertools.chain.from_iterable(INTEL_STAGES), *NOT_FAILING})
COMBINED = {s.name: s for s in combined_scenarios()}
PAIRS = [
    (combined, tee)
    for first, second in itertools.combinations(SINGLE, 2)
    if (combined := pair(SCENARIOS[first], SCENARIOS[second])) is not None
    for tee in combined.tees
]


def _check(intel: SimulatedIntel, verifier: Verifier, scenario: Scenario, tee: str) -> None:
    platform = intel.tdx_platform(scenario=scenario) if tee == "tdx" else intel.sgx_platform(scenario=scenario)
    result = verifier.appraise(platform.quote(b"pair"), intel.collateral_for(platform), at=AT)
    expected = scenario.expected
    assert (result.failure, result.quote3_error, result.qv_result) == (
        expected.failure,
        expected.quote3_error,
        QvResult.UNSPECIFIED,
    ), f"{scenario.name} ({tee}): {result.detail}"


def test_the_three_categories_have_scenarios() -> None:
    """TCB info unreadable + a PCK defect (Intel names the TCB info); QE identity unreadable + a PCK or TCB info
    defect (the QE identity); the chain root's key wrong + another PCK defect (untrusted chain)."""
    by_code = {
        Quote3Error.SGX_QL_TCBINFO_UNSUPPORTED_FORMAT: [],
        Quote3Error.SGX_QL_QEIDENTITY_UNSUPPORTED_FORMAT: [],
        Quote3Error.SGX_QL_PCK_CERT_CHAIN_ERROR: [],
    }
    for s in COMBINED.values():
        pck_defect = s.revocations or any(d.value.startswith(("chain-", "pck-")) for d in s.quote_defects)
        pck_defect = pck_defect or any(d.value.startswith("pck-crl") for d in s.collateral_defects) or s.impostor
        tcb_defect = any(d.value.startswith(("tcb-info", "tcb-signing")) for d in s.collateral_defects)
        if s.expected.quote3_error in by_code and (pck_defect or tcb_defect):
            by_code[s.expected.quote3_error].append(s.name)
    assert all(len(names) >= 2 for names in by_code.values()), by_code
    untrusted = [s for s in COMBINED.values() if s.expected.failure == Failure.SGX_PCK_CERT_CHAIN_UNTRUSTED]
    assert len(untrusted) >= 3 and all(s.impostor and len(s.defect_names) == 2 for s in untrusted)
    assert {s.name for s in combined_scenarios()} <= set(SCENARIOS)


def test_every_stage_names_a_scenario_and_every_defect_a_part() -> None:
    assert set(SINGLE) <= set(SCENARIOS)
    for name in SINGLE:  # the order speaks of single defects
        s = SCENARIOS[name]
        assert len(s.defect_names) <= 1 or s.collateral_defects == {CollateralDefect.TCB_SIGNING_CERT_RETIRED}, name
    assert set(DEFECT_PARTS) == {*QuoteDefect, *CollateralDefect}


def test_pairs_that_cannot_combine() -> None:
    assert pair(SCENARIOS["revoked-pck"], SCENARIOS["pck-crl-unreadable"]) is None  # both replace the PCK CRL
    assert pair(SCENARIOS["revoked-pck"], SCENARIOS["forged-intermediate"]) is None  # one stage: the QVL's order
    assert pair(SCENARIOS["tdx-seam-attributes-set"], SCENARIOS["tcb-info-wrong-tee"]) is None  # one stage
    assert pair(SCENARIOS["expired-pck-crl"], SCENARIOS["expired-qe-identity"]) is None  # neither fails
    combined = pair(SCENARIOS["bad-quote-signature"], SCENARIOS["tcb-info-unsupported-format"])
    assert combined is not None and combined.expected.failure == Failure.SGX_TCB_INFO_UNSUPPORTED_FORMAT


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(PAIRS))
def test_random_pairs_name_the_defect_intel_meets_first(
    intel: SimulatedIntel, verifier: Verifier, case: tuple[Scenario, str]
) -> None:
    _check(intel, verifier, *case)


@pytest.mark.skipif(not os.environ.get("PYDCAP_ALL_PAIRS"), reason="every pair takes minutes: PYDCAP_ALL_PAIRS=1")
def test_every_pair(intel: SimulatedIntel, verifier: Verifier) -> None:
    assert len(PAIRS) > 2000
    for combined, tee in PAIRS:
        _check(intel, verifier, combined, tee)
