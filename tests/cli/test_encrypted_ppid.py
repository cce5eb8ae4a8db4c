"""Quotes that carry an encrypted PPID (certification data type 2 or 3) instead of their PCK certificate chain:
pydcap fetches the PCK certificate by QE-ID, encrypted PPID, raw TCB and PCE-ID (as Intel's QCNL does) from a
PCCS, Intel PCS or Azure, verifies it with the rest, and writes it as ``pck_cert.pem`` beside the collateral;
``--collateral DIR`` then serves offline. Upstream: the simulated Intel with its platforms registered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pydcap import Collateral, Verifier, verify_quote
from pydcap.cli import EXIT_OK, EXIT_REJECTED, main
from pydcap.pccs import CachingMode, PccsServer
from pydcap.quote import CertificationData, Quote
from pydcap.sim import SimulatedIntel
from pydcap.sim.azure_server import SimulatedAzure
from pydcap.sim.server import SimulatedPcs
from pydcap.sources import PccsClient, PlatformId, fetch_collateral
from tests.support.pccs import base_config

SEED = 6
SCENARIO = "encrypted-ppid-certification"
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # the simulated root is announced


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    registered = SimulatedIntel(SEED)
    registered.register_scenario_platforms()
    return registered


@pytest.fixture(scope="module")
def pcs(intel: SimulatedIntel) -> Iterator[SimulatedPcs]:
    with SimulatedPcs(intel) as server:
        yield server


@pytest.fixture(scope="module")
def root(intel: SimulatedIntel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("root") / "root.pem"
    path.write_bytes(intel.root_pem)
    return path


@pytest.fixture(scope="module")
def pydcap_pccs(pcs: SimulatedPcs, root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PccsServer]:
    config = base_config(tmp_path_factory.mktemp("pccs"), pcs.url, root, mode=CachingMode.LAZY)
    with PccsServer.create(config) as server:
        yield server


def quote_file(tmp_path: Path, tee: str) -> Path:
    """What ``pydcap sim quote --scenario encrypted-ppid-certification`` writes (another process's world)."""
    path = tmp_path / f"{tee}.quote"
    path.write_bytes(SimulatedIntel(SEED).scenario_platform(SCENARIO, tee).quote(b"encrypted PPID"))
    return path


def test_the_quote_names_its_platform_as_qcnl_would() -> None:
    platform = SimulatedIntel(SEED).scenario_platform(SCENARIO, "sgx")
    quote = Quote.parse(platform.quote())
    assert quote.pck_chain_pem is None and quote.certification_data.type == CertificationData.ENCRYPTED_PPID_3072
    assert PlatformId.from_quote(quote) == PlatformId(
        platform.qe_id, platform.cpu_svn, platform.pce_svn, int.from_bytes(platform.pce_id, "little"),
        platform.encrypted_ppid,
    )  # fmt: skip


@pytest.mark.parametrize("tee", ["sgx", "tdx"])
def test_verify_through_a_pccs(pydcap_pccs: PccsServer, root: Path, tmp_path: Path, tee: str) -> None:
    quote = quote_file(tmp_path, tee)
    args = ["verify", str(quote), "--pccs", pydcap_pccs.url, "--root-ca", str(root), "--cache", str(tmp_path / "c.db")]
    assert main(args) == EXIT_OK
    assert main([*args, "--json"]) == EXIT_OK  # the second time from the cache, the PCK certificate too


def test_collateral_fetch_writes_the_pck_chain_and_the_directory_then_serves_offline(
    pydcap_pccs: PccsServer, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quote = quote_file(tmp_path, "sgx")
    out = tmp_path / "coll"
    fetch = [
        "collateral",
        "fetch",
        str(quote),
        "-o",
        str(out),
        "--pccs",
        pydcap_pccs.url,
        "--root-ca",
        str(root),
        "--no-cache",
    ]
    assert main([*fetch, "--json"]) == EXIT_OK
    summary = json.loads(capsys.readouterr().out)
    assert "pck_cert" in summary["parts"]
    platform = SimulatedIntel(SEED).scenario_platform(SCENARIO, "sgx")
    assert (out / "pck_cert.pem").read_bytes().startswith(platform.pck.pem.strip())
    offline = ["verify", str(quote), "--collateral", str(out), "--root-ca", str(root)]
    assert main(offline) == EXIT_OK
    (out / "pck_cert.pem").unlink()
    assert main(offline) == EXIT_REJECTED  # the quote alone does not say which certificate signed it
    assert "UNSUPPORTED_QE_CERTIFICATION_DATA_TYPE" in capsys.readouterr().out


def test_verify_through_intel_pcs_and_azure(
    pcs: SimulatedPcs, intel: SimulatedIntel, root: Path, tmp_path: Path
) -> None:
    quote = quote_file(tmp_path, "sgx")
    common = ["--root-ca", str(root), "--no-cache"]
    assert main(["verify", str(quote), "--pcs", pcs.url, *common]) == EXIT_OK
    with SimulatedAzure(intel) as azure:
        assert main(["verify", str(quote), "--azure", azure.url, *common]) == EXIT_OK


def test_the_library_fetch_and_the_collateral_forms(
    pydcap_pccs: PccsServer, intel: SimulatedIntel, tmp_path: Path
) -> None:
    quote = quote_file(tmp_path, "tdx").read_bytes()

    async def fetch() -> Collateral:
        async with PccsClient(pydcap_pccs.url) as client:
            return await fetch_collateral(client, quote)

    collateral = asyncio.run(fetch())
    assert collateral.pck_chain is not None
    verifier = Verifier(trusted_root=intel.trust_root)
    assert verifier.verify(quote, collateral).accepted
    for form in (collateral.to_json(), collateral.to_dcap_qvl_json()):
        assert Collateral.from_json(form) == collateral
    collateral.write_directory(tmp_path / "d")
    assert Collateral.load(tmp_path / "d") == collateral
    # another platform's certificate does not sign this quote's QE report: the chain is bound to the quote
    other = SimulatedIntel(SEED).tdx_platform(name="someone-else")
    forged = verify_quote(quote, replace(collateral, pck_chain=other.pck_chain_pem), trusted_root=intel.trust_root)
    assert forged.failure is not None and forged.failure.value == "INVALID_QE_REPORT_SIGNATURE"
