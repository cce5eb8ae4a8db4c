"""The simulated PCS over real HTTP on loopback: every endpoint, its parameters, headers and status codes, and
collateral fetched from it that verifies a simulated quote."""

from __future__ import annotations

import gc
import json
import re
import warnings
from collections.abc import Iterator
from urllib.parse import unquote

import httpx
import pytest
from cryptography import x509

from pydcap import Collateral, Verifier
from pydcap.intel.protocol import pckcert_params
from pydcap.pki import Certificate, CertificateChain, PckCertificate
from pydcap.sim import SimulatedIntel, SimulatedSgxPlatform, SimulatedTdxPlatform
from pydcap.sim.catalog import SGX_FMSPC, TDX_FMSPC
from pydcap.sim.pki import ROOT_CRL_URL, pck_crl_url, pem_chain
from pydcap.sim.server import SimulatedPcs
from pydcap.verify import TcbStatus
from tests.support.sim import AT

V4 = "/sgx/certification/v4"


@pytest.fixture(scope="module")
def platforms(intel: SimulatedIntel) -> dict[str, SimulatedSgxPlatform | SimulatedTdxPlatform]:
    return {
        "sgx": intel.sgx_platform(name="http-sgx"),
        "multi": intel.sgx_platform(name="http-multi", ca="platform"),
        "tdx": intel.tdx_platform(name="http-tdx"),
    }


@pytest.fixture(scope="module")
def pcs(intel: SimulatedIntel, platforms: object) -> Iterator[SimulatedPcs]:
    with SimulatedPcs(intel) as server:
        yield server


@pytest.fixture
def client(pcs: SimulatedPcs) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pcs.url, timeout=10) as c:
        yield c


def _request_id(response: httpx.Response) -> None:
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["Request-ID"])


def _chain(response: httpx.Response, header: str) -> list[str]:
    return [c.subject_cn for c in CertificateChain.parse(unquote(response.headers[header])).certificates]


# ---- PCK certificates -----------------------------------------------------------------------------------


def test_pckcert_serves_the_platforms_certificate(client: httpx.Client, platforms: dict[str, object]) -> None:
    platform = platforms["sgx"]
    assert isinstance(platform, SimulatedSgxPlatform)
    r = client.get(f"{V4}/pckcert", params=pckcert_params(platform.platform_id, with_qe_id=False))
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/x-pem-file"
    _request_id(r)
    assert r.content == platform.pck_certificate_pem
    assert r.headers["SGX-TCBm"] == platform.pck.tcbm
    assert r.headers["SGX-FMSPC"] == platform.fmspc.hex().upper()
    assert r.headers["SGX-PCK-Certificate-CA-Type"] == "processor"
    assert "%20CERTIFICATE-----%0A" in r.headers["SGX-PCK-Certificate-Issuer-Chain"]
    assert _chain(r, "SGX-PCK-Certificate-Issuer-Chain") == ["Intel SGX PCK Processor CA", "Intel SGX Root CA"]


def test_pckcert_selects_by_raw_tcb_and_answers_404(client: httpx.Client, platforms: dict[str, object]) -> None:
    platform = platforms["sgx"]
    assert isinstance(platform, SimulatedSgxPlatform)
    params = pckcert_params(platform.platform_id, with_qe_id=False)
    ahead = client.get(f"{V4}/pckcert", params={**params, "cpusvn": "09" * 16, "pcesvn": "ff00"})
    assert ahead.status_code == 200
    assert PckCertificate.from_certificate(Certificate.from_pem(ahead.content)).sgx.tcb.components[0] == 7
    assert client.get(f"{V4}/pckcert", params={**params, "cpusvn": "00" * 16}).status_code == 404
    assert client.get(f"{V4}/pckcert", params={**params, "pceid": "0100"}).status_code == 404
    assert client.get(f"{V4}/pckcert", params={**params, "encrypted_ppid": "ab" * 384}).status_code == 404
    by_qe_id = {k: v for k, v in params.items() if k != "encrypted_ppid"} | {"qeid": platform.qe_id.hex()}
    assert client.get(f"{V4}/pckcert", params=by_qe_id).content == platform.pck_certificate_pem


