"""What the simulated Intel knows about TCBs: the levels of each FMSPC, the TDX module and enclave identities,
and the TCB evaluation data numbers (``standard`` and ``early``, one TCB recovery apart).

The default catalog is built so that every TCB status is reachable by choosing SVNs: the tables at the end
(``SGX_TCB_FOR_STATUS``, ``QE_SVN_FOR_STATUS``, ``MODULE_SVN_FOR_STATUS``) say which SVNs reach which level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from pydcap.intel import TcbStatus

# The statuses documents spell, named once (by the verifier) so that the simulator cannot misspell one.
UP_TO_DATE: str = TcbStatus.UP_TO_DATE
SW_HARDENING_NEEDED: str = TcbStatus.SW_HARDENING_NEEDED
CONFIGURATION_NEEDED: str = TcbStatus.CONFIGURATION_NEEDED
CONFIGURATION_AND_SW_HARDENING_NEEDED: str = TcbStatus.CONFIGURATION_AND_SW_HARDENING_NEEDED
OUT_OF_DATE: str = TcbStatus.OUT_OF_DATE
OUT_OF_DATE_CONFIGURATION_NEEDED: str = TcbStatus.OUT_OF_DATE_CONFIGURATION_NEEDED
REVOKED: str = TcbStatus.REVOKED
PLATFORM_STATUSES = (
    UP_TO_DATE,
    SW_HARDENING_NEEDED,
    CONFIGURATION_NEEDED,
    CONFIGURATION_AND_SW_HARDENING_NEEDED,
    OUT_OF_DATE,
    OUT_OF_DATE_CONFIGURATION_NEEDED,
    REVOKED,
)
COMPONENT_STATUSES = (UP_TO_DATE, OUT_OF_DATE, REVOKED)
BELOW_EVERY_LEVEL = "below-every-level"

SGX_FMSPC = bytes.fromhex("00906ED50000")
SGX_MULTI_PACKAGE_FMSPC = bytes.fromhex("00606A000000")
TDX_FMSPC = bytes.fromhex("00806F050000")
TDX_SECOND_FMSPC = bytes.fromhex("90C06F000000")

STANDARD_EVALUATION = 17
EARLY_EVALUATION = 18

SGX_QE_MRSIGNER = bytes.fromhex("8C4F5775D796503E96137F77C68A829A0056AC8DED70140B081B094490C57BFF")
TD_QE_MRSIGNER = bytes.fromhex("DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5")


@dataclass(frozen=True, slots=True)
class TcbLevelSpec:
    """One ``tcbLevels`` entry of a TCB info: 16 SGX component SVNs, PCESVN and (TDX) 16 TDX component SVNs."""

    components: tuple[int, ...]
    pce_svn: int
    status: str
    tcb_date: str
    advisory_ids: tuple[str, ...] = ()
    tdx_components: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.components) != 16 or (self.tdx_components is not None and len(self.tdx_components) != 16):
            raise ValueError("a TCB level has 16 SGX (and 16 TDX) components")

    @property
    def sgx_key(self) -> tuple[tuple[int, ...], int]:
        return (self.components, self.pce_svn)


@dataclass(frozen=True, slots=True)
class IdentityLevelSpec:
    """One TCB level of an enclave identity or a TDX module identity."""

    isv_svn: int
    status: str
    tcb_date: str
    advisory_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ModuleIdentitySpec:
    """A ``tdxModuleIdentities`` entry (``TDX_01``, ``TDX_03``, ...)."""

    id: str
    levels: tuple[IdentityLevelSpec, ...]
    mr_signer: bytes = bytes(48)
    attributes: bytes = bytes(8)
    attributes_mask: bytes = b"\xff" * 8


@dataclass(frozen=True, slots=True)
class FmspcTcb:
    """Everything one TCB evaluation says about one FMSPC. ``tdx_levels`` is empty for SGX-only platforms."""

    sgx_levels: tuple[TcbLevelSpec, ...]
    tdx_levels: tuple[TcbLevelSpec, ...] = ()
    module_identities: tuple[ModuleIdentitySpec, ...] = ()


@dataclass(frozen=True, slots=True)
class FmspcEntry:
    """One FMSPC (a platform model): its market segment and its TCB at each evaluation data number."""

    fmspc: bytes
    segment: str
    tcb: Mapping[int, FmspcTcb]
    pce_id: bytes = b"\x00\x00"

    @property
    def has_tdx(self) -> bool:
        return any(t.tdx_levels for t in self.tcb.values())


@dataclass(frozen=True, slots=True)
class EnclaveIdentitySpec:
    """An enclave identity document's content (QE, TD_QE or QVE), identical at every evaluation number."""

    id: str
    mr_signer: bytes
    isv_prod_id: int
    levels: tuple[IdentityLevelSpec, ...]
    miscselect: bytes = bytes(4)
    miscselect_mask: bytes = b"\xff" * 4
    attributes: bytes = bytes.fromhex("11000000000000000000000000000000")
    attributes_mask: bytes = bytes.fromhex("FBFFFFFFFFFFFFFF0000000000000000")


