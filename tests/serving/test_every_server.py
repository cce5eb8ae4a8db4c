"""Every server pydcap starts is under ``pydcap.serving``'s limits: the PCCS, the attestation service, the
simulated PCS (``pydcap sim serve``) and the simulated Azure service each refuse an oversized head (431) and an
encoded slash (400) before any route sees them, and say ``nosniff`` on every answer."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from pydcap.attest import AttestConfig, AttestServer
from pydcap.pccs import PccsConfig, PccsServer
from pydcap.sim import SimulatedIntel
from pydcap.sim.azure_server import SimulatedAzure
from pydcap.sim.server import SimulatedPcs
from tests.serving.hostile import HEAD, headers_of, send_and_read, status_of

Start = Callable[[SimulatedIntel, Path], AbstractContextManager[int]]


@contextmanager
def simulated_pcs(intel: SimulatedIntel, _directory: Path) -> Iterator[int]:
    with SimulatedPcs(intel) as server:
        yield int(server.url.rsplit(":", 1)[1])


@contextmanager
def simulated_azure(intel: SimulatedIntel, _directory: Path) -> Iterator[int]:
    with SimulatedAzure(intel) as server:
        yield server.port


@contextmanager
def pccs(intel: SimulatedIntel, directory: Path) -> Iterator[int]:
    (directory / "root.pem").write_bytes(intel.root_pem)
    config = PccsConfig(
        port=0, database=str(directory / "pccs.sqlite3"), root_ca=str(directory / "root.pem"), insecure_http=True,
        state_dir=str(directory), upstream="http://127.0.0.1:9",
    )  # fmt: skip
    with PccsServer.create(config) as server:
        yield server.port


@contextmanager
def attestation_service(intel: SimulatedIntel, directory: Path) -> Iterator[int]:
    (directory / "root.pem").write_bytes(intel.root_pem)
    config = AttestConfig(
        port=0, upstream="http://127.0.0.1:9", database=str(directory / "attest.sqlite3"),
        root_ca=str(directory / "root.pem"), admin_token_hash=hashlib.sha512(b"x").hexdigest(), insecure_http=True,
        state_dir=str(directory),
    )  # fmt: skip
    with AttestServer(config) as server:
        yield server.port


@pytest.mark.parametrize("start", [pccs, attestation_service, simulated_pcs, simulated_azure], ids=lambda f: f.__name__)
def test_the_server_refuses_before_routing(start: Start, tmp_path: Path) -> None:
    with start(SimulatedIntel(seed=3), tmp_path) as port:
        big = send_and_read(port, HEAD + b"X-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
        slash = send_and_read(port, b"GET /sgx%2Fcertification/v4/tcb HTTP/1.1\r\nHost: x\r\n\r\n")
        ordinary = send_and_read(port, b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(big) == 431 and status_of(slash) == 400
    for answer in (big, slash, ordinary):
        assert headers_of(answer)["x-content-type-options"] == "nosniff"
