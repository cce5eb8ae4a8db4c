"""What the attestation service tests share besides fixtures: the administrator token, the API version, the
test enclave and its quotes, the service's configuration, an HTTPS client of a running service, and a fixed
azure-core credential."""

from __future__ import annotations

import hashlib
import ssl
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from pydcap.attest import AttestConfig, AttestServer
from pydcap.serving import token_hash
from pydcap.sim import SimulatedIntel
from pydcap.sim.enclave import SimulatedEnclave
from pydcap.sim.server import SimulatedPcs

ADMIN_TOKEN = "attest-admin-secret"


API = {"api-version": "2022-08-01"}


ENCLAVE = SimulatedEnclave(name="attest-test-enclave", product_id=3, svn=4)


def attest_config(directory: Path, pcs: SimulatedPcs, root: Path, **changes: Any) -> AttestConfig:
    config = AttestConfig(
        port=0,
        upstream=pcs.url,
        database=str(directory / "attest.sqlite3"),
        root_ca=str(root),
        admin_token_hash=token_hash(ADMIN_TOKEN),
        tenants=("acme",),
        state_dir=str(directory),
    )
    return replace(config, **changes)


def client(server: AttestServer) -> httpx.Client:
    assert server.tls is not None
    return httpx.Client(base_url=server.url, verify=ssl.create_default_context(cafile=server.tls.cert), timeout=30)


def sgx_quote(intel: SimulatedIntel, runtime: bytes = b"", **changes: Any) -> bytes:
    enclave = replace(ENCLAVE, **changes)
    return intel.sgx_platform().quote(
        hashlib.sha256(runtime).digest(), mr_enclave=enclave.mr_enclave, mr_signer=enclave.mr_signer,
        isv_prod_id=enclave.product_id, isv_svn=enclave.svn, debug=enclave.debug,
    )  # fmt: skip


class StaticCredential:
    """An azure-core TokenCredential that hands out a fixed bearer token (the service's administrator token)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)
