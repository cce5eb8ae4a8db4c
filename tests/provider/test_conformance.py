"""One conformance suite, four providers, the same simulated Intel: the bundled provider against the simulated
PCS, Intel's QCNL client configured for pydcap's PCCS (itself in LAZY mode in front of the simulated PCS),
pydcap's Azure client against the simulated Azure service (TDX collateral from its regional THIM, over TLS), and
the C test plugin serving the same documents
from files. For each simulated SGX and TDX platform they must give the same collateral (digest), the same
verdict, the same PCK certificate chain and certified TCB, the same QvE identity and root CA CRL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pydcap import Verifier
from pydcap.collateral import Collateral
from pydcap.pccs import PccsConfig, PccsServer
from pydcap.pki import CertificateChain
from pydcap.provider import AzureProvider, NativeProvider, QuoteProvider, UntrustedRootWarning, open_provider
from pydcap.quote import TeeType
from pydcap.serving.tls import self_signed
from pydcap.sim import SimulatedIntel, SimulatedPlatform
from pydcap.sim.azure_server import SimulatedAzure
from pydcap.sim.server import SimulatedPcs
from pydcap.sources import HttpSettings
from tests.support.provider import platform_id

PROVIDERS = ("bundled", "intel-qcnl", "azure", "native")
PLATFORMS = {
    "sgx-up-to-date": lambda intel: intel.sgx_platform(name="conformance-sgx"),
    "sgx-out-of-date": lambda intel: intel.sgx_platform(scenario="out-of-date"),
    "sgx-platform-ca": lambda intel: intel.sgx_platform(scenario="platform-ca"),
    "tdx-up-to-date": lambda intel: intel.tdx_platform(name="conformance-tdx"),
    "tdx-module-out-of-date": lambda intel: intel.tdx_platform(scenario="module-out-of-date"),
}


@dataclass(frozen=True)
class World:
    intel: SimulatedIntel
    platforms: dict[str, SimulatedPlatform]
    root_pem: Path


@pytest.fixture(scope="module")
def conformance_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    intel = SimulatedIntel(seed=6)
    root = tmp_path_factory.mktemp("trust") / "simulated-root.pem"
    root.write_bytes(intel.root_pem)
    return World(intel, {name: make(intel) for name, make in PLATFORMS.items()}, root)


def ders(pem: bytes) -> list[bytes]:
    """The certificates of a PEM chain, as DER, in order."""
    return [c.der for c in CertificateChain.parse(pem).certificates]


def tee_of(p: SimulatedPlatform) -> TeeType:
    return TeeType.TDX if p.tee == "tdx" else TeeType.SGX


# ---- the four providers, each in front of its own service ----------------------------------------


@pytest.fixture(scope="module")
def pcs(conformance_world: World) -> Iterator[SimulatedPcs]:
    with SimulatedPcs(conformance_world.intel) as server:
        yield server


def _bundled(conformance_world: World, pcs: SimulatedPcs, tmp: Path) -> QuoteProvider:
    env = {
        "PYDCAP_COLLATERAL_URL": pcs.url,
        "PYDCAP_CACHE": str(tmp / "bundled.sqlite3"),
        "PYDCAP_TRUSTED_ROOT": str(conformance_world.root_pem),
    }
    with pytest.warns(UntrustedRootWarning, match="bundled provider trusts a root other than Intel's"):
        return open_provider("bundled", env=env)


def _qcnl(conformance_world: World, pcs: SimulatedPcs, tmp: Path, stack: list[PccsServer]) -> QuoteProvider:
    config = PccsConfig(
        port=0,
        upstream=pcs.url,
        insecure_http=True,
        root_ca=str(conformance_world.root_pem),
        database=str(tmp / "pccs.sqlite3"),
        state_dir=str(tmp),
    )
    pccs = PccsServer.create(config).start()
    stack.append(pccs)
    qcnl = tmp / "sgx_default_qcnl.conf"
    qcnl.write_text(json.dumps({"pccs_url": f"{pccs.url}/sgx/certification/v4/", "pccs_api_version": "3.1"}))
    env = {
        "QCNL_CONF_PATH": str(qcnl),
        "AZDCAP_CACHE": str(tmp),
        "PYDCAP_TRUSTED_ROOT": str(conformance_world.root_pem),
    }
    with pytest.warns(UntrustedRootWarning, match="intel-qcnl provider trusts a root other than Intel's"):
        return open_provider("intel", env=env)


def _azure(conformance_world: World, tmp: Path, stack: list[SimulatedAzure]) -> QuoteProvider:
    cert, key = self_signed("localhost")
    (tmp / "thim.pem").write_bytes(cert)
    (tmp / "thim.key").write_bytes(key)
    azure = SimulatedAzure(conformance_world.intel).start()
    stack.append(azure)
    regional = SimulatedAzure(conformance_world.intel, tls=(tmp / "thim.pem", tmp / "thim.key")).start()
    stack.append(regional)
    env = {
        "AZDCAP_BASE_CERT_URL": azure.url,
        "AZDCAP_PRIMARY_BASE_CERT_URL": azure.thim_url,
        "AZDCAP_SECONDARY_BASE_CERT_URL": azure.url,
        "AZDCAP_REGION_URL": f"localhost:{regional.port}",
        "AZDCAP_BASE_CERT_URL_TDX": "/sgx/certification",
        "AZDCAP_CACHE": str(tmp),
        "PYDCAP_TRUSTED_ROOT": str(conformance_world.root_pem),
    }
    with pytest.warns(UntrustedRootWarning, match="azure provider trusts a root other than Intel's"):
        return AzureProvider(env=env, settings=HttpSettings(verify_tls=str(tmp / "thim.pem")))


def write_plugin_files(conformance_world: World, directory: Path) -> None:
    """What the C test plugin serves: each platform's PCK chain and TCBm, the collateral of each FMSPC and
    CA, the QvE identity and the root CA CRL, all from the simulated Intel."""
    intel = conformance_world.intel
    for p in conformance_world.platforms.values():
        d = directory / "pck" / p.qe_id.hex()
        d.mkdir(parents=True, exist_ok=True)
        (d / "pck_chain.pem").write_bytes(p.pck_chain_pem)
        (d / "tcbm.hex").write_text(p.pck.tcbm.lower())
        c = intel.collateral_for(p)
        d = directory / p.tee / f"{p.fmspc.hex()}_{p.ca}"
        d.mkdir(parents=True, exist_ok=True)
        parts = {
            "pck_crl": c.pck_crl,
            "pck_crl_issuer_chain.pem": c.pck_crl_issuer_chain,
            "root_ca_crl": c.root_ca_crl,
            "tcb_info.json": c.tcb_info.to_bytes(),
            "tcb_info_issuer_chain.pem": c.tcb_info_issuer_chain,
            "qe_identity.json": c.qe_identity.to_bytes(),
            "qe_identity_issuer_chain.pem": c.qe_identity_issuer_chain,
        }
        for name, data in parts.items():
            (d / name).write_bytes(data)
    (directory / "sgx" / "root_ca_crl").write_bytes(intel.root_ca_crl())
    (directory / "qve_identity.json").write_bytes(intel.enclave_identity("QVE"))
    (directory / "qve_identity_issuer_chain.pem").write_bytes(intel.signing_chain)


def _native(conformance_world: World, plugin: Path, tmp: Path) -> QuoteProvider:
    served = tmp / "served"
    write_plugin_files(conformance_world, served)
    library = tmp / "libdcap_quoteprov.so.1"
    library.write_bytes(plugin.read_bytes())
    provider = open_provider(str(library), env={"PYDCAP_SYSROOT": str(tmp / "empty-root")})
    assert isinstance(provider, NativeProvider)
    provider.library.fakeqpl_configure(str(served).encode(), 3, 1)  # collateral 3.1: CRLs as DER
    return provider


@pytest.fixture(scope="module", params=PROVIDERS)
def provider(
    request: pytest.FixtureRequest,
    conformance_world: World,
    pcs: SimulatedPcs,
    plugin_builds: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[QuoteProvider]:
    tmp = tmp_path_factory.mktemp(request.param)
    servers: list[PccsServer] = []
    azure: list[SimulatedAzure] = []
    if request.param == "bundled":
        opened = _bundled(conformance_world, pcs, tmp)
    elif request.param == "intel-qcnl":
        opened = _qcnl(conformance_world, pcs, tmp, servers)
    elif request.param == "azure":
        opened = _azure(conformance_world, tmp, azure)
    else:
        opened = _native(conformance_world, plugin_builds["intel"], tmp)
    try:
        with opened:
            yield opened
    finally:
        for s in servers:
            s.stop()
        for a in azure:
            a.stop()


# ---- the suite -----------------------------------------------------------------------------------


@pytest.fixture(params=list(PLATFORMS))
def platform(request: pytest.FixtureRequest, conformance_world: World) -> SimulatedPlatform:
    return conformance_world.platforms[request.param]


def test_open_provider_gave_the_provider_asked_for(provider: QuoteProvider, request: pytest.FixtureRequest) -> None:
    assert provider.name.split(":")[0] == request.node.callspec.params["provider"]


def test_same_collateral(provider: QuoteProvider, platform: SimulatedPlatform, conformance_world: World) -> None:
    expected = conformance_world.intel.collateral_for(platform)
    ca = "processor" if platform.ca == "processor" else "platform"
    asked = provider.verification_collateral(platform.fmspc, ca, tee_of(platform))
    from_quote = provider.collateral_for_quote(platform.quote(report_data=b"conformance"))
    assert asked.digest == expected.digest
    assert from_quote.digest == expected.digest


def _verdict(conformance_world: World, quote: bytes, collateral: Collateral) -> tuple[object, ...]:
    r = Verifier(trusted_root=conformance_world.intel.trust_root).verify(quote, collateral)
    return (r.qv_result, r.tcb_status, r.failure, tuple(r.advisory_ids), r.accepted)


def test_same_verdict(provider: QuoteProvider, platform: SimulatedPlatform, conformance_world: World) -> None:
    quote = platform.quote(report_data=b"conformance")
    reference = _verdict(conformance_world, quote, conformance_world.intel.collateral_for(platform))
    assert _verdict(conformance_world, quote, provider.collateral_for_quote(quote)) == reference


def test_the_reference_verdicts_differ(conformance_world: World) -> None:
    """The platforms are chosen so that the verdicts the providers must agree on are not all alike."""
    statuses = {
        _verdict(conformance_world, q, conformance_world.intel.collateral_for(p))[1]
        for p in conformance_world.platforms.values()
        for q in [p.quote(report_data=b"conformance")]
    }
    assert {"UpToDate", "OutOfDate"} <= statuses


def test_same_pck_certificate_chain_and_certified_tcb(
    provider: QuoteProvider, platform: SimulatedPlatform, conformance_world: World
) -> None:
    chain = provider.pck_cert_chain(platform_id(platform))
    assert ders(chain.pem) == ders(platform.pck_chain_pem)
    assert (chain.cert_cpu_svn, chain.cert_pce_svn) == (platform.pck.cpu_svn, platform.pck.pce_svn)
    assert chain.pck.fmspc == platform.fmspc


def test_same_qve_identity_and_root_ca_crl(provider: QuoteProvider, conformance_world: World) -> None:
    qve = provider.qve_identity()
    assert qve.identity.to_bytes() == conformance_world.intel.enclave_identity("QVE")
    assert ders(qve.issuer_chain) == ders(conformance_world.intel.signing_chain)
    assert provider.root_ca_crl() == conformance_world.intel.root_ca_crl()
