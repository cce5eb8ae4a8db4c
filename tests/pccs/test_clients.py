"""Clients fetch collateral from the PCCS and verify quotes with it: pydcap's PCCS client (library and
``pydcap verify --pccs``) over HTTPS with the self-signed certificate, and dcap-qvl's ``get_collateral``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from pydcap import Verifier
from pydcap.cache import CollateralCache, CollateralService
from pydcap.cli import main
from pydcap.pccs import PccsServer
from pydcap.sim import SimulatedIntel
from pydcap.sources import HttpSettings, PccsClient
from tests.support.pccs import Factory


@pytest.fixture
def https_pccs(make_pccs: Factory) -> PccsServer:
    return make_pccs(insecure_http=False)


@pytest.mark.parametrize("tee", ["sgx", "tdx"])
def test_pydcap_client_verifies_with_the_pinned_certificate(
    https_pccs: PccsServer, intel: SimulatedIntel, tee: str
) -> None:
    assert https_pccs.url.startswith("https://") and https_pccs.tls is not None
    platform = intel.tdx_platform() if tee == "tdx" else intel.sgx_platform()
    quote = platform.quote(report_data=b"pccs")
    source = PccsClient(
        https_pccs.url.replace("127.0.0.1", "localhost"), settings=HttpSettings(verify_tls=str(https_pccs.tls.cert))
    )
    with CollateralService(source, CollateralCache(trust=intel.trust_root)) as service:
        collateral = service.get_collateral(quote)
    result = Verifier(trusted_root=intel.trust_root).verify(quote, collateral)
    assert result.accepted, result.reasons


def test_pydcap_verify_command_against_the_pccs(
    https_pccs: PccsServer, intel: SimulatedIntel, root_file: Path, tmp_path: Path
) -> None:
    quote = tmp_path / "quote.bin"
    quote.write_bytes(intel.sgx_platform().quote(report_data=b"cli"))
    status = main(["verify", str(quote), "--pccs", f"{https_pccs.url}/sgx/certification/v4/", "--insecure",
                   "--no-cache", "--root-ca", str(root_file)])  # fmt: skip
    assert status == 0


def _root_der(intel: SimulatedIntel) -> bytes:
    return x509.load_pem_x509_certificate(intel.root_pem).public_bytes(Encoding.DER)


@pytest.mark.parametrize("tee", ["sgx", "tdx"])
def test_dcap_qvl_get_collateral_and_verify(pydcap_pccs: PccsServer, intel: SimulatedIntel, tee: str) -> None:
    dcap_qvl = pytest.importorskip("dcap_qvl")
    quote = (intel.tdx_platform() if tee == "tdx" else intel.sgx_platform()).quote(report_data=b"qvl")

    async def fetch() -> object:
        return await dcap_qvl.get_collateral(pydcap_pccs.url, quote)

    collateral = asyncio.run(fetch())
    report = dcap_qvl.verify_with_root_ca(quote, collateral, _root_der(intel), int(time.time()))
    assert report.status == "UpToDate"


def test_dcap_qvl_over_https_trusting_the_self_signed_certificate(
    https_pccs: PccsServer, intel: SimulatedIntel, tmp_path: Path
) -> None:
    pytest.importorskip("dcap_qvl")
    assert https_pccs.tls is not None
    quote = tmp_path / "quote.bin"
    quote.write_bytes(intel.sgx_platform().quote(report_data=b"qvl-tls"))
    (tmp_path / "root.der").write_bytes(_root_der(intel))
    code = (
        "import asyncio, sys, time, dcap_qvl\n"
        "quote = open(sys.argv[2], 'rb').read()\n"
        "async def fetch(): return await dcap_qvl.get_collateral(sys.argv[1], quote)\n"
        "report = dcap_qvl.verify_with_root_ca(quote, asyncio.run(fetch()), open(sys.argv[3], 'rb').read(), int(time.time()))\n"
        "print(report.status)\n"
    )
    url = f"https://localhost:{https_pccs.port}"
    env = {**os.environ, "SSL_CERT_FILE": str(https_pccs.tls.cert)}
    done = subprocess.run([sys.executable, "-c", code, url, str(quote), str(tmp_path / "root.der")], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.stdout.strip() == "UpToDate", done.stderr
