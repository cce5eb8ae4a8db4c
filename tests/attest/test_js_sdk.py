"""Microsoft's JavaScript SDK (npm ``@azure/attestation``) against the service, over HTTPS with the service's
certificate trusted through ``NODE_EXTRA_CA_CERTS``, its token validation on. The package is installed once into a
cache directory outside the repository (``$PYDCAP_NPM_CACHE``, else ``$XDG_CACHE_HOME/pydcap/npm``); without Node.js,
npm or the registry the test is skipped, saying why."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pydcap.attest import AttestServer, open_enclave_report
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.support.attest import ENCLAVE, attest_config, sgx_quote

PACKAGE = "@azure/attestation@1"
SCRIPT = Path(__file__).with_name("maa_client.cjs")


def sdk_directory() -> Path:
    """Where ``@azure/attestation`` is installed (installed now if missing); skips when that cannot be done."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are not installed: the JavaScript SDK test needs them")
    base = os.environ.get("PYDCAP_NPM_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pydcap" / "npm"
    )
    directory = Path(base) / "azure-attestation-1"
    if not (directory / "node_modules" / "@azure" / "attestation" / "package.json").is_file():
        directory.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(directory), PACKAGE],
                check=True, capture_output=True, text=True, timeout=180,
            )  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"npm could not install {PACKAGE}: {getattr(exc, 'stderr', '') or exc}")
    return directory


@pytest.fixture(scope="module")
def es256_server(
    tmp_path_factory: pytest.TempPathFactory, pcs: SimulatedPcs, root_file: Path
) -> Iterator[AttestServer]:
    config = attest_config(tmp_path_factory.mktemp("attest-es256"), pcs, root_file, algorithm="ES256")
    with AttestServer(config) as running:
        yield running


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_javascript_sdk(algorithm: str, request: pytest.FixtureRequest, intel: SimulatedIntel) -> None:
    """RS256 as MAA signs; ES256 (``--algorithm ES256``, the cheaper signature) validates in this SDK too, though not
    in Microsoft's Python SDK (azure-security-attestation 1.0 checks RSA signatures only)."""
    directory = sdk_directory()
    server: AttestServer = request.getfixturevalue("server" if algorithm == "RS256" else "es256_server")
    assert server.tls is not None
    runtime = b"runtime data for the JavaScript SDK"
    quote = sgx_quote(intel, runtime)
    args = [base64.b64encode(x).decode() for x in (quote, runtime, open_enclave_report(quote))]
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(server.tls.cert)}
    run = subprocess.run(
        ["node", str(SCRIPT), str(directory), server.url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    for kind in ("sgx", "oe"):
        assert seen[kind]["mrEnclave"] == ENCLAVE.mr_enclave.hex()
        assert seen[kind]["mrSigner"] == ENCLAVE.mr_signer.hex()
        assert base64.b64decode(seen[kind]["enclaveHeldData"]) == runtime
        assert seen[kind]["issuer"] == server.issuer and seen[kind]["algorithm"] == algorithm
        assert seen[kind]["keyId"] in seen["signers"]
    assert seen["openid"]["issuer"] == server.issuer
    assert "expected issuer: https://not-this-issuer" in seen["refused"]
