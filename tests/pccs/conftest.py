"""Fixtures of the PCCS tests: one simulated Intel and its PCS (real HTTP on loopback) per session, and
PCCS servers started for real on loopback ports, each on its own SQLite file (or PostgreSQL schema), in a
thread (``make_pccs``) or as ``pydcap pccs serve`` in a subprocess (``serving``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pydcap.pccs import CachingMode, PccsServer
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.support.pccs import Factory, base_config


@pytest.fixture(scope="session")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=1)


@pytest.fixture(scope="session")
def pcs_server(intel: SimulatedIntel) -> Iterator[SimulatedPcs]:
    with SimulatedPcs(intel) as server:
        yield server


@pytest.fixture
def pcs(pcs_server: SimulatedPcs) -> Iterator[SimulatedPcs]:
    pcs_server.faults.clear()
    pcs_server.reset_stats()
    yield pcs_server
    pcs_server.faults.clear()


@pytest.fixture(scope="session")
def root_file(intel: SimulatedIntel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("root") / "sim-root.pem"
    path.write_bytes(intel.root_pem)
    return path


@pytest.fixture
def make_pccs(tmp_path: Path, pcs: SimulatedPcs, root_file: Path) -> Iterator[Factory]:
    """``make_pccs(mode=CachingMode.REQ, **config)``: a started PCCS whose upstream is the simulated PCS."""
    servers: list[PccsServer] = []

    def make(mode: CachingMode = CachingMode.LAZY, *, name: str = "a", clock: Any = None, **changes: Any) -> PccsServer:
        directory = tmp_path / name
        directory.mkdir(exist_ok=True)
        upstream = changes.pop("upstream", pcs.url)
        config = base_config(directory, upstream, root_file, mode=mode, **changes)
        server = PccsServer.create(config, clock=clock, refresh_tick=0.2).start()
        server.app.service.cache.retry_interval = 0.2  # so that a recovered upstream is asked again soon
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def pydcap_pccs(make_pccs: Factory) -> PccsServer:
    return make_pccs()
