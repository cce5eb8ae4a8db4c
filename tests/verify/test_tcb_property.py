"""Property: for random TCB-level sets and platform SVNs, the verifier picks the level and the merged status
that a brute-force reading of Intel's rules gives (reference/verification.md, (a) step 18 and table (b)).

The oracle is written independently of ``pydcap.verify.tcb``: the platform level is the greatest level (in
Intel's sort order) among *all* levels the platform's TCB reaches, found by checking every level; the QE and
TDX module levels are the greatest ISVSVN not above the enclave's; the merge is the table, cell by cell.
Each example runs the whole path: a simulated Intel signs the TCB info and identity, a simulated platform
signs the quote, and the verifier appraises it.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pydcap import Verifier
from pydcap.intel import iso
from pydcap.sim import REFERENCE_TIME, SimulatedIntel, SimulatedSgxPlatform, SimulatedTdxPlatform
from pydcap.sim import catalog as cat
from pydcap.verify import Failure, TcbStatus, VerificationResult

AT = int(REFERENCE_TIME.timestamp()) + 3600
FMSPC = bytes.fromhex("30A0D0000000")

# Table (b): platform status x worst component status -> merged status.
TABLE = {
    "UpToDate": {"UpToDate": "UpToDate", "OutOfDate": "OutOfDate", "Revoked": "Revoked"},
    "SWHardeningNeeded": {"UpToDate": "SWHardeningNeeded", "OutOfDate": "OutOfDate", "Revoked": "Revoked"},
    "ConfigurationNeeded": {
        "UpToDate": "ConfigurationNeeded",
        "OutOfDate": "OutOfDateConfigurationNeeded",
        "Revoked": "Revoked",
    },
    "ConfigurationAndSWHardeningNeeded": {
        "UpToDate": "ConfigurationAndSWHardeningNeeded",
        "OutOfDate": "OutOfDateConfigurationNeeded",
        "Revoked": "Revoked",
    },
    "OutOfDate": {"UpToDate": "OutOfDate", "OutOfDate": "OutOfDate", "Revoked": "Revoked"},
    "OutOfDateConfigurationNeeded": {
        "UpToDate": "OutOfDateConfigurationNeeded",
        "OutOfDate": "OutOfDateConfigurationNeeded",
        "Revoked": "Revoked",
    },
    "Revoked": {"UpToDate": "Revoked", "OutOfDate": "Revoked", "Revoked": "Revoked"},
}
PLATFORM_STATUSES = list(TABLE)
COMPONENT_STATUSES = list(TABLE["UpToDate"])


def merged(platform: str, components: list[str]) -> str:
    worst = "Revoked" if "Revoked" in components else "OutOfDate" if "OutOfDate" in components else "UpToDate"
    return TABLE[platform][worst]


def sixteen(values: tuple[int, ...]) -> tuple[int, ...]:
    return (*values, *([0] * (16 - len(values))))


def date(i: int) -> str:
    """A distinct date per level, so the verifier's choice can be read back from its supplemental data."""
    return f"{2000 + i:04d}-01-01T00:00:00Z"


@dataclass(frozen=True)
class Expected:
    failure: Failure | None
    status: str | None = None
    platform_date: str | None = None
    qe_date: str | None = None


def identity_levels(draw: st.DrawFn, first_date: int) -> tuple[cat.IdentityLevelSpec, ...]:
    svns = draw(st.lists(st.integers(0, 6), min_size=1, max_size=4, unique=True))
    return tuple(
        cat.IdentityLevelSpec(svn, draw(st.sampled_from(COMPONENT_STATUSES)), date(first_date + i))
        for i, svn in enumerate(svns)
    )


def identity_oracle(levels: tuple[cat.IdentityLevelSpec, ...], svn: int) -> cat.IdentityLevelSpec | None:
    reached = [level for level in levels if level.isv_svn <= svn]
    return max(reached, key=lambda level: level.isv_svn) if reached else None


def reaches(values: tuple[int, ...], minimums: tuple[int, ...], start: int = 0) -> bool:
    return all(values[i] >= minimums[i] for i in range(start, 16))


# ---- SGX ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SgxCase:
    levels: tuple[cat.TcbLevelSpec, ...]
    qe_levels: tuple[cat.IdentityLevelSpec, ...]
    cpu_svn: tuple[int, ...]
    pce_svn: int
    qe_svn: int


@st.composite
def sgx_cases(draw: st.DrawFn) -> SgxCase:
    tcbs = draw(
        st.lists(
            st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)), st.integers(0, 2)),
            min_size=1,
            max_size=7,
            unique=True,
        )
    )
    levels = tuple(
        cat.TcbLevelSpec(sixteen(comps), pce, draw(st.sampled_from(PLATFORM_STATUSES)), date(i))
        for i, (comps, pce) in enumerate(tcbs)
    )
    cpu = sixteen(draw(st.tuples(st.integers(0, 4), st.integers(0, 4))))
    return SgxCase(levels, identity_levels(draw, 50), cpu, draw(st.integers(0, 3)), draw(st.integers(0, 7)))


