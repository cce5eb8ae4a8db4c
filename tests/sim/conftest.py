"""Shared fixtures of the simulator tests: one simulated Intel per test module (key derivation and
certificate issuance are the slow part), issued at the fixed reference time."""

from __future__ import annotations

import pytest

from pydcap import Verifier
from pydcap.sim import REFERENCE_TIME, SimulatedIntel


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=7, now=REFERENCE_TIME)


@pytest.fixture(scope="module")
def verifier(intel: SimulatedIntel) -> Verifier:
    return Verifier(trusted_root=intel.trust_root)
