"""The simulated Azure service itself, over plain HTTP (and once over TLS): Azure's URL shapes and headers, THIM's
metadata header, the JSON PCK certificate body, CRLs by Intel's distribution URL (plain or percent-encoded),
regional THIM's TDX endpoints, the instance metadata service, and the refusals."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from pydcap.pki import PckCertificate
from pydcap.pki.certs import Certificate
from pydcap.pki.crl import RevocationList
from pydcap.serving.tls import self_signed
from pydcap.sim import SimulatedIntel, SimulatedPlatform
from pydcap.sim.azure_server import LEGACY_CRL_API, SimulatedAzure
from pydcap.sources.azure import API_VERSION_CRL, API_VERSION_PCK, CRL_URIS, crl_uri_param

PARAMS = {"clientid": "production_client", "api-version": "2018-10-01-preview"}


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=31)


@pytest.fixture(scope="module")
def azure_server(intel: SimulatedIntel) -> Iterator[SimulatedAzure]:
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


def test_thim_wants_the_metadata_header(azure_server: SimulatedAzure, sgx: SimulatedPlatform) -> None:
    url = f"{azure_server.thim_url}/v4/pckcert"
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


def test_the_global_cache_serves_pck_certificates_too(azure_server: SimulatedAzure, sgx: SimulatedPlatform) -> None:
    answer = httpx.get(f"{azure_server.url}/v4/pckcert", params=pck_params(sgx))
    assert answer.status_code == 200 and answer.json()["sgx-Tcbm"] == azure_tcbm(sgx.pck.tcbm)


def test_refusals(azure_server: SimulatedAzure, sgx: SimulatedPlatform) -> None:
    assert httpx.get(f"{azure_server.url}/v4/qe/identity").status_code == 400  # no api-version
    stranger = {**pck_params(sgx), "qeid": "00" * 16}
    assert httpx.get(f"{azure_server.url}/v4/pckcert", params=stranger).status_code == 404
    for cpusvn in ("zz", "0" * 31 + "\n"):  # a trailing newline is not a hex digit either
        bad = {**pck_params(sgx), "cpusvn": cpusvn}
        assert httpx.get(f"{azure_server.url}/v4/pckcert", params=bad).status_code == 400
    unknown_crl = {**PARAMS, "uri": "https://example.com/other.crl"}
    assert httpx.get(f"{azure_server.url}/v4/pckcrl", params=unknown_crl).status_code == 404
    assert httpx.get(f"{azure_server.url}/v4/tcb", params={**PARAMS, "fmspc": "00aabbccddee"}).status_code == 404
    azure_server.thim_status = 503
    try:
        headers = {"metadata": "true"}
        assert (
            httpx.get(f"{azure_server.thim_url}/v4/pckcert", params=pck_params(sgx), headers=headers).status_code == 503
        )
    finally:
        azure_server.thim_status = None


@pytest.mark.parametrize(("which", "ca"), [("root", None), ("processor", "processor"), ("platform", "platform")])
def test_crls_by_intels_distribution_url(
    azure_server: SimulatedAzure, intel: SimulatedIntel, which: str, ca: str
) -> None:
    expected = intel.root_ca_crl() if ca is None else intel.pck_crl(ca)
    encoded = crl_uri_param(CRL_URIS[which])  # as Microsoft's client names it
    pem = httpx.get(f"{azure_server.url}/v4/pckcrl", params={**PARAMS, "uri": encoded, "api-version": API_VERSION_CRL})
    der = httpx.get(
        f"{azure_server.url}/v4/pckcrl", params={**PARAMS, "uri": CRL_URIS[which], "api-version": LEGACY_CRL_API}
    )
    assert pem.content.startswith(b"-----BEGIN X509 CRL-----") and der.content == expected
    assert RevocationList.parse(pem.content).der == expected
    chain = unquote(pem.headers["SGX-PCK-CRL-Issuer-Chain"]).encode()
    assert chain.endswith(intel.root_pem) and (ca is None) == (chain == intel.root_pem)


def test_documents_headers_and_aliases(
    azure_server: SimulatedAzure, intel: SimulatedIntel, sgx: SimulatedPlatform
) -> None:
    tcb = httpx.get(f"{azure_server.url}/v4/tcb", params={**PARAMS, "fmspc": sgx.fmspc.hex().upper()})
    assert tcb.content == intel.tcb_info(sgx.fmspc, "sgx") and tcb.headers["Cache-Control"] == "max-age=600"
    assert unquote(tcb.headers["SGX-TCB-Info-Issuer-Chain"]).encode() == intel.signing_chain
    v3 = httpx.get(f"{azure_server.url}/v3/tcb", params={**PARAMS, "fmspc": sgx.fmspc.hex()})
    assert json.loads(v3.content)["tcbInfo"]["version"] == 2
    qe = httpx.get(f"{azure_server.url}/v4/qe/identity", params=PARAMS)
    assert qe.content == httpx.get(f"{azure_server.url}/v4/qeid", params=PARAMS).content == intel.enclave_identity("QE")
    assert unquote(qe.headers["SGX-Enclave-Identity-Issuer-Chain"]).encode() == intel.signing_chain
    qve = httpx.get(f"{azure_server.url}/v4/qveid", params=PARAMS)
    assert qve.content == intel.enclave_identity("QVE")
    tdx = azure_server.url.replace("/sgx/", "/tdx/")
    assert httpx.get(f"{tdx}/v4/qe/identity", params=PARAMS).content == intel.enclave_identity("TD_QE")
    assert [r.service for r in azure_server.requests][-1] == "global"


def test_regional_thim_serves_tdx_crls_by_ca_without_api_version(
    azure_server: SimulatedAzure, intel: SimulatedIntel
) -> None:
    client = {"clientid": "production_client"}
    for ca in ("processor", "platform"):
        crl = httpx.get(f"{azure_server.url}/v4/pckcrl", params={"ca": ca, **client})
        assert crl.status_code == 200 and RevocationList.parse(crl.content).der == intel.pck_crl(ca)
        assert unquote(crl.headers["SGX-PCK-CRL-Issuer-Chain"]).encode() == intel.pck_crl_issuer_chain(ca)
    root = httpx.get(f"{azure_server.url}/v4/rootcacrl", params=client)
    assert bytes.fromhex(root.text) == intel.root_ca_crl()
    assert unquote(root.headers["SGX-PCK-CRL-Issuer-Chain"]).encode() == intel.root_pem
    tdx = azure_server.url.replace("/sgx/", "/tdx/")
    tcb = httpx.get(f"{tdx}/v4/tcb", params={**PARAMS, "fmspc": "00" * 6})
    assert tcb.status_code == 404  # an unknown FMSPC; a known one's chain is in TCB-Info-Issuer-Chain (the TDX tests)
    assert httpx.get(f"{azure_server.url}/v4/pckcrl", params={"uri": CRL_URIS["root"], **client}).status_code == 400


def test_the_instance_metadata_service_tells_the_location(azure_server: SimulatedAzure) -> None:
    params = {"api-version": "2021-02-01"}
    assert httpx.get(azure_server.instance_url, params=params).status_code == 400  # no metadata header
    answer = httpx.get(azure_server.instance_url, params=params, headers={"metadata": "true"})
    assert answer.json() == {"compute": {"location": "eastus"}}
    assert azure_server.requests[-1].service == "imds"


def test_an_outage_of_the_collateral_cache_spares_thim_and_the_instance_metadata(
    azure_server: SimulatedAzure, sgx: SimulatedPlatform
) -> None:
    azure_server.cache_status = 503
    try:
        assert httpx.get(f"{azure_server.url}/v4/qe/identity", params=PARAMS).status_code == 503
        assert httpx.get(f"{azure_server.url}/v4/pckcert", params=pck_params(sgx)).status_code == 503
        thim = httpx.get(f"{azure_server.thim_url}/v4/pckcert", params=pck_params(sgx), headers={"metadata": "true"})
        assert thim.status_code == 200
        imds = httpx.get(azure_server.instance_url, params={"api-version": "2021-02-01"}, headers={"metadata": "true"})
        assert imds.status_code == 200
    finally:
        azure_server.cache_status = None


def test_over_tls(intel: SimulatedIntel, tmp_path: Path) -> None:
    cert, key = self_signed("localhost")
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)
    with SimulatedAzure(intel, tls=(tmp_path / "cert.pem", tmp_path / "key.pem")) as azure:
        assert azure.url.startswith("https://")
        url = azure.url.replace("127.0.0.1", "localhost")
        trust = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        answer = httpx.get(f"{url}/v4/qe/identity", params=PARAMS, verify=trust)
    assert answer.content == intel.enclave_identity("QE")


def azure_tcbm(intel_tcbm: str) -> str:
    """Azure hosts the TCBm's PCESVN big-endian; Intel's is little-endian."""
    return intel_tcbm[:32] + intel_tcbm[34:36] + intel_tcbm[32:34]