@dataclass(frozen=True, slots=True)
class EvaluationEvent:
    """A TCB evaluation data number and the dates of its TCB recovery event."""

    number: int
    tcb_recovery_event_date: str
    tcb_date: str


@dataclass(frozen=True)
class Catalog:
    """The TCB knowledge of one simulated Intel. Immutable: ``with_fmspc`` and ``with_enclave`` return copies."""

    fmspcs: Mapping[bytes, FmspcEntry]
    enclaves: Mapping[str, EnclaveIdentitySpec]
    evaluations: tuple[EvaluationEvent, ...]
    standard: int = STANDARD_EVALUATION
    early: int = EARLY_EVALUATION
    default_fmspc: Mapping[str, bytes] = field(
        default_factory=lambda: MappingProxyType({"sgx": SGX_FMSPC, "tdx": TDX_FMSPC})
    )

    def entry(self, fmspc: bytes) -> FmspcEntry | None:
        return self.fmspcs.get(bytes(fmspc))

    def with_fmspc(self, entry: FmspcEntry) -> Catalog:
        return replace(self, fmspcs=MappingProxyType({**self.fmspcs, entry.fmspc: entry}))

    def with_enclave(self, spec: EnclaveIdentitySpec) -> Catalog:
        return replace(self, enclaves=MappingProxyType({**self.enclaves, spec.id: spec}))

    def evaluation_number(self, update: str | None = None, number: int | None = None) -> int:
        """The evaluation data number for ``update`` (``standard`` or ``early``) or an explicit ``number``."""
        if number is not None:
            return number
        if update in (None, "standard"):
            return self.standard
        if update == "early":
            return self.early
        raise ValueError(f"update must be 'standard' or 'early', not {update!r}")

    @property
    def numbers(self) -> tuple[int, ...]:
        """The evaluation data numbers documents exist for, newest first."""
        return tuple(sorted((e.number for e in self.evaluations), reverse=True))


def components(microcode: int, config: int) -> tuple[int, ...]:
    """The SGX TCB components of the default catalog: microcode SVNs, then fixed BIOS SVNs, then a
    configuration-dependent component (0 means the platform lacks a recommended configuration)."""
    return (microcode, microcode, 2, 2, 3, 1, config, 0, 0, 0, 0, 0, 0, 0, 0, 0)


def tdx_components(late_microcode: int) -> tuple[int, ...]:
    """TDX components: module SVN and version (compared only for TDX 1.0 modules), then late microcode."""
    return (5, 0, late_microcode, *([0] * 13))


_SA_SW = "INTEL-SA-00615"
_SA_CONFIG = "INTEL-SA-00289"
_SA_OLD = "INTEL-SA-00828"
_SA_RECOVERY = "INTEL-SA-01079"

# status -> (SGX components, PCESVN) of the default catalog's levels, standard evaluation.
SGX_TCB_FOR_STATUS: Mapping[str, tuple[tuple[int, ...], int]] = MappingProxyType(
    {
        UP_TO_DATE: (components(6, 1), 13),
        SW_HARDENING_NEEDED: (components(6, 1), 12),
        CONFIGURATION_NEEDED: (components(6, 0), 13),
        CONFIGURATION_AND_SW_HARDENING_NEEDED: (components(6, 0), 12),
        OUT_OF_DATE: (components(5, 1), 13),
        OUT_OF_DATE_CONFIGURATION_NEEDED: (components(5, 0), 13),
        REVOKED: (components(4, 0), 11),
        BELOW_EVERY_LEVEL: (components(3, 0), 11),
    }
)
# The TCB of a platform that installed the microcode of the TCB recovery (UpToDate in the early documents).
RECOVERED_SGX_TCB = (components(7, 1), 13)

