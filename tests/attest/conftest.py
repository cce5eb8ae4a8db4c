"""Fixtures of the attestation service tests: one simulated Intel and its PCS on loopback per session, and one
attestation service per test module (HTTPS with its self-signed certificate, as deployed), with an administrator
token and a tenant ``acme``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pydcap.attest import AttestServer
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.support.attest import attest_config


@pytest.fixture(scope="session")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=1)


@pytest.fixture(scope="session")
def pcs(intel: SimulatedIntel) -> Iterator[SimulatedPcs]:
    with SimulatedPcs(intel) as server:
        yield server


@pytest.fixture(scope="session")
def root_file(intel: SimulatedIntel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("attest-root") / "sim-root.pem"
    path.write_bytes(intel.root_pem)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pcs: SimulatedPcs, root_file: Path) -> Iterator[AttestServer]:
    directory = tmp_path_factory.mktemp("attest")
    with AttestServer(attest_config(directory, pcs, root_file)) as running:
        yield running
