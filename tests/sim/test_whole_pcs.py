"""The simulated Intel as a whole PCS: with its scenario platforms registered (what ``pydcap sim serve`` does) it
issues the PCK certificate of every platform ``pydcap sim quote`` can quote from with the same seed, by encrypted
PPID (``pckcert``, ``pckcerts``) or platform manifest, so Intel's clients work against it: a PCCS registering the
platform, QCNL's ``sgx_ql_get_quote_config``, and dcap-qvl's collateral fetch for an encrypted-PPID quote."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pydcap.intel.protocol import pckcert_params
from pydcap.pccs import CachingMode, PccsServer
from pydcap.provider.interface import PlatformId
from pydcap.provider.qcnl.config import QcnlConfig
from pydcap.provider.qcnl.provider import QcnlProvider
from pydcap.provider.trust import UntrustedRootWarning
from pydcap.sim import SCENARIOS, SimulatedIntel, SimulatedPlatform
from pydcap.sim.server import SimulatedPcs
from tests.support.pccs import USER, base_config, registration

SEED = 3
V4 = "/sgx/certification/v4"


@pytest.fixture(scope="module")
def registered() -> Iterator[SimulatedPcs]:
    intel = SimulatedIntel(SEED)
    intel.register_scenario_platforms()
    with SimulatedPcs(intel) as pcs:
        yield pcs


def quoted_platforms() -> list[SimulatedPlatform]:
    """What ``pydcap sim quote --seed 3`` quotes from, each scenario and TEE: built by a world of its own, as the
    command is another process than the server."""
    cli = SimulatedIntel(SEED)
    platforms: list[SimulatedPlatform] = [cli.sgx_platform(), cli.tdx_platform()]
    return platforms + [cli.scenario_platform(s.name, tee) for s in SCENARIOS.values() for tee in s.tees]


# Certified by each CA, SGX and TDX, at a TCB level and below every level.
SAMPLE = [("up-to-date", "sgx"), ("platform-ca", "sgx"), ("up-to-date", "tdx"), ("tcb-not-supported", "sgx")]


def platform_id(p: SimulatedPlatform) -> PlatformId:
    return PlatformId(p.qe_id, p.cpu_svn, p.pce_svn, int.from_bytes(p.pce_id, "little"), p.encrypted_ppid)


def test_every_platform_sim_quote_can_produce_has_its_certificate(registered: SimulatedPcs) -> None:
    platforms = quoted_platforms()
    assert len(platforms) > 200
    with httpx.Client(base_url=registered.url + V4, timeout=10) as c:
        for p in platforms:
            single = c.get("/pckcert", params=pckcert_params(p.platform_id, with_qe_id=False))
            assert single.status_code == 200, (p, single.status_code)
            assert single.content == p.pck.pem and single.headers["SGX-TCBm"] == p.pck.tcbm, p  # the quote's own
            if p.platform_manifest is not None:
                body = {"platformManifest": p.platform_manifest.hex(), "pceid": p.pce_id.hex()}
                every = c.post("/pckcerts", json=body)
            else:
                every = c.get("/pckcerts", params={"encrypted_ppid": p.encrypted_ppid.hex(), "pceid": p.pce_id.hex()})
            assert every.status_code == 200, (p, every.status_code)
            assert p.pck.tcbm in [entry["tcbm"] for entry in every.json()], p


def test_an_unregistered_platform_is_still_unknown(registered: SimulatedPcs) -> None:
    stranger = SimulatedIntel(SEED).sgx_platform(name="never-registered")
    assert (
        httpx.get(
            f"{registered.url}{V4}/pckcert", params=pckcert_params(stranger.platform_id, with_qe_id=False)
        ).status_code
        == 404
    )


def test_a_pccs_registers_the_platforms_of_quotes(registered: SimulatedPcs, tmp_path: Path) -> None:
    """REQ mode: a registration (encrypted PPID, or platform manifest) has the PCCS fetch the platform's
    certificates from PCS (``pckcerts``); the quote's certificate is then served without asking PCS again."""
    root = tmp_path / "root.pem"
    root.write_bytes(registered.intel.root_pem)
    config = base_config(tmp_path, registered.url, root, mode=CachingMode.REQ)
    cli = SimulatedIntel(SEED)
    with PccsServer.create(config) as pccs, httpx.Client(base_url=pccs.url + V4, timeout=30) as c:
        for platform in (cli.scenario_platform("up-to-date", "sgx"), cli.scenario_platform("platform-ca", "sgx")):
            body = registration(platform)
            if platform.platform_manifest is not None:
                body["platform_manifest"] = platform.platform_manifest.hex()
            assert c.post("/platforms", json=body, headers=USER).status_code in (200, 201), platform
            params = {
                "qeid": platform.qe_id.hex(),
                "cpusvn": platform.cpu_svn.hex(),
                "pcesvn": platform.pce_svn.to_bytes(2, "little").hex(),
                "pceid": platform.pce_id.hex(),
            }
            answer = c.get("/pckcert", params=params)
            assert answer.status_code == 200 and answer.content.strip() == platform.pck.pem.strip(), platform


def test_qcnl_get_quote_config_for_quoted_platforms(registered: SimulatedPcs, tmp_path: Path) -> None:
    config = QcnlConfig(pccs_url=f"{registered.url}{V4}/", use_secure_cert=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrustedRootWarning)
        provider = QcnlProvider(config, trust=registered.intel.trust_root, timeout=10.0)
    cli = SimulatedIntel(SEED)
    with provider:
        for scenario, tee in SAMPLE:
            p = cli.scenario_platform(scenario, tee)
            chain = provider.pck_cert_chain(platform_id(p))
            assert chain.tcbm.upper() == p.pck.tcbm and chain.pem.startswith(p.pck.pem.strip()), scenario


def test_dcap_qvl_fetches_collateral_for_an_encrypted_ppid_quote(registered: SimulatedPcs) -> None:
    dcap_qvl = pytest.importorskip("dcap_qvl")
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    root = x509.load_pem_x509_certificate(registered.intel.root_pem).public_bytes(Encoding.DER)
    cli = SimulatedIntel(SEED)
    for tee in ("sgx", "tdx"):
        quote = cli.scenario_platform("encrypted-ppid-certification", tee).quote(b"dcap-qvl")

        async def fetch(q: bytes = quote) -> object:
            return await dcap_qvl.get_collateral(registered.url, q)

        collateral = asyncio.run(fetch())
        report = dcap_qvl.verify_with_root_ca(quote, collateral, root, int(time.time()))
        assert report.status == "UpToDate", tee