QE_SVN_FOR_STATUS: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {
        "QE": MappingProxyType({UP_TO_DATE: 8, OUT_OF_DATE: 6, REVOKED: 2, BELOW_EVERY_LEVEL: 1}),
        "TD_QE": MappingProxyType({UP_TO_DATE: 4, OUT_OF_DATE: 3, REVOKED: 2, BELOW_EVERY_LEVEL: 1}),
    }
)
MODULE_SVN_FOR_STATUS: Mapping[str, int] = MappingProxyType(
    {UP_TO_DATE: 5, OUT_OF_DATE: 2, REVOKED: 1, BELOW_EVERY_LEVEL: 0}
)
# The module SVN that is UpToDate after the TCB recovery (early documents).
RECOVERED_MODULE_SVN = 6
DEFAULT_LATE_MICROCODE = 3
OUT_OF_DATE_LATE_MICROCODE = 2

_ADVISORIES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        UP_TO_DATE: (),
        SW_HARDENING_NEEDED: (_SA_SW,),
        CONFIGURATION_NEEDED: (_SA_CONFIG,),
        CONFIGURATION_AND_SW_HARDENING_NEEDED: (_SA_CONFIG, _SA_SW),
        OUT_OF_DATE: (_SA_OLD,),
        OUT_OF_DATE_CONFIGURATION_NEEDED: (_SA_CONFIG, _SA_OLD),
        REVOKED: ("INTEL-SA-00233",),
    }
)
_DATES: Mapping[str, str] = MappingProxyType(
    {
        UP_TO_DATE: "2024-03-13T00:00:00Z",
        SW_HARDENING_NEEDED: "2024-03-13T00:00:00Z",
        CONFIGURATION_NEEDED: "2024-03-13T00:00:00Z",
        CONFIGURATION_AND_SW_HARDENING_NEEDED: "2024-03-13T00:00:00Z",
        OUT_OF_DATE: "2023-02-15T00:00:00Z",
        OUT_OF_DATE_CONFIGURATION_NEEDED: "2023-02-15T00:00:00Z",
        REVOKED: "2019-11-13T00:00:00Z",
    }
)
_RECOVERY_DATE = "2024-11-13T00:00:00Z"


def _standard_sgx_levels() -> tuple[TcbLevelSpec, ...]:
    return tuple(
        TcbLevelSpec(comps, pce, status, _DATES[status], _ADVISORIES[status])
        for status, (comps, pce) in SGX_TCB_FOR_STATUS.items()
        if status != BELOW_EVERY_LEVEL
    )


def _recovered(levels: tuple[TcbLevelSpec, ...]) -> tuple[TcbLevelSpec, ...]:
    """The levels after a TCB recovery: new microcode on top, everything below it one step worse."""
    top = tuple(
        TcbLevelSpec(
            components(7, level.components[6]), level.pce_svn, level.status, _RECOVERY_DATE, level.advisory_ids
        )
        for level in levels
        if level.status
        in (UP_TO_DATE, SW_HARDENING_NEEDED, CONFIGURATION_NEEDED, CONFIGURATION_AND_SW_HARDENING_NEEDED)
    )
    worse = {
        UP_TO_DATE: OUT_OF_DATE,
        SW_HARDENING_NEEDED: OUT_OF_DATE,
        CONFIGURATION_NEEDED: OUT_OF_DATE_CONFIGURATION_NEEDED,
        CONFIGURATION_AND_SW_HARDENING_NEEDED: OUT_OF_DATE_CONFIGURATION_NEEDED,
    }
    older = tuple(
        replace(
            level,
            status=worse.get(level.status, level.status),
            advisory_ids=(*level.advisory_ids, _SA_RECOVERY) if level.status in worse else level.advisory_ids,
        )
        for level in levels
    )
    return top + older


def _with_tdx(levels: tuple[TcbLevelSpec, ...]) -> tuple[TcbLevelSpec, ...]:
    """TDX levels: each SGX level with the current TDX components, plus an OutOfDate level for a platform whose
    TDX late microcode lags behind the newest SGX TCB."""
    out = [replace(level, tdx_components=tdx_components(DEFAULT_LATE_MICROCODE)) for level in levels]
    top = levels[0]
    out.append(
        TcbLevelSpec(
            top.components,
            top.pce_svn,
            OUT_OF_DATE,
            "2023-08-09T00:00:00Z",
            ("INTEL-SA-00837",),
            tdx_components(OUT_OF_DATE_LATE_MICROCODE),
        )
    )
    return tuple(out)


