"""A simulated fleet: many distinct platforms sharing a few FMSPCs' collateral, as an attestation service sees them.

Each platform has its own PCK certificate, QE report and attestation key, and signs two quotes: a first contact
and a re-attestation (other report data, same platform). Platforms cycle through the status table's scenarios
(every non-revoked platform status with a current or out-of-date QE, or TDX module), so verdicts vary; the
collateral is one bundle per FMSPC. ``make_fleet(n)`` is deterministic, and its first ``k`` platforms are
``make_fleet(k)``. ``write_fleet`` / ``read_fleet`` keep a fleet in a directory that ``pydcap verify`` reads::

    DIR/root_ca.pem  DIR/fleet.json  DIR/collateral/<group>/...  DIR/quotes/<name>.bin  DIR/again/<name>.bin
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydcap.collateral.bundle import Collateral
from pydcap.intel.time import TimeLike
from pydcap.pki.certs import split_pem_chain
from pydcap.pki.trust import TrustRoot
from pydcap.sim import catalog as cat
from pydcap.sim.intel import REFERENCE_TIME, SimulatedIntel
from pydcap.sim.pki import DAY
from pydcap.sim.scenario_model import Scenario, kebab
from pydcap.sim.scenarios import SCENARIOS

FORMAT = "pydcap-sim-fleet/1"
DEFAULT_SEED = 14


@dataclass(frozen=True)
class FleetGroup:
    """Platforms of one model: a TEE, an FMSPC and the CA that certifies them (one collateral bundle)."""

    name: str
    tee: str
    fmspc: bytes
    ca: str


# Five FMSPCs: two single-socket SGX models, a multi-package SGX server (platform CA) and two TDX models.
GROUPS = (
    FleetGroup("sgx-e3", "sgx", cat.SGX_FMSPC, "processor"),
    FleetGroup("sgx-e3b", "sgx", bytes.fromhex("00906EA50000"), "processor"),
    FleetGroup("sgx-multi", "sgx", cat.SGX_MULTI_PACKAGE_FMSPC, "platform"),
    FleetGroup("tdx-spr", "tdx", cat.TDX_FMSPC, "platform"),
    FleetGroup("tdx-emr", "tdx", cat.TDX_SECOND_FMSPC, "platform"),
)


@dataclass(frozen=True)
class FleetMember:
    """One platform: its two quotes, the index of its collateral bundle and the status Intel gives it."""

    name: str
    group: int
    scenario: str
    expected: str
    first: bytes
    again: bytes


@dataclass(frozen=True)
class Fleet:
    """``members`` and one collateral bundle per group, all valid at ``at`` under the root ``root_pem``."""

    seed: int
    at: int
    root_pem: bytes
    collateral: tuple[Collateral, ...]
    members: tuple[FleetMember, ...]

    def __len__(self) -> int:
        return len(self.members)

    def prefix(self, count: int) -> Fleet:
        """The fleet of the first ``count`` platforms (equal to ``make_fleet(count)`` with the same seed)."""
        return Fleet(self.seed, self.at, self.root_pem, self.collateral, self.members[:count])

    def collateral_of(self, member: FleetMember) -> Collateral:
        return self.collateral[member.group]

    def trust_root(self) -> TrustRoot:
        """The simulated root with the simulated Intel's CA and TCB Signing certificates pinned, as
        ``TrustRoot.intel()`` pins Intel's (read from the bundles' issuer chains, each checked against the root
        once here)."""
        issued = {
            block
            for bundle in self.collateral
            for chain in (bundle.pck_crl_issuer_chain, bundle.tcb_info_issuer_chain, bundle.qe_identity_issuer_chain)
            for block in split_pem_chain(chain)
        }
        return TrustRoot.from_pem(self.root_pem, issued=issued)  # the root among them: it signed itself


def _scenarios(tee: str) -> list[Scenario]:
    """The status-table scenarios a healthy fleet shows: nothing revoked, the QE (or TDX module) current or not."""
    components = (cat.UP_TO_DATE, cat.OUT_OF_DATE)
    names = []
    for platform in cat.PLATFORM_STATUSES[:-1]:  # all but Revoked
        for other in components:
            if tee == "sgx":
                names.append(f"merge-{kebab(platform)}-qe-{kebab(other)}")
            else:
                names.append(f"merge-{kebab(platform)}-qe-up-to-date-module-{kebab(other)}")
    return [SCENARIOS[n] for n in names]


def make_fleet(count: int, *, seed: int = DEFAULT_SEED, now: TimeLike = REFERENCE_TIME) -> Fleet:
    """``count`` distinct platforms over ``GROUPS``, issued by ``SimulatedIntel(seed, now=now)``; ``at``, a day
    later, is a time when all its collateral is fresh."""
    intel = SimulatedIntel(seed, now=now)
    scenarios = {tee: _scenarios(tee) for tee in ("sgx", "tdx")}
    members = []
    for i in range(count):
        index = i % len(GROUPS)
        group = GROUPS[index]
        scenario = scenarios[group.tee][(i // len(GROUPS)) % len(scenarios[group.tee])]
        make = intel.sgx_platform if group.tee == "sgx" else intel.tdx_platform
        platform = make(scenario=scenario.name, name=f"fleet-{i:05d}", fmspc=group.fmspc, ca=group.ca)
        expected = scenario.expected.tcb_status
        assert expected is not None  # no revoked scenario is chosen
        members.append(
            FleetMember(
                name=platform.name,
                group=index,
                scenario=scenario.name,
                expected=expected.value,
                first=platform.quote(report_data=f"first contact {i}".encode()),
                again=platform.quote(report_data=f"re-attestation {i}".encode()),
            )
        )
    collateral = tuple(intel.collateral_for(_quote_of(members, index)) for index in range(len(GROUPS)))
    return Fleet(seed, intel.now + DAY, intel.root_pem, collateral, tuple(members))


def _quote_of(members: list[FleetMember], group: int) -> bytes:
    for member in members:
        if member.group == group:
            return member.first
    raise ValueError(f"a fleet needs at least {len(GROUPS)} platforms, one per group")


def write_fleet(fleet: Fleet, directory: str | Path) -> None:
    """Keep ``fleet`` in ``directory`` (created): quotes as files, collateral in the shared test-data layout."""
    d = Path(directory)
    for sub in ("quotes", "again"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    for index, collateral in enumerate(fleet.collateral):
        collateral.write_directory(d / "collateral" / GROUPS[index].name)
    for member in fleet.members:
        (d / "quotes" / f"{member.name}.bin").write_bytes(member.first)
        (d / "again" / f"{member.name}.bin").write_bytes(member.again)
    (d / "root_ca.pem").write_bytes(fleet.root_pem)
    manifest = {
        "format": FORMAT,
        "seed": fleet.seed,
        "at": fleet.at,
        "groups": [g.name for g in GROUPS],
        "members": [
            {"name": m.name, "group": m.group, "scenario": m.scenario, "expected": m.expected} for m in fleet.members
        ],
    }
    (d / "fleet.json").write_text(json.dumps(manifest, indent=0))


def read_fleet(directory: str | Path) -> Fleet:
    """A fleet ``write_fleet`` kept; ``ValueError`` if the directory holds no complete fleet of this format."""
    d = Path(directory)
    try:
        manifest = json.loads((d / "fleet.json").read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{d} holds no fleet: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("groups") != [g.name for g in GROUPS]:
        raise ValueError(f"{d} holds a fleet of another format")
    collateral = tuple(Collateral.from_directory(d / "collateral" / g.name) for g in GROUPS)
    members = tuple(
        FleetMember(
            name=m["name"],
            group=m["group"],
            scenario=m["scenario"],
            expected=m["expected"],
            first=(d / "quotes" / f"{m['name']}.bin").read_bytes(),
            again=(d / "again" / f"{m['name']}.bin").read_bytes(),
        )
        for m in manifest["members"]
    )
    return Fleet(manifest["seed"], manifest["at"], (d / "root_ca.pem").read_bytes(), collateral, members)


def cached_fleet(count: int, directory: str | Path, *, seed: int = DEFAULT_SEED) -> Fleet:
    """At least ``count`` platforms of ``make_fleet``, kept under ``directory``: read back when a large enough
    fleet of this seed is there, else made (``count`` platforms) and written there."""
    d = Path(directory) / f"seed{seed}"
    try:
        fleet = read_fleet(d)
    except (OSError, ValueError):
        pass
    else:
        if len(fleet) >= count and fleet.seed == seed:
            return fleet
    fleet = make_fleet(count, seed=seed)
    write_fleet(fleet, d)
    return fleet
