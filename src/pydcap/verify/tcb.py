"""TCB evaluation: pick the platform, TDX module and QE levels, merge their statuses, apply the TD relaunch rule.

This is Intel's 2026 logic (``EvaluateTcb``, ``TDRelaunchCheck``): levels are searched in sorted order, QE
and module statuses are components merged into the platform status, and a TD 1.5 quote is evaluated
twice (launch TCB and current TCB).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from pydcap.collateral.enclave_identity import EnclaveIdentity, IdentityTcbLevel
from pydcap.collateral.tcb_info import ModuleTcbLevel, TcbInfo, TcbLevel
from pydcap.intel.outcomes import Failure, TcbStatus

MODULE_STATUSES = frozenset({"UpToDate", "OutOfDate", "Revoked"})
_CONFIG_NEEDED = frozenset(
    {
        TcbStatus.CONFIGURATION_NEEDED,
        TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED,
        TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED,
        TcbStatus.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
    }
)


class TcbNotSupported(Exception):
    """No level matches (platform, module or QE); Intel's TCB_NOT_SUPPORTED."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.failure = Failure.TCB_NOT_SUPPORTED
        self.detail = detail


@dataclass(frozen=True, slots=True)
class TcbEvaluation:
    """The outcome of one evaluation: merged status, earliest level date, advisories, matched levels."""

    status: TcbStatus
    tcb_date: int
    advisory_ids: tuple[str, ...]
    platform_level: TcbLevel
    qe_level: IdentityTcbLevel
    module_level: ModuleTcbLevel | None


def _all_ge(values: tuple[int, ...] | bytes, minimums: tuple[int, ...], start: int = 0) -> bool:
    """Whether each of the 16 SVNs in ``values`` from ``start`` on reaches its minimum."""
    return all(map(operator.ge, values[start:16], minimums[start:16]))


def platform_level(tcb_info: TcbInfo, components: tuple[int, ...], pce_svn: int, tee_tcb_svn: bytes | None) -> TcbLevel:
    """The first level (highest first) that the platform's SVNs all reach."""
    tdx_start = 2 if tee_tcb_svn is not None and tee_tcb_svn[1] > 0 else 0
    for level in tcb_info.tcb_levels:
        if not _all_ge(components, level.sgx_components) or pce_svn < level.pce_svn:
            continue
        if tee_tcb_svn is not None and (
            level.tdx_components is None or not _all_ge(tee_tcb_svn, level.tdx_components, tdx_start)
        ):
            continue
        return level
    raise TcbNotSupported("no TCB level of the TCB info matches the platform's TCB")


def module_level(tcb_info: TcbInfo, tee_tcb_svn: bytes) -> ModuleTcbLevel:
    identity = tcb_info.module_identity(tee_tcb_svn[1])
    if identity is None:
        raise TcbNotSupported(f"the TCB info has no TDX module identity TDX_{tee_tcb_svn[1]:02X}")
    for level in identity.tcb_levels:
        if tee_tcb_svn[0] >= level.isv_svn:
            if level.status not in MODULE_STATUSES:
                raise TcbNotSupported(f"TDX module level status {level.status!r} is not a module status")
            return level
    raise TcbNotSupported(f"no TDX module level of {identity.id} matches module SVN {tee_tcb_svn[0]}")


def converge(platform: TcbStatus, components: list[TcbStatus]) -> TcbStatus:
    """Merge QE and module statuses into the platform status (Intel's ``convergeTcbStatuses``)."""
    if TcbStatus.REVOKED in components:
        return TcbStatus.REVOKED
    if TcbStatus.OUT_OF_DATE in components:
        if platform in (TcbStatus.UP_TO_DATE, TcbStatus.SW_HARDENING_NEEDED):
            return TcbStatus.OUT_OF_DATE
        if platform in (TcbStatus.CONFIGURATION_NEEDED, TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED):
            return TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED
    return platform


def evaluate(
    tcb_info: TcbInfo,
    qe_identity: EnclaveIdentity,
    components: tuple[int, ...],
    pce_svn: int,
    qe_isv_svn: int,
    tee_tcb_svn: bytes | None,
) -> TcbEvaluation:
    """Evaluate one TCB (SGX when ``tee_tcb_svn`` is None). Raises ``TcbNotSupported``."""
    platform = platform_level(tcb_info, components, pce_svn, tee_tcb_svn)
    statuses: list[TcbStatus] = []
    dates = [platform.tcb_date]
    module = None
    if tee_tcb_svn is not None and tee_tcb_svn[1] > 0:
        module = module_level(tcb_info, tee_tcb_svn)
        statuses.append(TcbStatus(module.status))
        dates.append(module.tcb_date)
    qe = qe_identity.level_for(qe_isv_svn)
    if qe is None:
        raise TcbNotSupported(f"no QE identity level matches the QE's ISVSVN {qe_isv_svn}")
    statuses.append(TcbStatus(qe.status))
    dates.append(qe.tcb_date)
    advisories = platform.advisory_ids + qe.advisory_ids + (module.advisory_ids if module else ())
    return TcbEvaluation(
        status=converge(TcbStatus(platform.status), statuses),
        tcb_date=min(dates),
        advisory_ids=advisories,
        platform_level=platform,
        qe_level=qe,
        module_level=module,
    )


def relaunch(launch: TcbStatus, current: TcbStatus) -> TcbStatus:
    """Intel's TD relaunch rule for TD 1.5 quotes (launch TCB vs. current TCB)."""
    if launch in (TcbStatus.OUT_OF_DATE, TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED) and current in (
        TcbStatus.UP_TO_DATE,
        TcbStatus.SW_HARDENING_NEEDED,
        TcbStatus.CONFIGURATION_NEEDED,
        TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED,
    ):
        if launch in _CONFIG_NEEDED or current in _CONFIG_NEEDED:
            return TcbStatus.TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED
        return TcbStatus.TD_RELAUNCH_ADVISED
    return launch