def _module_identities(early: bool) -> tuple[ModuleIdentitySpec, ...]:
    old = ("INTEL-SA-01036",)
    levels = [
        IdentityLevelSpec(4, UP_TO_DATE, "2024-03-13T00:00:00Z"),
        IdentityLevelSpec(2, OUT_OF_DATE, "2023-08-09T00:00:00Z", old),
        IdentityLevelSpec(1, REVOKED, "2023-02-15T00:00:00Z", ("INTEL-SA-00837",)),
    ]
    if early:
        levels = [
            IdentityLevelSpec(RECOVERED_MODULE_SVN, UP_TO_DATE, _RECOVERY_DATE),
            replace(levels[0], status=OUT_OF_DATE, advisory_ids=(_SA_RECOVERY,)),
            *levels[1:],
        ]
    return (
        ModuleIdentitySpec("TDX_03", (IdentityLevelSpec(3, UP_TO_DATE, "2024-03-13T00:00:00Z"),)),
        ModuleIdentitySpec("TDX_01", tuple(levels)),
    )


def default_fmspc_tcb(tdx: bool, number: int) -> FmspcTcb:
    """The TCB of a default-catalog FMSPC at evaluation ``number`` (early = after the TCB recovery)."""
    sgx = _standard_sgx_levels()
    if number >= EARLY_EVALUATION:
        sgx = _recovered(sgx)
    if not tdx:
        return FmspcTcb(sgx)
    return FmspcTcb(sgx, _with_tdx(sgx), _module_identities(number >= EARLY_EVALUATION))


def default_entry(fmspc: bytes, *, tdx: bool, segment: str = "E5") -> FmspcEntry:
    """An FMSPC with the default catalog's levels at the standard and early evaluation numbers."""
    return FmspcEntry(
        fmspc=bytes(fmspc),
        segment=segment,
        tcb=MappingProxyType({n: default_fmspc_tcb(tdx, n) for n in (STANDARD_EVALUATION, EARLY_EVALUATION)}),
    )


def _identity_levels(svns: Mapping[str, int], dates: tuple[str, str, str]) -> tuple[IdentityLevelSpec, ...]:
    return (
        IdentityLevelSpec(svns[UP_TO_DATE], UP_TO_DATE, dates[0]),
        IdentityLevelSpec(svns[OUT_OF_DATE], OUT_OF_DATE, dates[1], (_SA_SW,)),
        IdentityLevelSpec(svns[REVOKED], REVOKED, dates[2], ("INTEL-SA-00219", "INTEL-SA-00293")),
    )


def default_catalog() -> Catalog:
    """The catalog of a fresh ``SimulatedIntel``: four FMSPCs, QE / TD_QE / QvE identities, evaluations 17, 18."""
    entries = (
        default_entry(SGX_FMSPC, tdx=False, segment="E3"),
        default_entry(SGX_MULTI_PACKAGE_FMSPC, tdx=False, segment="E5"),
        default_entry(TDX_FMSPC, tdx=True, segment="E5"),
        default_entry(TDX_SECOND_FMSPC, tdx=True, segment="E5"),
    )
    enclaves = (
        EnclaveIdentitySpec(
            "QE",
            SGX_QE_MRSIGNER,
            1,
            _identity_levels(
                QE_SVN_FOR_STATUS["QE"], ("2024-03-13T00:00:00Z", "2021-11-10T00:00:00Z", "2019-05-15T00:00:00Z")
            ),
        ),
        EnclaveIdentitySpec(
            "TD_QE",
            TD_QE_MRSIGNER,
            2,
            _identity_levels(
                QE_SVN_FOR_STATUS["TD_QE"],
                ("2024-03-13T00:00:00Z", "2023-08-09T00:00:00Z", "2023-02-15T00:00:00Z"),
            ),
        ),
        EnclaveIdentitySpec("QVE", SGX_QE_MRSIGNER, 2, (IdentityLevelSpec(3, UP_TO_DATE, "2024-03-13T00:00:00Z"),)),
    )
    return Catalog(
        fmspcs=MappingProxyType({e.fmspc: e for e in entries}),
        enclaves=MappingProxyType({e.id: e for e in enclaves}),
        evaluations=(
            EvaluationEvent(EARLY_EVALUATION, "2024-11-12T00:00:00Z", _RECOVERY_DATE),
            EvaluationEvent(STANDARD_EVALUATION, "2024-03-12T00:00:00Z", "2024-03-13T00:00:00Z"),
        ),
    )
