"""The simulated Azure service itself, over plain HTTP: Azure's URL shapes and headers, THIM's metadata header,
the JSON PCK certificate body, CRLs by Intel's distribution URL, and the refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import unquote

import httpx
import pytest

from pydcap.pki import PckCertificate
from pydcap.pki.certs import Certificate
from pydcap.pki.crl import RevocationList
from pydcap.sim import SimulatedIntel, SimulatedPlatform
from pydcap.sim.azure_server import LEGACY_CRL_API, SimulatedAzure
from pydcap.sources.azure import API_VERSION_CRL, API_VERSION_PCK, CRL_URIS

PARAMS = {"clientid": "production_client", "api-version": "2018-10-01-preview"}


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=31)


@pytest.fixture(scope="module")
def server(intel: SimulatedIntel) -> Iterator[SimulatedAzure]:
    with SimulatedAzure(intel, max_age=600) as azure:
        yield azure


@pytest.fixture(scope="module")
def sgx(intel: SimulatedIntel) -> SimulatedPlatform:
    return intel.sgx_platform(scenario="out-of-date")


def pck_params(p: SimulatedPlatform) -> dict[str, str]:
    return {
        "qeid": p.qe_id.hex(),
        "cpusvn": p.cpu_svn.hex(),
        "pcesvn": p.pce_svn.to_bytes(2, "big").hex(),  # Microsoft's client sends it big-endian
        "pceid": p.pce_id.hex(),
        "clientid": "production_client",
        "api-version": API_VERSION_PCK,
    }


def test_thim_wants_the_metadata_header(server: SimulatedAzure, sgx: SimulatedPlatform) -> None:
    url = f"{server.thim_url}/v4/pckcert"
    refused = httpx.get(url, params=pck_params(sgx))
    assert refused.status_code == 400 and "Required metadata header" in refused.json()["error"]["message"]
    answer = httpx.get(url, params=pck_params(sgx), headers={"metadata": "true"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert set(body) == {"pckCert", "sgx-Pck-Certificate-Issuer-Chain", "sgx-Tcbm", "cacheMaxAge"}
    leaf = PckCertificate.from_certificate(Certificate.from_pem(body["pckCert"].encode()))
    # An out-of-date platform gets the certificate of its own (lower) TCB level, which is what TCBm says.
    assert body["sgx-Tcbm"] == azure_tcbm(sgx.pck.tcbm) and leaf.sgx.tcb.cpu_svn == sgx.pck.cpu_svn
    assert body["pckCert"].encode() + unquote(body["sgx-Pck-Certificate-Issuer-Chain"]).encode() == sgx.pck_chain_pem
    assert body["cacheMaxAge"] == "600"


def test_the_global_cache_serves_pck_certificates_too(server: SimulatedAzure, sgx: SimulatedPlatform) -> None:
    answer = httpx.get(f"{server.url}/v4/pckcert", params=pck_params(sgx))
    assert answer.status_code == 200 and answer.json()["sgx-Tcbm"] == azure_tcbm(sgx.pck.tcbm)


def test_refusals(server: SimulatedAzure, sgx: SimulatedPlatform) -> None:
    assert httpx.get(f"{server.url}/v4/qe/identity").status_code == 400  # no api-version
    stranger = {**pck_params(sgx), "qeid": "00" * 16}
    assert httpx.get(f"{server.url}/v4/pckcert", params=stranger).status_code == 404
    for cpusvn in ("zz", "0" * 31 + "\n"):  # a trailing newline is not a hex digit either
        bad = {**pck_params(sgx), "cpusvn": cpusvn}
        assert httpx.get(f"{server.url}/v4/pckcert", params=bad).status_code == 400
    unknown_crl = {**PARAMS, "uri": "https://example.com/other.crl"}
    assert httpx.get(f"{server.url}/v4/pckcrl", params=unknown_crl).status_code == 404
    assert httpx.get(f"{server.url}/v4/tcb", params={**PARAMS, "fmspc": "00aabbccddee"}).status_code == 404
    server.thim_status = 503
    try:
        headers = {"metadata": "true"}
        assert httpx.get(f"{server.thim_url}/v4/pckcert", params=pck_params(sgx), headers=headers).status_code == 503
    finally:
        server.thim_status = None


@pytest.mark.parametrize(("which", "ca"), [("root", None), ("processor", "processor"), ("platform", "platform")])
def test_crls_by_intels_distribution_url(server: SimulatedAzure, intel: SimulatedIntel, which: str, ca: str) -> None:
    expected = intel.root_ca_crl() if ca is None else intel.pck_crl(ca)
    pem = httpx.get(
        f"{server.url}/v4/pckcrl", params={**PARAMS, "uri": CRL_URIS[which], "api-version": API_VERSION_CRL}
    )
    der = httpx.get(f"{server.url}/v4/pckcrl", params={**PARAMS, "uri": CRL_URIS[which], "api-version": LEGACY_CRL_API})
    assert pem.content.startswith(b"-----BEGIN X509 CRL-----") and der.content == expected
    assert RevocationList.parse(pem.content).der == expected
    chain = unquote(pem.headers["SGX-PCK-CRL-Issuer-Chain"]).encode()
    assert chain.endswith(intel.root_pem) and (ca is None) == (chain == intel.root_pem)


def test_documents_headers_and_aliases(server: SimulatedAzure, intel: SimulatedIntel, sgx: SimulatedPlatform) -> None:
    tcb = httpx.get(f"{server.url}/v4/tcb", params={**PARAMS, "fmspc": sgx.fmspc.hex().upper()})
    assert tcb.content == intel.tcb_info(sgx.fmspc, "sgx") and tcb.headers["Cache-Control"] == "max-age=600"
    assert unquote(tcb.headers["SGX-TCB-Info-Issuer-Chain"]).encode() == intel.signing_chain
    v3 = httpx.get(f"{server.url}/v3/tcb", params={**PARAMS, "fmspc": sgx.fmspc.hex()})
    assert json.loads(v3.content)["tcbInfo"]["version"] == 2
    qe = httpx.get(f"{server.url}/v4/qe/identity", params=PARAMS)
    assert qe.content == httpx.get(f"{server.url}/v4/qeid", params=PARAMS).content == intel.enclave_identity("QE")
    assert unquote(qe.headers["SGX-Enclave-Identity-Issuer-Chain"]).encode() == intel.signing_chain
    qve = httpx.get(f"{server.url}/v4/qveid", params=PARAMS)
    assert qve.content == intel.enclave_identity("QVE")
    tdx = server.url.replace("/sgx/", "/tdx/")
    assert httpx.get(f"{tdx}/v4/qe/identity", params=PARAMS).content == intel.enclave_identity("TD_QE")
    assert [r.service for r in server.requests][-1] == "global"


def azure_tcbm(intel_tcbm: str) -> str:
    """Azure hosts the TCBm's PCESVN big-endian; Intel's is little-endian."""
    return intel_tcbm[:32] + intel_tcbm[34:36] + intel_tcbm[32:34]
