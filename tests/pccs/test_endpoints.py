"""One test per row of Intel's PCCS API table, against a LAZY PCCS whose upstream is the simulated PCS:
statuses, header names of each API version, encodings, and the documents exactly as Intel signed them."""

from __future__ import annotations

import json
from urllib.parse import unquote

import httpx
import pytest

from pydcap.pccs import PccsServer
from pydcap.pki import CertificateChain, PckCertificate, RevocationList
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.support.pccs import ADMIN, USER, V4, Factory, client, pckcert_params, registration


def chain_of(answer: httpx.Response, header: str) -> bytes:
    return unquote(answer.headers[header]).encode()


def test_pckcert_serves_the_selected_certificate_with_intels_headers(
    pydcap_pccs: PccsServer, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    platform = intel.sgx_platform(name="pckcert-row")
    with client(pydcap_pccs) as c:
        answer = c.get(f"{V4}/pckcert", params=pckcert_params(platform))
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"] == "application/x-pem-file; charset=utf-8"
        assert answer.content == platform.pck.pem
        assert answer.headers["SGX-TCBm"] == platform.pck.tcbm.upper()
        assert answer.headers["SGX-FMSPC"] == platform.fmspc.hex().upper()
        assert answer.headers["SGX-PCK-Certificate-CA-Type"] == "PROCESSOR"
        assert chain_of(answer, "SGX-PCK-Certificate-Issuer-Chain") == intel.pck_crl_issuer_chain("processor")
        # Known now: the encrypted PPID is no longer needed, and PCS is not asked again.
        before = pcs.stats()["by_endpoint"].get("sgx/v4/pckcerts", 0)
        again = c.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False))
        assert again.content == answer.content
        assert pcs.stats()["by_endpoint"].get("sgx/v4/pckcerts", 0) == before == 1


def test_pckcert_selects_per_raw_tcb_as_pcs_does(pydcap_pccs: PccsServer, intel: SimulatedIntel) -> None:
    platform = intel.sgx_platform(name="pckcert-levels")
    certs = intel.pck_certificates(platform)
    with client(pydcap_pccs) as c:
        for tcb, tcbm, pem in certs[:6]:
            cpu_svn = bytes(tcb[f"sgxtcbcomp{i:02d}svn"] for i in range(1, 17))
            params = pckcert_params(platform, cpu_svn=cpu_svn, pce_svn=tcb["pcesvn"])
            answer = c.get(f"{V4}/pckcert", params=params)
            assert answer.status_code == 200, answer.text
            assert answer.headers["SGX-TCBm"] == tcbm.upper()
            assert answer.content == pem


def test_pckcert_parameter_checks(pydcap_pccs: PccsServer, intel: SimulatedIntel) -> None:
    platform = intel.sgx_platform(name="pckcert-params")
    good = pckcert_params(platform)
    with client(pydcap_pccs) as c:
        for name, value in (("qeid", "x" * 2), ("qeid", "ab" * 131), ("cpusvn", "00" * 15), ("pcesvn", "0d"),
                            ("pceid", "zzzz"), ("encrypted_ppid", "ab" * 10)):  # fmt: skip
            answer = c.get(f"{V4}/pckcert", params={**good, name: value})
            assert answer.status_code == 400, (name, answer.text)
            assert answer.text.startswith("Invalid request parameters.") and name in answer.text
        missing = c.get(f"{V4}/pckcert", params={k: v for k, v in good.items() if k != "cpusvn"})
        assert missing.status_code == 400 and "cpusvn is required" in missing.text
        # LAZY, unknown platform, no encrypted PPID: Intel PCS cannot be asked, and the answer says why.
        unknown = c.get(f"{V4}/pckcert", params={**pckcert_params(platform, with_ppid=False), "qeid": "ab" * 16})
        assert unknown.status_code == 404 and "send encrypted_ppid" in unknown.text
        zeros = c.get(f"{V4}/pckcert", params={**good, "qeid": "cd" * 16, "encrypted_ppid": "00" * 384})
        assert zeros.status_code == 404 and "all zeros" in zeros.text


@pytest.mark.parametrize("ca", ["processor", "platform"])
def test_pckcrl_hex_by_default_der_when_asked(pydcap_pccs: PccsServer, intel: SimulatedIntel, ca: str) -> None:
    with client(pydcap_pccs) as c:
        text = c.get(f"{V4}/pckcrl", params={"ca": ca})
        der = c.get(f"{V4}/pckcrl", params={"ca": ca.upper(), "encoding": "der"})
    assert text.status_code == der.status_code == 200
    assert text.headers["Content-Type"] == "application/x-pem-file; charset=utf-8"
    assert der.headers["Content-Type"] == "application/pkix-crl"
    assert der.content == intel.pck_crl(ca)
    assert text.content == intel.pck_crl(ca).hex().encode()
    assert chain_of(der, "SGX-PCK-CRL-Issuer-Chain") == intel.pck_crl_issuer_chain(ca)
    assert RevocationList.parse(der.content).issuer_cn.endswith(f"{ca.capitalize()} CA")