@pytest.mark.parametrize(
    ("change", "message"),
    [({"cpusvn": "zz"}, "cpusvn"), ({"pcesvn": "0"}, "pcesvn"), ({"encrypted_ppid": "00"}, "encrypted_ppid")],
)
def test_pckcert_bad_parameters_are_400_with_error_headers(
    client: httpx.Client, platforms: dict[str, object], change: dict[str, str], message: str
) -> None:
    platform = platforms["sgx"]
    assert isinstance(platform, SimulatedSgxPlatform)
    r = client.get(f"{V4}/pckcert", params={**pckcert_params(platform.platform_id, with_qe_id=False), **change})
    assert r.status_code == 400 and r.headers["Error-Code"] == "InvalidRequestSyntax"
    assert message in r.headers["Error-Message"]


def test_pckcert_post_with_platform_manifest(client: httpx.Client, platforms: dict[str, object]) -> None:
    platform = platforms["multi"]
    assert isinstance(platform, SimulatedSgxPlatform) and platform.platform_manifest is not None
    params = pckcert_params(platform.platform_id, with_qe_id=False)
    body = {
        "platformManifest": platform.platform_manifest.hex(),
        "cpusvn": params["cpusvn"],
        "pcesvn": params["pcesvn"],
        "pceid": params["pceid"],
    }
    r = client.post(f"{V4}/pckcert", json=body)
    assert r.status_code == 200 and r.content == platform.pck_certificate_pem
    assert r.headers["SGX-PCK-Certificate-CA-Type"] == "platform"
    assert client.post(f"{V4}/pckcert", content=b"not json").status_code == 400


def test_pckcerts_get_and_post(client: httpx.Client, intel: SimulatedIntel, platforms: dict[str, object]) -> None:
    platform = platforms["multi"]
    assert isinstance(platform, SimulatedSgxPlatform) and platform.platform_manifest is not None
    expected = [{"tcb": t, "tcbm": m, "cert": p.decode()} for t, m, p in intel.pck_certificates(platform)]
    params = {"encrypted_ppid": platform.encrypted_ppid.hex(), "pceid": "0000"}
    for r in (
        client.get(f"{V4}/pckcerts", params=params),
        client.post(f"{V4}/pckcerts", json={"platformManifest": platform.platform_manifest.hex(), "pceid": "0000"}),
    ):
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
        got = [{**item, "cert": unquote(item["cert"])} for item in r.json()]
        assert got == expected
        assert r.headers["SGX-FMSPC"] == platform.fmspc.hex().upper()
        assert r.headers["SGX-PCK-Certificate-CA-Type"] == "platform"
        assert _chain(r, "SGX-PCK-Certificate-Issuer-Chain") == ["Intel SGX PCK Platform CA", "Intel SGX Root CA"]
    assert client.get(f"{V4}/pckcerts", params={**params, "pceid": "0001"}).status_code == 404
    assert client.get(f"{V4}/pckcerts", params={"pceid": "0000"}).status_code == 400


def test_withheld_certificates_are_not_available_in_pckcerts_and_404_in_pckcert(
    client: httpx.Client, intel: SimulatedIntel
) -> None:
    platform = intel.sgx_platform(name="http-withheld")  # up to date, below the early (recovered) level
    intel.withhold_pck_certificates(platform, [(platform.pck.components, platform.pck.pce_svn)])
    listing = client.get(f"{V4}/pckcerts", params={"encrypted_ppid": platform.encrypted_ppid.hex(), "pceid": "0000"})
    assert listing.status_code == 200 and listing.headers["Content-Type"] == "application/json"
    assert listing.headers["SGX-FMSPC"] == platform.fmspc.hex().upper()
    assert _chain(listing, "SGX-PCK-Certificate-Issuer-Chain") == ["Intel SGX PCK Processor CA", "Intel SGX Root CA"]
    items = listing.json()
    [withheld] = [item for item in items if item["tcbm"] == platform.pck.tcbm]
    assert withheld == {"tcb": platform.pck.tcb, "tcbm": platform.pck.tcbm, "cert": "Not available"}
    served = [unquote(item["cert"]) for item in items if item is not withheld]
    assert len(served) > 1 and all(pem.startswith("-----BEGIN CERTIFICATE-----") for pem in served)
    assert client.get(f"{V4}/pckcert", params=pckcert_params(platform.platform_id, with_qe_id=False)).status_code == 404
    intel.withhold_pck_certificates(platform)
    every = client.get(f"{V4}/pckcerts", params={"encrypted_ppid": platform.encrypted_ppid.hex(), "pceid": "0000"})
    assert every.status_code == 200 and {item["cert"] for item in every.json()} == {"Not available"}