def sgx_oracle(case: SgxCase, components: tuple[int, ...], pce_svn: int) -> Expected:
    reached = [lv for lv in case.levels if reaches(components, lv.components) and pce_svn >= lv.pce_svn]
    qe = identity_oracle(case.qe_levels, case.qe_svn)
    if not reached or qe is None:
        return Expected(Failure.TCB_NOT_SUPPORTED)
    level = max(reached, key=lambda lv: (lv.components, lv.pce_svn))
    status = merged(level.status, [qe.status])
    if status == "Revoked":
        return Expected(Failure.TCB_REVOKED)
    return Expected(None, status, level.tcb_date, qe.tcb_date)


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(sgx_cases())
def test_sgx_level_choice_and_merge_follow_intels_rules(case: SgxCase) -> None:
    base = cat.default_catalog()
    catalog = base.with_fmspc(
        cat.FmspcEntry(FMSPC, "E3", {n: cat.FmspcTcb(case.levels) for n in base.numbers})
    ).with_enclave(cat.EnclaveIdentitySpec("QE", cat.SGX_QE_MRSIGNER, 1, case.qe_levels))
    intel = SimulatedIntel(seed=17, now=REFERENCE_TIME, catalog=catalog)
    # A PCK certificate for exactly the platform's TCB (not snapped to a level, as one issued under an older
    # TCB info can be), so that the verifier's search over the levels is what is tested.
    platform = intel.sgx_platform(
        fmspc=FMSPC,
        cpu_svn=bytes(case.cpu_svn),
        pce_svn=case.pce_svn,
        qe_svn=case.qe_svn,
        pck_tcb=(case.cpu_svn, case.pce_svn),
    )
    check(appraise(intel, platform), sgx_oracle(case, case.cpu_svn, case.pce_svn))


# ---- TDX ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TdxCase:
    levels: tuple[cat.TcbLevelSpec, ...]
    module_levels: tuple[cat.IdentityLevelSpec, ...]
    qe_levels: tuple[cat.IdentityLevelSpec, ...]
    cpu_svn: tuple[int, ...]
    tee_tcb_svn: tuple[int, ...]
    qe_svn: int


@st.composite
def tdx_cases(draw: st.DrawFn) -> TdxCase:
    keys = draw(
        st.lists(
            st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)), min_size=1, max_size=7, unique=True
        )
    )
    levels = tuple(
        cat.TcbLevelSpec(
            sixteen((sgx, sgx)),
            1,
            draw(st.sampled_from(PLATFORM_STATUSES)),
            date(i),
            (),
            sixteen((draw(st.integers(0, 3)), 0, late, extra)),
        )
        for i, (sgx, late, extra) in enumerate(keys)
    )
    module_version = draw(st.sampled_from([0, 1]))
    svn = sixteen((draw(st.integers(0, 6)), module_version, draw(st.integers(0, 3)), draw(st.integers(0, 3))))
    cpu = sixteen((draw(st.integers(0, 3)), draw(st.integers(0, 3))))
    return TdxCase(levels, identity_levels(draw, 30), identity_levels(draw, 50), cpu, svn, draw(st.integers(0, 7)))


def tdx_oracle(case: TdxCase, components: tuple[int, ...], pce_svn: int) -> Expected:
    svn = case.tee_tcb_svn
    start = 2 if svn[1] > 0 else 0
    reached = [
        lv
        for lv in case.levels
        if reaches(components, lv.components)
        and pce_svn >= lv.pce_svn
        and lv.tdx_components is not None
        and reaches(svn, lv.tdx_components, start)
    ]
    qe = identity_oracle(case.qe_levels, case.qe_svn)
    module = identity_oracle(case.module_levels, svn[0]) if svn[1] > 0 else None
    if not reached or qe is None or (svn[1] > 0 and module is None):
        return Expected(Failure.TCB_NOT_SUPPORTED)
    level = max(reached, key=lambda lv: (lv.components, lv.pce_svn, lv.tdx_components or ()))
    status = merged(level.status, [qe.status] + ([module.status] if module is not None else []))
    if status == "Revoked":
        return Expected(Failure.TCB_REVOKED)
    return Expected(None, status, level.tcb_date, qe.tcb_date)


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(tdx_cases())
def test_tdx_level_choice_and_merge_follow_intels_rules(case: TdxCase) -> None:
    base = cat.default_catalog()
    sgx_parts = {lv.sgx_key: lv for lv in case.levels}
    sgx_levels = tuple(cat.TcbLevelSpec(c, p, "UpToDate", date(90)) for c, p in sgx_parts)
    tcb = cat.FmspcTcb(sgx_levels, case.levels, (cat.ModuleIdentitySpec("TDX_01", case.module_levels),))
    catalog = base.with_fmspc(cat.FmspcEntry(FMSPC, "E5", {n: tcb for n in base.numbers})).with_enclave(
        cat.EnclaveIdentitySpec("TD_QE", cat.TD_QE_MRSIGNER, 2, case.qe_levels)
    )
    intel = SimulatedIntel(seed=19, now=REFERENCE_TIME, catalog=catalog)
    platform = intel.tdx_platform(
        fmspc=FMSPC,
        cpu_svn=bytes(case.cpu_svn),
        pce_svn=1,
        qe_svn=case.qe_svn,
        tee_tcb_svn=bytes(case.tee_tcb_svn),
        pck_tcb=(case.cpu_svn, 1),
    )
    check(appraise(intel, platform), tdx_oracle(case, case.cpu_svn, 1))


def appraise(intel: SimulatedIntel, platform: SimulatedSgxPlatform | SimulatedTdxPlatform) -> VerificationResult:
    return Verifier(trusted_root=intel.trust_root).appraise(platform.quote(), intel.collateral_for(platform), at=AT)


def check(result: VerificationResult, expected: Expected) -> None:
    assert result.failure == expected.failure, result.detail
    if expected.failure is not None:
        return
    assert expected.status is not None and result.tcb_status == TcbStatus(expected.status)
    assert result.supplemental is not None
    assert iso(result.supplemental.platform_tcb_level_date) == expected.platform_date
    assert iso(result.supplemental.qe_tcb_level_date) == expected.qe_date