def test_pckcrl_parameter_check(pydcap_pccs: PccsServer) -> None:
    with client(pydcap_pccs) as c:
        assert c.get(f"{V4}/pckcrl", params={"ca": "root"}).status_code == 400
        assert c.get(f"{V4}/pckcrl").status_code == 400


@pytest.mark.parametrize(
    ("tee", "api", "header"),
    [("sgx", 4, "TCB-Info-Issuer-Chain"), ("sgx", 3, "SGX-TCB-Info-Issuer-Chain"), ("tdx", 4, "TCB-Info-Issuer-Chain")],
)
def test_tcb_info_exactly_as_signed_with_the_versions_header(
    pydcap_pccs: PccsServer, intel: SimulatedIntel, tee: str, api: int, header: str
) -> None:
    fmspc = intel.tdx_platform().fmspc if tee == "tdx" else intel.sgx_platform().fmspc
    with client(pydcap_pccs) as c:
        answer = c.get(f"/{tee}/certification/v{api}/tcb", params={"fmspc": fmspc.hex().upper()})
        early = c.get(f"/{tee}/certification/v{api}/tcb", params={"fmspc": fmspc.hex(), "update": "EARLY"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert answer.content == intel.tcb_info(fmspc, tee, version=3 if api == 4 else 2)
    assert early.content == intel.tcb_info(fmspc, tee, update="early", version=3 if api == 4 else 2)
    assert chain_of(answer, header) == intel.signing_chain
    assert ("Warning" in answer.headers) == (api == 3)  # v3 is end-of-life at Intel


def test_tcb_parameter_checks(pydcap_pccs: PccsServer) -> None:
    with client(pydcap_pccs) as c:
        assert c.get(f"{V4}/tcb", params={"fmspc": "00906ED5000"}).status_code == 400
        bad = c.get(f"{V4}/tcb", params={"fmspc": "00906ED50000", "update": "sometimes"})
        assert bad.status_code == 400 and "update must be standard or early" in bad.text
        unknown = c.get(f"{V4}/tcb", params={"fmspc": "FFFFFFFFFFFF"})
        assert unknown.status_code == 404 and "the upstream PCS has none either" in unknown.text


@pytest.mark.parametrize(
    ("path", "enclave"),
    [
        ("/sgx/certification/v4/qe/identity", "QE"),
        ("/tdx/certification/v4/qe/identity", "TD_QE"),
        ("/sgx/certification/v4/qve/identity", "QVE"),
        ("/sgx/certification/v3/qe/identity", "QE"),
    ],
)
def test_identities(pydcap_pccs: PccsServer, intel: SimulatedIntel, path: str, enclave: str) -> None:
    with client(pydcap_pccs) as c:
        answer = c.get(path)
        early = c.get(path, params={"update": "early"})
        bad = c.get(path, params={"update": "never"})  # Intel's 1.22 answers 500 here
    assert answer.status_code == early.status_code == 200
    assert answer.content == intel.enclave_identity(enclave, advisories="/v4/" in path)
    assert early.content == intel.enclave_identity(enclave, update="early", advisories="/v4/" in path)
    assert chain_of(answer, "SGX-Enclave-Identity-Issuer-Chain") == intel.signing_chain
    assert bad.status_code == 400


def test_rootcacrl_is_hex_encoded_der(pydcap_pccs: PccsServer, intel: SimulatedIntel) -> None:
    with client(pydcap_pccs) as c:
        answer = c.get(f"{V4}/rootcacrl")
        v3 = c.get("/sgx/certification/v3/rootcacrl")
    assert answer.headers["Content-Type"] == "application/pkix-crl; charset=utf-8"
    assert answer.content == intel.root_ca_crl().hex().encode() == v3.content


def test_crl_by_distribution_point_is_raw_der_from_the_verified_cache(
    pydcap_pccs: PccsServer, intel: SimulatedIntel
) -> None:
    root_uri = "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der"
    pck_uri = "https://api.trustedservices.intel.com/sgx/certification/v4/pckcrl?ca=platform&encoding=der"
    with client(pydcap_pccs) as c:
        root = c.get(f"{V4}/crl", params={"uri": root_uri})
        pck = c.get(f"{V4}/crl", params={"uri": pck_uri})
        foreign = c.get(f"{V4}/crl", params={"uri": "https://evil.example/IntelSGXRootCA.der"})
        long = c.get(f"{V4}/crl", params={"uri": root_uri + "x" * 2100})
    assert root.headers["Content-Type"] == "application/pkix-crl"
    assert root.content == intel.root_ca_crl()
    assert pck.content == intel.pck_crl("platform")
    assert foreign.status_code == 404 and "CRLs of Intel's SGX PKI only" in foreign.text  # nothing fetched from it
    assert long.status_code == 400


def test_post_platforms_needs_the_user_token_and_fetches_everything(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    pydcap_pccs = make_pccs()
    platform = intel.sgx_platform(name="register-row")
    body = registration(platform)
    with client(pydcap_pccs) as c:
        assert c.post(f"{V4}/platforms", json=body).status_code == 401
        assert c.post(f"{V4}/platforms", json=body, headers={"user-token": "wrong"}).status_code == 401
        answer = c.post(f"{V4}/platforms", json=body, headers=USER, params={"update": "all"})
        assert answer.status_code == 200 and answer.text == "Operation successful."
        assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
        fetched = pcs.stats()["by_endpoint"]
        for endpoint in ("sgx/v4/pckcerts", "sgx/v4/pckcrl", "sgx/v4/qe/identity", "sgx/v3/qe/identity",
                         "sgx/v4/qve/identity", "tdx/v4/qe/identity", "sgx/v4/rootcacrl", "sgx/v4/tcb"):  # fmt: skip
            assert fetched.get(endpoint), endpoint
        pcs.reset_stats()
        assert c.post(f"{V4}/platforms", json=body, headers=USER).status_code == 200  # cached: nothing fetched
        assert pcs.stats()["total"] == 0
        for bad in ({"qe_id": "zz", "pce_id": "0000"}, {**body, "pce_svn": "0d"}, [body]):
            assert c.post(f"{V4}/platforms", json=bad, headers=USER).status_code == 400
        assert c.post(f"{V4}/platforms", content=b"{", headers=USER).status_code == 400
        assert c.post(f"{V4}/platforms", json=body, headers=USER, params={"update": "x"}).status_code == 400


def test_get_platforms_needs_the_admin_token(make_pccs: Factory, intel: SimulatedIntel) -> None:
    from pydcap.pccs import CachingMode

    pydcap_pccs = make_pccs(CachingMode.OFFLINE)
    platform = intel.sgx_platform(name="get-platforms-row")
    with client(pydcap_pccs) as c:
        assert c.post(f"{V4}/platforms", json=registration(platform), headers=USER).status_code == 200
        assert c.get(f"{V4}/platforms").status_code == 401
        assert c.get(f"{V4}/platforms", headers=USER).status_code == 401
        listed = c.get(f"{V4}/platforms", headers=ADMIN)
        assert listed.status_code == 200 and listed.headers["platform-count"] == "1"
        assert listed.headers["Content-Type"] == "application/json; charset=utf-8"
        [row] = listed.json()
        assert list(row) == ["qe_id", "pce_id", "cpu_svn", "pce_svn", "platform_manifest", "enc_ppid"]
        assert row["qe_id"] == platform.qe_id.hex().upper() and row["enc_ppid"] == platform.encrypted_ppid.hex()
        # read once: the queue is empty afterwards, as in Intel's PCCS
        assert c.get(f"{V4}/platforms", headers=ADMIN).json() == []
        assert c.get(f"{V4}/platforms", headers=ADMIN, params={"source": "reg_na"}).headers["platform-count"] == "0"
        assert c.get(f"{V4}/platforms", headers=ADMIN, params={"source": "[]"}).json() == []
        assert c.get(f"{V4}/platforms", headers=ADMIN, params={"source": "00906ED50000"}).status_code == 400


def test_put_platformcollateral_refuses_collateral_of_another_root(
    pydcap_pccs: PccsServer, intel: SimulatedIntel, make_pccs: Factory
) -> None:
    from pydcap.pccs import export_collateral

    platform = intel.sgx_platform(name="put-row")
    with client(pydcap_pccs) as c:
        assert c.get(f"{V4}/pckcert", params=pckcert_params(platform)).status_code == 200
        c.get(f"{V4}/qe/identity")
    document = export_collateral(pydcap_pccs.app.service)
    impostor = intel.impostor()
    other = json.loads(json.dumps(document))
    other["collaterals"]["rootcacrl"] = impostor.root_ca_crl().hex()
    from pydcap.pccs import CachingMode

    offline = make_pccs(CachingMode.OFFLINE, name="offline")
    with client(offline) as c:
        assert c.put(f"{V4}/platformcollateral", json=document).status_code == 401
        refused = c.put(f"{V4}/platformcollateral", json=other, headers=ADMIN)
        assert refused.status_code == 460, refused.text
        assert refused.text.startswith("The integrity of the data can't be verified.")
        assert c.get(f"{V4}/rootcacrl").status_code == 404  # nothing of it was stored
        assert c.put(f"{V4}/platformcollateral", json={"collaterals": {"version": 3}}, headers=ADMIN).status_code == 400
        assert c.put(f"{V4}/platformcollateral", json=document, headers=ADMIN).status_code == 200
        served = c.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False))
        assert served.status_code == 200 and served.content == platform.pck.pem


def test_put_platformcollateral_with_a_forged_pck_certificate_stores_nothing(
    pydcap_pccs: PccsServer, intel: SimulatedIntel, make_pccs: Factory
) -> None:
    from pydcap.intel.protocol import url_encoded
    from pydcap.pccs import CachingMode, export_collateral

    platform = intel.sgx_platform(name="put-forged")
    with client(pydcap_pccs) as c:
        assert c.get(f"{V4}/pckcert", params=pckcert_params(platform)).status_code == 200
    document = export_collateral(pydcap_pccs.app.service)
    [item] = document["collaterals"]["pck_certs"]
    forged = intel.impostor().sgx_platform(name="put-forged").pck.pem  # same subject, another Intel's key
    item["certs"][-1]["cert"] = url_encoded(forged)
    offline = make_pccs(CachingMode.OFFLINE, name="offline")
    with client(offline) as c:
        refused = c.put(f"{V4}/platformcollateral", json=document, headers=ADMIN)
        assert refused.status_code == 460, refused.text
        assert "nothing was imported" in refused.text
        # the documents of the same import verified, yet none of them was stored
        assert c.get(f"{V4}/rootcacrl").status_code == 404
        assert c.get(f"{V4}/tcb", params={"fmspc": platform.fmspc.hex()}).status_code == 404
        assert c.get(f"{V4}/pckcert", params=pckcert_params(platform, with_ppid=False)).status_code == 461


def test_refresh_needs_the_admin_token_and_is_refused_offline(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs
) -> None:
    from pydcap.pccs import CachingMode

    pydcap_pccs = make_pccs()
    platform = intel.sgx_platform(name="refresh-row")
    with client(pydcap_pccs) as c:
        c.get(f"{V4}/tcb", params={"fmspc": platform.fmspc.hex()})
        assert c.get(f"{V4}/pckcert", params=pckcert_params(platform)).status_code == 200
        assert c.post(f"{V4}/refresh").status_code == 401
        pcs.reset_stats()
        assert c.post(f"{V4}/refresh", headers=ADMIN).status_code == 200
        assert pcs.stats()["by_endpoint"].get("sgx/v4/tcb")
        assert c.get(f"{V4}/refresh", headers=ADMIN, params={"type": "certs"}).status_code == 200
        assert pcs.stats()["by_endpoint"].get("sgx/v4/pckcerts") == 1
        assert c.get(f"{V4}/refresh", headers=ADMIN, params={"type": "all"}).status_code == 400
        assert c.get(f"{V4}/refresh", headers=ADMIN, params={"type": "certs", "fmspc": "[zz]"}).status_code == 400
    offline = make_pccs(CachingMode.OFFLINE, name="offline")
    with client(offline) as c:
        assert c.post(f"{V4}/refresh", headers=ADMIN).status_code == 503


def test_service_pages(pydcap_pccs: PccsServer, intel: SimulatedIntel) -> None:
    with client(pydcap_pccs) as c:
        c.get(f"{V4}/tcb", params={"fmspc": intel.sgx_platform().fmspc.hex()})
        c.get(f"{V4}/tcb", params={"fmspc": intel.sgx_platform().fmspc.hex()})
        metrics = c.get("/metrics").text
        openapi = c.get("/openapi.json").json()
        assert c.get("/nothing/here").status_code == 404
        assert c.delete(f"{V4}/tcb").status_code == 405
    assert 'pydcap_pccs_requests_total{endpoint="sgx/v4/tcb",status="200"} 2' in metrics
    assert 'pydcap_pccs_cache_total{endpoint="sgx/v4/tcb",result="hit"} 1' in metrics
    assert 'pydcap_pccs_upstream_requests_total{endpoint="v4/sgx/tcb",outcome="ok"} 1' in metrics
    assert "pydcap_pccs_upstream_seconds_bucket" in metrics
    assert f"{V4}/pckcert" in openapi["paths"] and "/tdx/certification/v4/tcb" in openapi["paths"]


def test_pck_certificate_chain_of_a_platform_ca(pydcap_pccs: PccsServer, intel: SimulatedIntel) -> None:
    platform = intel.tdx_platform(name="platform-ca")
    with client(pydcap_pccs) as c:
        answer = c.get(f"{V4}/pckcert", params=pckcert_params(platform))
    assert answer.headers["SGX-PCK-Certificate-CA-Type"] == "PLATFORM"
    chain = CertificateChain.parse(answer.content + chain_of(answer, "SGX-PCK-Certificate-Issuer-Chain"))
    leaf = chain.find("SGX PCK Certificate")
    assert leaf is not None and PckCertificate.from_certificate(leaf).fmspc == platform.fmspc