def test_subscription_key_is_checked_on_pck_endpoints_when_configured(
    intel: SimulatedIntel, platforms: dict[str, object]
) -> None:
    platform = platforms["sgx"]
    assert isinstance(platform, SimulatedSgxPlatform)
    params = pckcert_params(platform.platform_id, with_qe_id=False)
    with SimulatedPcs(intel, api_key="s3cret") as pcs, httpx.Client(base_url=pcs.url) as client:
        assert client.get(f"{V4}/pckcert", params=params).status_code == 401
        wrong = {"Ocp-Apim-Subscription-Key": "guess"}
        assert client.get(f"{V4}/pckcerts", params=params, headers=wrong).status_code == 401
        right = {"Ocp-Apim-Subscription-Key": "s3cret"}
        assert client.get(f"{V4}/pckcert", params=params, headers=right).status_code == 200
        assert client.get(f"{V4}/tcb", params={"fmspc": SGX_FMSPC.hex()}).status_code == 200


def test_pck_issuer_chain_is_the_one_that_certified_the_platform(client: httpx.Client, intel: SimulatedIntel) -> None:
    platform = intel.sgx_platform(scenario="wrong-root")  # certified by another root, yet known to this PCS
    assert platform.intel is not intel
    chain = pem_chain(platform.issuer, platform.intel.pki.root)
    r = client.get(f"{V4}/pckcert", params=pckcert_params(platform.platform_id, with_qe_id=False))
    assert r.status_code == 200 and r.content == platform.pck_certificate_pem
    assert unquote(r.headers["SGX-PCK-Certificate-Issuer-Chain"]).encode() == chain
    certs = client.get(f"{V4}/pckcerts", params={"encrypted_ppid": platform.encrypted_ppid.hex(), "pceid": "0000"})
    assert unquote(certs.headers["SGX-PCK-Certificate-Issuer-Chain"]).encode() == chain


def test_a_busy_port_is_refused_without_leaking_the_socket(pcs: SimulatedPcs, intel: SimulatedIntel) -> None:
    port = int(pcs.url.rsplit(":", 1)[1])
    gc.collect()  # what earlier tests left for the collector is not this test's leak
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(OSError):
            SimulatedPcs(intel, port=port).start()
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


# ---- CRLs -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ca", ["processor", "platform"])
def test_pckcrl_in_der_and_pem(client: httpx.Client, intel: SimulatedIntel, ca: str) -> None:
    der = client.get(f"{V4}/pckcrl", params={"ca": ca, "encoding": "der"})
    assert der.status_code == 200 and der.headers["Content-Type"] == "application/pkix-crl"
    assert der.content == intel.pck_crl(ca)
    pem = client.get(f"{V4}/pckcrl", params={"ca": ca})
    assert pem.headers["Content-Type"] == "application/x-pem-file"
    assert pem.content.startswith(b"-----BEGIN X509 CRL-----")
    assert x509.load_pem_x509_crl(pem.content) == x509.load_der_x509_crl(der.content)
    assert _chain(der, "SGX-PCK-CRL-Issuer-Chain")[1] == "Intel SGX Root CA"
    assert client.get(f"{V4}/pckcrl", params={"ca": "other"}).status_code == 400
    assert client.get(f"{V4}/pckcrl", params={"ca": ca, "encoding": "hex"}).status_code == 400


