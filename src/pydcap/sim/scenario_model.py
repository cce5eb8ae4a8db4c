"""The vocabulary of scenarios: ``Expectation`` (Intel's verdict), ``Scenario`` (a platform and its collateral,
described by statuses of the default catalog and by defects), and Intel's status table as the simulator states it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydcap.intel import QV_RESULT_OF_STATUS, Failure, Quote3Error, QvResult, TcbStatus
from pydcap.sim import catalog as cat
from pydcap.sim.defects import CollateralDefect, QuoteDefect, Revocation

SGX = ("sgx",)
TDX = ("tdx",)
BOTH = ("sgx", "tdx")


@dataclass(frozen=True)
class Expectation:
    """Intel's verdict: a TCB status (verification succeeded) or a failure (the QVL status of the defect Intel's
    API meets first, and the ``quote3_error_t`` it returns for it), and the expiry flag."""

    tcb_status: TcbStatus | None = TcbStatus.UP_TO_DATE
    failure: Failure | None = None
    collateral_expired: bool = False
    quote3_error: Quote3Error = Quote3Error.SGX_QL_SUCCESS

    @property
    def qv_result(self) -> QvResult:
        """Intel's result: the TCB status's, or UNSPECIFIED on any failure."""
        if self.tcb_status is not None:
            return QV_RESULT_OF_STATUS[self.tcb_status]
        return QvResult.UNSPECIFIED

    def describe(self) -> str:
        out = self.failure.value if self.failure is not None else str(self.tcb_status)
        return f"{out} (collateral expired)" if self.collateral_expired else out


def fails(failure: Failure, quote3_error: Quote3Error) -> Expectation:
    return Expectation(tcb_status=None, failure=failure, quote3_error=quote3_error)


def status(value: str, *, expired: bool = False) -> Expectation:
    return Expectation(tcb_status=TcbStatus(value), collateral_expired=expired)


@dataclass(frozen=True)
class Scenario:
    """A named situation. TCB choices are statuses of the default catalog (``platform``, ``qe``, ``module``),
    resolved to SVNs per TEE; ``settings`` are extra platform keyword arguments."""

    name: str
    summary: str
    expected: Expectation
    tees: tuple[str, ...] = BOTH
    platform: str = cat.UP_TO_DATE
    qe: str = cat.UP_TO_DATE
    module: str = cat.UP_TO_DATE
    current_module: str | None = None
    current_late_microcode: int | None = None
    late_microcode: int = cat.DEFAULT_LATE_MICROCODE
    settings: Mapping[str, Any] = field(default_factory=dict)
    tdx_settings: Mapping[str, Any] = field(default_factory=dict)
    quote_defects: frozenset[QuoteDefect] = frozenset()
    collateral_defects: frozenset[CollateralDefect] = frozenset()
    revocations: frozenset[Revocation] = frozenset()
    update: str = "standard"
    impostor: bool = False

    def supports(self, tee: str) -> bool:
        return tee in self.tees

    @property
    def defect_names(self) -> tuple[str, ...]:
        """What is wrong, by name: quote and collateral defects, revocations, a root of another key."""
        names = sorted(d.value for d in (*self.quote_defects, *self.collateral_defects))
        names += sorted(f"revoked-{r.value}" for r in self.revocations)
        return (*names, *(("root-of-another-key",) if self.impostor else ()))

    def platform_settings(self, tee: str) -> dict[str, Any]:
        """Keyword arguments for ``sgx_platform`` / ``tdx_platform`` that realise this scenario."""
        if not self.supports(tee):
            raise ValueError(f"scenario {self.name!r} is for {'/'.join(self.tees)}, not {tee}")
        components, pce_svn = cat.SGX_TCB_FOR_STATUS[self.platform]
        out: dict[str, Any] = {
            "cpu_svn": bytes(components),
            "pce_svn": pce_svn,
            "qe_svn": cat.QE_SVN_FOR_STATUS["TD_QE" if tee == "tdx" else "QE"][self.qe],
        }
        if tee == "tdx":
            out["module_svn"] = cat.MODULE_SVN_FOR_STATUS[self.module]
            out["late_microcode"] = self.late_microcode
            if self.current_module is not None or self.current_late_microcode is not None:
                out["td_version"] = "1.5"
                out["current_module_svn"] = cat.MODULE_SVN_FOR_STATUS[self.current_module or self.module]
                out["current_late_microcode"] = (
                    self.late_microcode if self.current_late_microcode is None else self.current_late_microcode
                )
        out.update(self.settings)
        if tee == "tdx":
            out.update(self.tdx_settings)
        return out


def defective(
    name: str, summary: str, expected: Expectation, defect: QuoteDefect | CollateralDefect, tees: tuple[str, ...] = BOTH
) -> Scenario:
    """An up-to-date platform whose quotes or collateral have one defect."""
    if isinstance(defect, QuoteDefect):
        return Scenario(name, summary, expected, tees=tees, quote_defects=frozenset({defect}))
    return Scenario(name, summary, expected, tees=tees, collateral_defects=frozenset({defect}))


_KEBAB: Mapping[str, str] = MappingProxyType(
    {
        cat.UP_TO_DATE: "up-to-date",
        cat.SW_HARDENING_NEEDED: "sw-hardening-needed",
        cat.CONFIGURATION_NEEDED: "configuration-needed",
        cat.CONFIGURATION_AND_SW_HARDENING_NEEDED: "configuration-and-sw-hardening-needed",
        cat.OUT_OF_DATE: "out-of-date",
        cat.OUT_OF_DATE_CONFIGURATION_NEEDED: "out-of-date-configuration-needed",
        cat.REVOKED: "revoked",
    }
)


def kebab(status_name: str) -> str:
    """``ConfigurationAndSWHardeningNeeded`` -> ``configuration-and-sw-hardening-needed``."""
    return _KEBAB[status_name]


def merged_status(platform: str, components: tuple[str, ...]) -> str:
    """Intel's status table (QVL ``convergeTcbStatuses``), stated as the table reads: a Revoked component
    revokes; an OutOfDate component makes a current platform OutOfDate and a configuration-needing one
    OutOfDateConfigurationNeeded; otherwise the platform's status stands."""
    if cat.REVOKED in components:
        return cat.REVOKED
    if cat.OUT_OF_DATE in components:
        return {
            cat.UP_TO_DATE: cat.OUT_OF_DATE,
            cat.SW_HARDENING_NEEDED: cat.OUT_OF_DATE,
            cat.CONFIGURATION_NEEDED: cat.OUT_OF_DATE_CONFIGURATION_NEEDED,
            cat.CONFIGURATION_AND_SW_HARDENING_NEEDED: cat.OUT_OF_DATE_CONFIGURATION_NEEDED,
        }.get(platform, platform)
    return platform
