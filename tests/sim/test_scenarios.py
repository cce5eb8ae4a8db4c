"""Every scenario, on every TEE it applies to: the verifier gives the result the scenario says Intel gives."""

from __future__ import annotations

import pytest

from pydcap import TrustRoot, Verifier
from pydcap.sim import SCENARIOS, SimulatedIntel
from pydcap.sim import catalog as cat
from pydcap.sim.scenario_model import status
from pydcap.sim.scenarios import Scenario, get, kebab, merged_status
from pydcap.verify import Failure, TcbStatus
from tests.support.sim import AT

CASES = [pytest.param(name, tee, id=f"{name}-{tee}") for name, s in SCENARIOS.items() for tee in s.tees]


@pytest.mark.parametrize(("name", "tee"), CASES)
def test_scenario_gives_its_expected_result(intel: SimulatedIntel, verifier: Verifier, name: str, tee: str) -> None:
    scenario = SCENARIOS[name]
    platform = intel.scenario_platform(name, tee)
    result = verifier.appraise(platform.quote(b"scenario"), intel.collateral_for(platform), at=AT)
    expected = scenario.expected
    assert (result.failure, result.tcb_status) == (expected.failure, expected.tcb_status), result.detail
    assert (result.quote3_error, result.qv_result) == (expected.quote3_error, expected.qv_result)
    if expected.failure is None or expected.failure == Failure.TCB_REVOKED:
        assert result.collateral_expired == expected.collateral_expired


def test_every_tcb_status_is_reached_by_some_scenario() -> None:
    reached = {s.expected.tcb_status for s in SCENARIOS.values()}
    assert set(TcbStatus) - {TcbStatus.REVOKED} <= reached
    # a Revoked level is a failure, as in Intel's verification enclave
    assert any(s.expected.failure == Failure.TCB_REVOKED for s in SCENARIOS.values())


def test_every_cell_of_the_status_table_has_a_scenario() -> None:
    for p in cat.PLATFORM_STATUSES:
        for q in cat.COMPONENT_STATUSES:
            assert get(f"merge-{kebab(p)}-qe-{kebab(q)}").tees == ("sgx",)
            for m in cat.COMPONENT_STATUSES:
                assert get(f"merge-{kebab(p)}-qe-{kebab(q)}-module-{kebab(m)}").tees == ("tdx",)


def test_the_simulators_statement_of_the_table() -> None:
    assert merged_status(cat.CONFIGURATION_NEEDED, (cat.UP_TO_DATE, cat.OUT_OF_DATE)) == (
        cat.OUT_OF_DATE_CONFIGURATION_NEEDED
    )
    assert merged_status(cat.OUT_OF_DATE, (cat.REVOKED,)) == cat.REVOKED
    assert merged_status(cat.SW_HARDENING_NEEDED, (cat.UP_TO_DATE,)) == cat.SW_HARDENING_NEEDED
    assert merged_status(cat.OUT_OF_DATE_CONFIGURATION_NEEDED, (cat.OUT_OF_DATE,)) == (
        cat.OUT_OF_DATE_CONFIGURATION_NEEDED
    )


def test_tcb_recovery_standard_and_early_collateral(intel: SimulatedIntel, verifier: Verifier) -> None:
    platform = intel.sgx_platform(name="recovery")
    quote = platform.quote()
    standard = verifier.appraise(quote, intel.collateral_for(platform), at=AT)
    early = verifier.appraise(quote, intel.collateral_for(platform, update="early"), at=AT)
    by_number = verifier.appraise(
        quote, intel.collateral_for(platform, tcb_evaluation_data_number=intel.catalog.early), at=AT
    )
    assert standard.tcb_status == TcbStatus.UP_TO_DATE
    assert early.tcb_status == by_number.tcb_status == TcbStatus.OUT_OF_DATE
    assert early.supplemental is not None and early.supplemental.tcb_evaluation_data_number == intel.catalog.early


def test_scenarios_refuse_the_wrong_tee(intel: SimulatedIntel) -> None:
    with pytest.raises(ValueError, match="is for tdx"):
        intel.sgx_platform(scenario="module-revoked")
    with pytest.raises(KeyError, match="unknown scenario"):
        intel.sgx_platform(scenario="no-such-scenario")


def test_explicit_arguments_win_over_the_scenario(intel: SimulatedIntel, verifier: Verifier) -> None:
    platform = intel.sgx_platform(scenario="out-of-date", name="patched", cpu_svn=bytes(cat.components(6, 1)))
    result = verifier.appraise(platform.quote(), intel.collateral_for(platform), at=AT)
    assert result.tcb_status == TcbStatus.UP_TO_DATE


def test_a_current_late_microcode_of_zero_is_used() -> None:
    scenario = Scenario("late-zero", "current late microcode 0", status(cat.UP_TO_DATE), current_late_microcode=0)
    settings = scenario.platform_settings("tdx")
    assert settings["td_version"] == "1.5"
    assert settings["current_late_microcode"] == 0 != settings["late_microcode"]


@pytest.mark.parametrize(("name", "tee"), CASES)
def test_pinned_certificates_change_no_result(intel: SimulatedIntel, name: str, tee: str) -> None:
    """The simulated root pins its CAs and TCB Signing certificate (as Intel's root pins Intel's): every scenario,
    forged and revoked certificates included, gives the same result as with a root that pins nothing."""
    platform = intel.scenario_platform(name, tee)
    quote, collateral = platform.quote(b"scenario"), intel.collateral_for(platform)
    pinned = Verifier(trusted_root=intel.trust_root).appraise(quote, collateral, at=AT)
    bare = Verifier(trusted_root=TrustRoot.from_pem(intel.root_pem)).appraise(quote, collateral, at=AT)
    assert pinned == bare