def test_rootcacrl_and_crl_by_uri(client: httpx.Client, intel: SimulatedIntel) -> None:
    hexed = client.get(f"{V4}/rootcacrl")
    assert hexed.status_code == 200 and bytes.fromhex(hexed.text) == intel.root_ca_crl()
    assert client.get(f"{V4}/rootcacrl", params={"encoding": "der"}).content == intel.root_ca_crl()
    assert client.get(f"{V4}/crl", params={"uri": ROOT_CRL_URL}).content == intel.root_ca_crl()
    assert client.get(f"{V4}/crl", params={"uri": pck_crl_url("platform")}).content == intel.pck_crl("platform")
    assert client.get(f"{V4}/crl", params={"uri": "https://example.com/x.crl"}).status_code == 404
    assert client.get(f"{V4}/crl").status_code == 400


# ---- TCB info and identities ----------------------------------------------------------------------------


def test_tcb_info_v4_and_v3(client: httpx.Client, intel: SimulatedIntel) -> None:
    r = client.get(f"{V4}/tcb", params={"fmspc": SGX_FMSPC.hex()})
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.content == intel.tcb_info(SGX_FMSPC)
    assert _chain(r, "TCB-Info-Issuer-Chain") == ["Intel SGX TCB Signing", "Intel SGX Root CA"]
    old = client.get("/sgx/certification/v3/tcb", params={"fmspc": SGX_FMSPC.hex().upper()})
    assert json.loads(old.content)["tcbInfo"]["version"] == 2
    assert "SGX-TCB-Info-Issuer-Chain" in old.headers and "TCB-Info-Issuer-Chain" not in old.headers
    tdx = client.get("/tdx/certification/v4/tcb", params={"fmspc": TDX_FMSPC.hex()})
    assert tdx.content == intel.tcb_info(TDX_FMSPC, "tdx")


def test_tcb_info_update_and_evaluation_number(client: httpx.Client, intel: SimulatedIntel) -> None:
    fmspc = {"fmspc": TDX_FMSPC.hex()}
    numbers = {
        update: json.loads(client.get(f"{V4}/tcb", params={**fmspc, "update": update}).content)["tcbInfo"][
            "tcbEvaluationDataNumber"
        ]
        for update in ("standard", "early")
    }
    assert numbers == {"standard": intel.catalog.standard, "early": intel.catalog.early}
    by_number = client.get(f"{V4}/tcb", params={**fmspc, "tcbEvaluationDataNumber": str(intel.catalog.early)})
    assert by_number.content == intel.tcb_info(TDX_FMSPC, update="early")
    both = client.get(f"{V4}/tcb", params={**fmspc, "update": "early", "tcbEvaluationDataNumber": "17"})
    assert both.status_code == 400 and "Error-Message" in both.headers
    assert client.get(f"{V4}/tcb", params={**fmspc, "tcbEvaluationDataNumber": "3"}).status_code == 410
    assert client.get(f"{V4}/tcb", params={**fmspc, "tcbEvaluationDataNumber": "99"}).status_code == 404
    assert client.get(f"{V4}/tcb", params={**fmspc, "update": "sometimes"}).status_code == 400


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        (f"{V4}/tcb", {"fmspc": "zz"}, 400),
        (f"{V4}/tcb", {}, 400),
        (f"{V4}/tcb", {"fmspc": "00906EA10000"}, 404),
        (f"{V4}/tcb", {"fmspc": SGX_FMSPC.hex(), "tcbEvaluationDataNumber": "\u00b2"}, 400),  # a digit, not a number
        ("/tdx/certification/v4/tcb", {"fmspc": SGX_FMSPC.hex()}, 404),
        ("/tdx/certification/v3/tcb", {"fmspc": TDX_FMSPC.hex()}, 404),
        (f"{V4}/no-such-endpoint", {}, 404),
    ],
)
def test_tcb_info_errors(client: httpx.Client, path: str, params: dict[str, str], status: int) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status
    _request_id(response)


