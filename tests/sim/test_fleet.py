"""A simulated fleet: its verdicts, through a long-lived verifier's caches, equal a fresh verifier's on every quote."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pydcap.collateral import Collateral
from pydcap.pki import TrustRoot
from pydcap.sim import SimulatedIntel
from pydcap.sim import catalog as cat
from pydcap.sim.fleet import GROUPS, Fleet, cached_fleet, make_fleet, read_fleet, write_fleet
from pydcap.verify import Verifier

# 12 scenarios per TEE over 5 groups: 60 platforms show every scenario on every FMSPC.
FLEET_SIZE = 60


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return make_fleet(FLEET_SIZE)


def test_fleet_spans_groups_and_statuses(fleet: Fleet) -> None:
    assert len(fleet) == FLEET_SIZE
    assert Counter(m.group for m in fleet.members) == dict.fromkeys(range(len(GROUPS)), FLEET_SIZE // len(GROUPS))
    assert len({(m.group, m.scenario) for m in fleet.members}) == FLEET_SIZE
    assert {m.expected for m in fleet.members} == set(cat.PLATFORM_STATUSES) - {cat.REVOKED}
    assert len({m.first for m in fleet.members} | {m.again for m in fleet.members}) == 2 * FLEET_SIZE


def test_long_lived_verifier_gives_every_fresh_verdict(fleet: Fleet) -> None:
    """First contact, then re-attestation, through one verifier's caches: each verdict equals that of a new
    verifier given freshly parsed collateral, and the status is the one the platform's scenario implies."""
    shared = Verifier(trusted_root=fleet.root_pem)
    for attr in ("first", "again"):
        for member in fleet.members:
            quote = getattr(member, attr)
            cached = shared.verify(quote, fleet.collateral_of(member), at=fleet.at)
            fresh_collateral = Collateral.from_json(fleet.collateral_of(member).to_json())
            fresh = Verifier(trusted_root=fleet.root_pem).verify(quote, fresh_collateral, at=fleet.at)
            assert cached.to_dict() == fresh.to_dict(), member.name
            assert cached.failure is None and cached.tcb_status == member.expected, member.name
            assert cached.accepted == (member.expected == "UpToDate")


def test_the_fleets_root_pins_the_simulated_intels_certificates(fleet: Fleet) -> None:
    """``Fleet.trust_root()`` (the bench's root) pins what the simulated Intel's own root pins: its root, CAs and TCB
    Signing certificate; a fresh verifier under it gives every verdict a root that pins nothing gives."""
    pinned = fleet.trust_root()
    assert pinned.signed_certificates == SimulatedIntel(seed=fleet.seed).trust_root.signed_certificates
    assert len(pinned.signed_certificates) == 4
    bare = TrustRoot.from_pem(fleet.root_pem)
    for member in fleet.members[:: len(GROUPS) + 1]:
        collateral = fleet.collateral_of(member)
        with_pins = Verifier(trusted_root=pinned).verify(member.first, collateral, at=fleet.at)
        assert (
            with_pins.to_dict() == Verifier(trusted_root=bare).verify(member.first, collateral, at=fleet.at).to_dict()
        )


def test_fleet_kept_on_disk(tmp_path: Path, fleet: Fleet) -> None:
    write_fleet(fleet, tmp_path / "f")
    assert read_fleet(tmp_path / "f") == fleet
    assert make_fleet(10) == fleet.prefix(10)  # a smaller fleet is the start of a larger one

    kept = cached_fleet(10, tmp_path / "cache")
    assert kept == fleet.prefix(10)
    assert cached_fleet(5, tmp_path / "cache") == kept  # read back: large enough
    assert len(cached_fleet(15, tmp_path / "cache")) == 15  # made again, larger


def test_a_directory_without_a_fleet_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holds no fleet"):
        read_fleet(tmp_path)
