"""Named scenarios: a platform, its collateral and what Intel's verifier must answer for them.

``SCENARIOS`` maps each name to a ``Scenario``; ``SimulatedIntel.sgx_platform(scenario=...)`` and
``tdx_platform(scenario=...)`` build the platform, ``collateral_for`` the matching (possibly defective)
collateral, and ``Scenario.expected`` is the verdict. Merge scenarios cover every cell of Intel's status table.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType

from pydcap.intel import Failure, Quote3Error
from pydcap.sim import catalog as cat
from pydcap.sim.combined_scenarios import combined_scenarios
from pydcap.sim.defects import CollateralDefect
from pydcap.sim.failure_scenarios import document_scenarios, expiry_scenarios, pki_scenarios, quote_scenarios
from pydcap.sim.scenario_model import (
    SGX,
    TDX,
    Expectation,
    Scenario,
    defective,
    fails,
    kebab,
    merged_status,
    status,
)

__all__ = ["DEFAULT_SCENARIO", "SCENARIOS", "Expectation", "Scenario", "for_tee", "get", "kebab", "merged_status"]


def _verdict(merged: str) -> Expectation:
    return fails(Failure.TCB_REVOKED, Quote3Error.SGX_QL_TCB_REVOKED) if merged == cat.REVOKED else status(merged)


def _merge_scenarios() -> Iterator[Scenario]:
    for p in cat.PLATFORM_STATUSES:
        for q in cat.COMPONENT_STATUSES:
            yield Scenario(
                f"merge-{kebab(p)}-qe-{kebab(q)}",
                f"status table: platform {p}, QE {q}",
                _verdict(merged_status(p, (q,))),
                tees=SGX,
                platform=p,
                qe=q,
            )
            for m in cat.COMPONENT_STATUSES:
                yield Scenario(
                    f"merge-{kebab(p)}-qe-{kebab(q)}-module-{kebab(m)}",
                    f"status table: platform {p}, QE {q}, TDX module {m}",
                    _verdict(merged_status(p, (q, m))),
                    tees=TDX,
                    platform=p,
                    qe=q,
                    module=m,
                )


_BELOW = cat.BELOW_EVERY_LEVEL


def _base_scenarios() -> Iterator[Scenario]:
    yield Scenario("up-to-date", "a fully up-to-date platform", status(cat.UP_TO_DATE))
    for s in cat.PLATFORM_STATUSES:
        if s not in (cat.UP_TO_DATE, cat.REVOKED):
            yield Scenario(kebab(s), f"the platform's TCB is at a {s} level", status(s), platform=s)
    yield Scenario(
        "tcb-revoked",
        "the platform's TCB is at a Revoked level",
        fails(Failure.TCB_REVOKED, Quote3Error.SGX_QL_TCB_REVOKED),
        platform=cat.REVOKED,
    )
    yield Scenario(
        "tcb-not-supported",
        "the platform's TCB is below every TCB level",
        fails(Failure.TCB_NOT_SUPPORTED, Quote3Error.SGX_QL_TCB_NOT_SUPPORTED),
        platform=_BELOW,
    )
    yield Scenario(
        "qe-out-of-date",
        "the quoting enclave's ISVSVN is at an OutOfDate level",
        status(cat.OUT_OF_DATE),
        qe=cat.OUT_OF_DATE,
    )
    yield Scenario(
        "qe-revoked",
        "the quoting enclave's ISVSVN is at a Revoked level",
        fails(Failure.TCB_REVOKED, Quote3Error.SGX_QL_TCB_REVOKED),
        qe=cat.REVOKED,
    )
    yield Scenario(
        "qe-not-supported",
        "the quoting enclave's ISVSVN is below every level",
        fails(Failure.TCB_NOT_SUPPORTED, Quote3Error.SGX_QL_TCB_NOT_SUPPORTED),
        qe=_BELOW,
    )
    yield Scenario(
        "processor-ca",
        "an up-to-date platform certified by the PCK Processor CA",
        status(cat.UP_TO_DATE),
        settings={"ca": "processor"},
    )
    yield Scenario(
        "platform-ca",
        "an up-to-date multi-package platform certified by the PCK Platform CA",
        status(cat.UP_TO_DATE),
        settings={"ca": "platform"},
    )


def _tdx_scenarios() -> Iterator[Scenario]:
    yield Scenario(
        "module-out-of-date",
        "the TDX module's SVN is at an OutOfDate level",
        status(cat.OUT_OF_DATE),
        tees=TDX,
        module=cat.OUT_OF_DATE,
    )
    yield Scenario(
        "module-revoked",
        "the TDX module's SVN is at a Revoked level",
        fails(Failure.TCB_REVOKED, Quote3Error.SGX_QL_TCB_REVOKED),
        tees=TDX,
        module=cat.REVOKED,
    )
    yield Scenario(
        "module-not-supported",
        "the TDX module's SVN is below every module level",
        fails(Failure.TCB_NOT_SUPPORTED, Quote3Error.SGX_QL_TCB_NOT_SUPPORTED),
        tees=TDX,
        module=_BELOW,
    )
    yield Scenario(
        "tdx-late-microcode-out-of-date",
        "the TDX late microcode SVN lags the newest TCB level",
        status(cat.OUT_OF_DATE),
        tees=TDX,
        late_microcode=cat.OUT_OF_DATE_LATE_MICROCODE,
    )
    yield Scenario(
        "tdx-1.0-module",
        "a TDX 1.0 module (TEE_TCB_SVN[1] = 0): all TDX components compared",
        status(cat.UP_TO_DATE),
        tees=TDX,
        settings={"module_version": 0},
    )
    yield Scenario(
        "td-1.5-up-to-date",
        "a TD 1.5 quote, launched and running on an up-to-date TCB",
        status(cat.UP_TO_DATE),
        tees=TDX,
        current_module=cat.UP_TO_DATE,
    )
    yield Scenario(
        "td-relaunch-advised",
        "a TD launched on an OutOfDate module, now running on an up-to-date one",
        status("TDRelaunchAdvised"),
        tees=TDX,
        module=cat.OUT_OF_DATE,
        current_module=cat.UP_TO_DATE,
    )
    yield Scenario(
        "td-relaunch-advised-configuration-needed",
        "a TD launched on an OutOfDate module of a platform needing configuration, now on an up-to-date module",
        status("TDRelaunchAdvisedConfigurationNeeded"),
        tees=TDX,
        platform=cat.CONFIGURATION_NEEDED,
        module=cat.OUT_OF_DATE,
        current_module=cat.UP_TO_DATE,
    )
    yield Scenario(
        "td-relaunch-current-out-of-date",
        "a TD launched on an OutOfDate module whose current TCB is still OutOfDate: no relaunch helps",
        status(cat.OUT_OF_DATE),
        tees=TDX,
        module=cat.OUT_OF_DATE,
        current_module=cat.UP_TO_DATE,
        current_late_microcode=cat.OUT_OF_DATE_LATE_MICROCODE,
    )
    yield Scenario(
        "td-relaunch-launch-up-to-date",
        "a TD launched up to date whose current TCB is OutOfDate",
        status(cat.UP_TO_DATE),
        tees=TDX,
        current_module=cat.OUT_OF_DATE,
    )
    yield Scenario(
        "td-relaunch-current-not-supported",
        "a TD whose current module SVN matches no level",
        fails(Failure.TCB_NOT_SUPPORTED, Quote3Error.SGX_QL_TCB_NOT_SUPPORTED),
        tees=TDX,
        current_module=_BELOW,
    )
    yield Scenario(
        "tdx-module-signer-mismatch",
        "MRSIGNERSEAM is not the TDX module signer",
        fails(Failure.TDX_MODULE_MISMATCH, Quote3Error.SGX_QL_TDX_MODULE_MISMATCH),
        tees=TDX,
        settings={"mr_signer_seam": b"\x01" * 48},
    )
    yield Scenario(
        "tdx-seam-attributes-set",
        "SEAMATTRIBUTES is not zero",
        fails(Failure.TDX_MODULE_MISMATCH, Quote3Error.SGX_QL_TDX_MODULE_MISMATCH),
        tees=TDX,
        settings={"seam_attributes": b"\x01" + bytes(7)},
    )
    yield Scenario(
        "tdx-module-identity-missing",
        "the TCB info has no TDX_02 module identity",
        fails(Failure.TDX_MODULE_MISMATCH, Quote3Error.SGX_QL_TDX_MODULE_MISMATCH),
        tees=TDX,
        settings={"module_version": 2},
    )
    yield defective(
        "tdx-tcb-info-v2",
        "a version 2 TCB info (SGX only) given for a TDX quote",
        fails(Failure.TCB_INFO_MISMATCH, Quote3Error.SGX_QL_TCBINFO_MISMATCH),
        CollateralDefect.TCB_INFO_VERSION_2,
        tees=TDX,
    )


def _recovery_scenarios() -> Iterator[Scenario]:
    yield Scenario(
        "tcb-recovery-standard", "before a TCB recovery is enforced: standard collateral", status(cat.UP_TO_DATE)
    )
    yield Scenario(
        "tcb-recovery-early",
        "a TCB recovery the platform has not applied, with early collateral",
        status(cat.OUT_OF_DATE),
        update="early",
    )
    yield Scenario(
        "tcb-recovery-applied",
        "a platform with the TCB recovery's microcode (and TDX module), with early collateral",
        status(cat.UP_TO_DATE),
        update="early",
        settings={"cpu_svn": bytes(cat.RECOVERED_SGX_TCB[0]), "pce_svn": cat.RECOVERED_SGX_TCB[1]},
        tdx_settings={"module_svn": cat.RECOVERED_MODULE_SVN},
    )


def _all() -> dict[str, Scenario]:
    out: dict[str, Scenario] = {}
    for gen in (
        _base_scenarios,
        _tdx_scenarios,
        _recovery_scenarios,
        pki_scenarios,
        document_scenarios,
        quote_scenarios,
        expiry_scenarios,
        combined_scenarios,
        _merge_scenarios,
    ):
        for scenario in gen():
            if scenario.name in out:
                raise RuntimeError(f"duplicate scenario {scenario.name}")
            out[scenario.name] = scenario
    return out


SCENARIOS: Mapping[str, Scenario] = MappingProxyType(_all())
DEFAULT_SCENARIO = "up-to-date"


def get(name: str) -> Scenario:
    """The scenario called ``name``; ``KeyError`` lists the known names when there is none."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise KeyError(f"unknown scenario {name!r}; known: {', '.join(sorted(SCENARIOS))}") from None


def for_tee(tee: str) -> list[Scenario]:
    """Every scenario that applies to ``tee`` (``sgx`` or ``tdx``)."""
    return [s for s in SCENARIOS.values() if s.supports(tee)]