@pytest.mark.parametrize(
    ("path", "enclave"),
    [(f"{V4}/qe/identity", "QE"), ("/tdx/certification/v4/qe/identity", "TD_QE"), (f"{V4}/qve/identity", "QVE")],
)
def test_enclave_identities(client: httpx.Client, intel: SimulatedIntel, path: str, enclave: str) -> None:
    r = client.get(path)
    assert r.status_code == 200 and r.content == intel.enclave_identity(enclave)
    assert _chain(r, "SGX-Enclave-Identity-Issuer-Chain") == ["Intel SGX TCB Signing", "Intel SGX Root CA"]
    early = client.get(path, params={"update": "early"})
    assert json.loads(early.content)["enclaveIdentity"]["tcbEvaluationDataNumber"] == intel.catalog.early
    assert client.get(path, params={"update": "early", "tcbEvaluationDataNumber": "17"}).status_code == 400


def test_api_v3_identity_has_no_advisories(client: httpx.Client) -> None:
    levels = json.loads(client.get("/sgx/certification/v3/qe/identity").content)["enclaveIdentity"]["tcbLevels"]
    assert all("advisoryIDs" not in level for level in levels)


def test_fmspcs_and_evaluation_numbers(client: httpx.Client, intel: SimulatedIntel) -> None:
    everything = client.get(f"{V4}/fmspcs").json()
    assert {"platform": "E3", "fmspc": SGX_FMSPC.hex().upper()} in everything
    assert all(item["platform"] == "E5" for item in client.get(f"{V4}/fmspcs", params={"platform": "E5"}).json())
    assert client.get(f"{V4}/fmspcs", params={"platform": "mainframe"}).status_code == 400
    for tee in ("sgx", "tdx"):
        r = client.get(f"/{tee}/certification/v4/tcbevaluationdatanumbers")
        assert r.content == intel.tcb_evaluation_data_numbers(tee)
        assert _chain(r, "TCB-Evaluation-Data-Numbers-Issuer-Chain")[0] == "Intel SGX TCB Signing"


# ---- the simulator's own endpoints and end to end -------------------------------------------------------


def test_root_ca_and_stats(pcs: SimulatedPcs, intel: SimulatedIntel) -> None:
    with httpx.Client(base_url=pcs.url) as client:
        assert client.get("/_sim/root-ca.pem").content == intel.root_pem
        pcs.reset_stats()
        client.get(f"{V4}/tcb", params={"fmspc": SGX_FMSPC.hex()})
        client.get(f"{V4}/tcb", params={"fmspc": "zz"})
        client.get("/tdx/certification/v4/qe/identity")
        stats = client.get("/_sim/stats").json()
        assert stats["total"] == 3 == pcs.stats()["total"]
        assert stats["by_endpoint"] == {"sgx/v4/tcb": 2, "tdx/v4/qe/identity": 1}
        assert client.delete("/_sim/stats").json()["total"] == 0
        assert pcs.stats()["by_endpoint"] == {}


def _fetch_collateral(client: httpx.Client, quote_platform: SimulatedTdxPlatform) -> Collateral:
    tcb = client.get("/tdx/certification/v4/tcb", params={"fmspc": quote_platform.fmspc.hex()})
    crl = client.get(f"{V4}/pckcrl", params={"ca": quote_platform.ca, "encoding": "der"})
    identity = client.get("/tdx/certification/v4/qe/identity")
    return Collateral.create(
        pck_crl=crl.content,
        pck_crl_issuer_chain=unquote(crl.headers["SGX-PCK-CRL-Issuer-Chain"]),
        root_ca_crl=client.get(f"{V4}/rootcacrl").text,
        tcb_info=tcb.content,
        tcb_info_issuer_chain=unquote(tcb.headers["TCB-Info-Issuer-Chain"]),
        qe_identity=identity.content,
        qe_identity_issuer_chain=unquote(identity.headers["SGX-Enclave-Identity-Issuer-Chain"]),
    )


def test_collateral_fetched_over_http_verifies_a_quote(
    client: httpx.Client, intel: SimulatedIntel, platforms: dict[str, object]
) -> None:
    platform = platforms["tdx"]
    assert isinstance(platform, SimulatedTdxPlatform)
    collateral = _fetch_collateral(client, platform)
    assert collateral.digest == intel.collateral_for(platform).digest
    result = Verifier(trusted_root=client.get("/_sim/root-ca.pem").content).appraise(
        platform.quote(), collateral, at=AT
    )
    assert result.tcb_status == TcbStatus.UP_TO_DATE
