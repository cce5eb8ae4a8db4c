"""The bundled provider: its ``PYDCAP_*`` configuration, the machine certificate and collateral persisted
(and verified) in the store, named errors, cache clearing and logging, against real loopback services."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from pydcap.cache import CollateralStore
from pydcap.pccs import PccsConfig, PccsServer
from pydcap.provider import (
    BundledConfig,
    BundledProvider,
    CacheKind,
    CollateralNotFound,
    LogLevel,
    NoPlatformCertData,
    PlatformId,
    ProviderConfigError,
    ProviderNetworkError,
    ServiceUnavailable,
    UnexpectedProviderError,
    UntrustedCollateral,
    UntrustedRootWarning,
    codes,
    open_provider,
)
from pydcap.quote import TeeType
from pydcap.sim import SimulatedIntel, SimulatedPlatform
from pydcap.sim.azure_server import SimulatedAzure
from pydcap.sim.server import SimulatedPcs
from pydcap.sources import HttpSettings, PcsClient, RetryPolicy
from tests.support.provider import platform_id

INTEL_PCS = "https://api.trustedservices.intel.com"
ONE_TRY = HttpSettings(connect_timeout=1.0, read_timeout=2.0, retry=RetryPolicy(attempts=1, deadline=3.0))


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=11)


@pytest.fixture(scope="module")
def sgx(intel: SimulatedIntel) -> SimulatedPlatform:
    return intel.sgx_platform(name="bundled-sgx")


@pytest.fixture
def pcs(intel: SimulatedIntel) -> Iterator[SimulatedPcs]:
    with SimulatedPcs(intel) as server:
        yield server


def bundled(intel: SimulatedIntel, url: str, store: Path, source: PcsClient | None = None) -> BundledProvider:
    """A bundled provider trusting the simulated Intel (the warning that says so is tested once, below)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrustedRootWarning)
        return BundledProvider(BundledConfig(url=url, store=str(store)), source=source, trust=intel.trust_root)


def endpoint_counts(pcs: SimulatedPcs) -> dict[str, int]:
    return dict(pcs.stats()["by_endpoint"])


# ---- configuration -------------------------------------------------------------------------------


def test_defaults_need_no_setup(tmp_path: Path) -> None:
    c = BundledConfig.from_env({"HOME": str(tmp_path)})
    assert (c.service, c.service_url, c.update.value, c.verify_tls, c.api_key) == (
        "pcs",
        INTEL_PCS,
        "standard",
        True,
        None,
    )
    assert c.describe() == f"Intel PCS at {INTEL_PCS}"
    assert c.probe_url() == f"{INTEL_PCS}/sgx/certification/v4/qe/identity"
    assert c.variables_set == ()


def test_every_variable(intel: SimulatedIntel, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(intel.root_pem)
    env = {
        "PYDCAP_COLLATERAL_SERVICE": "PCCS",
        "PYDCAP_COLLATERAL_URL": "https://pccs.internal:8081/sgx/certification/v3/",
        "PYDCAP_COLLATERAL_UPDATE": "early",
        "PYDCAP_COLLATERAL_VERIFY_TLS": str(bundle),
        "PYDCAP_PCS_API_KEY": "secret",
        "PYDCAP_CACHE": "postgresql+psycopg://pydcap@db/pydcap",
        "PYDCAP_TRUSTED_ROOT": "/etc/pydcap/root.pem",
        "PYDCAP_SYSROOT": "/ignored",
    }
    c = BundledConfig.from_env(env)
    assert (c.service, c.update.value, c.verify_tls, c.api_key) == ("pccs", "early", str(bundle), "secret")
    assert (c.store_location, c.trusted_root) == ("postgresql+psycopg://pydcap@db/pydcap", "/etc/pydcap/root.pem")
    assert c.probe_url() == "https://pccs.internal:8081/sgx/certification/v3/qe/identity"
    assert c.to_dict()["api_key"] == "set"
    assert len(c.variables_set) == 7


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("PYDCAP_COLLATERAL_SERVICE", "intel", "must be pcs, pccs or azure"),
        ("PYDCAP_COLLATERAL_URL", "api.trustedservices.intel.com", "not an http:// or https:// URL"),
        ("PYDCAP_COLLATERAL_UPDATE", "latest", "must be standard or early"),
        ("PYDCAP_COLLATERAL_VERIFY_TLS", "/no/such/bundle.pem", "must be true, false or the path of a CA bundle"),
        ("PYDCAP_COLLATERAL_URI", "https://x", "did you mean PYDCAP_COLLATERAL_URL?"),
    ],
)
def test_bad_values_are_refused_with_the_variable(name: str, value: str, reason: str) -> None:
    with pytest.raises(ProviderConfigError, match=reason) as caught:
        BundledConfig.from_env({name: value})
    assert caught.value.key == name


def test_a_ca_bundle_without_a_certificate_is_refused_with_the_variable(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ProviderConfigError, match="not a usable CA bundle") as caught:
        BundledConfig.from_env({"PYDCAP_COLLATERAL_VERIFY_TLS": str(junk)})
    assert caught.value.key == "PYDCAP_COLLATERAL_VERIFY_TLS"


def test_azure_and_an_unusable_pccs_url(tmp_path: Path) -> None:
    azure = BundledConfig.from_env({"PYDCAP_COLLATERAL_SERVICE": "azure"})
    assert azure.probe_url() == (
        "https://global.acccache.azure.net/sgx/certification/v4/qe/identity?clientid=production_client"
        "&api-version=2018-10-01-preview"
    )
    v2 = BundledConfig.from_env({"PYDCAP_COLLATERAL_URL": "https://pccs:8081/sgx/certification/v2/"})
    with pytest.raises(ProviderConfigError, match="API version 2 is not supported") as caught:
        v2.make_source()
    assert caught.value.key == "PYDCAP_COLLATERAL_URL"


def test_open_provider_picks_bundled_from_the_environment(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    env = {"PYDCAP_SYSROOT": str(tmp_path / "root"), "PYDCAP_CACHE": str(store), "PYDCAP_PCS_API_KEY": "k"}
    with open_provider(env=env) as provider:
        assert isinstance(provider, BundledProvider)
        assert provider.source.description == f"Intel PCS at {INTEL_PCS} (API v4)"
        assert provider.trust.is_intel
    assert store.is_file()


def test_a_trusted_root_other_than_intels_is_announced(intel: SimulatedIntel, tmp_path: Path) -> None:
    pem = tmp_path / "root.pem"
    pem.write_bytes(intel.root_pem)
    env = {"PYDCAP_TRUSTED_ROOT": str(pem), "PYDCAP_CACHE": str(tmp_path / "s.sqlite3")}
    with pytest.warns(UntrustedRootWarning, match=r"prove nothing about real Intel hardware") as caught:
        provider = BundledProvider(env=env)
    provider.close()
    assert intel.trust_root.key_id.hex()[:16] in str(caught[0].message)
    with pytest.raises(ProviderConfigError, match="cannot read") as error:
        BundledProvider(env={"PYDCAP_TRUSTED_ROOT": str(tmp_path / "absent.pem")})
    assert error.value.key == "PYDCAP_TRUSTED_ROOT"


def test_the_store_opened_is_the_store_the_configuration_names(
    intel: SimulatedIntel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A configuration without a store means default_store_path(), as it says (and as doctor reports).
    monkeypatch.setenv("PYDCAP_CACHE", str(tmp_path / "elsewhere.sqlite3"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    config = BundledConfig(url="https://pccs.test/sgx/certification/v4/", service="pccs")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrustedRootWarning)
        provider = BundledProvider(config, trust=intel.trust_root)
    with provider:
        assert provider.store is not None and provider.store.location == config.store_location
    assert config.store_location == str(tmp_path / "xdg" / "pydcap" / "collateral.sqlite3")
    assert not (tmp_path / "elsewhere.sqlite3").exists()


def test_a_store_that_cannot_be_opened_names_the_variable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ProviderConfigError, match="cannot create the cache file") as caught:
        BundledProvider(env={"PYDCAP_CACHE": str(blocker / "store.sqlite3")})
    assert caught.value.key == "PYDCAP_CACHE"


# ---- serving -------------------------------------------------------------------------------------


def test_the_machine_certificate_and_collateral_persist(
    intel: SimulatedIntel, sgx: SimulatedPlatform, pcs: SimulatedPcs, tmp_path: Path
) -> None:
    store = tmp_path / "store.sqlite3"
    quote = sgx.quote(report_data=b"persist")
    with bundled(intel, pcs.url, store) as first:
        chain = first.pck_cert_chain(platform_id(sgx))
        collateral = first.collateral_for_quote(quote)
    fetched = endpoint_counts(pcs)
    assert fetched["sgx/v4/pckcert"] == 1 and fetched["sgx/v4/tcb"] == 1
    pcs.faults.outage()  # a new process, the service gone: the store answers
    with bundled(intel, pcs.url, store) as second:
        assert second.pck_cert_chain(platform_id(sgx)) == chain
        assert second.collateral_for_quote(quote).digest == collateral.digest
    assert chain.pem == sgx.pck_chain_pem and (chain.cert_cpu_svn, chain.cert_pce_svn) == (sgx.cpu_svn, sgx.pce_svn)


def test_collateral_that_does_not_verify_is_refused_and_not_kept(
    sgx: SimulatedPlatform, pcs: SimulatedPcs, tmp_path: Path
) -> None:
    store = CollateralStore.open(tmp_path / "store.sqlite3")
    provider = BundledProvider(BundledConfig(url=pcs.url), store=store)  # trusts Intel's real root
    with provider, pytest.raises(UntrustedCollateral) as caught:
        provider.collateral_for_quote(sgx.quote())
    assert caught.value.code == codes.UNABLE_TO_GET_COLLATERAL
    assert "refused the root CA CRL" in caught.value.detail and "not signed by the trusted root" in caught.value.detail
    assert store.entries() == []
    store.close()


def test_errors_are_named(intel: SimulatedIntel, sgx: SimulatedPlatform, pcs: SimulatedPcs, tmp_path: Path) -> None:
    with bundled(intel, pcs.url, tmp_path / "s.sqlite3") as provider:
        stranger = PlatformId(b"\x01" * 16, bytes(16), 0, 0, b"\x02" * 384)
        with pytest.raises(NoPlatformCertData) as no_cert:
            provider.pck_cert_chain(stranger)
        assert no_cert.value.code == codes.NO_PLATFORM_CERT_DATA
        with pytest.raises(CollateralNotFound) as no_tcb:
            provider.verification_collateral(bytes.fromhex("00aabbccddee"), "processor", TeeType.SGX)
        assert no_tcb.value.code == codes.TCBINFO_NOT_FOUND
    source = PcsClient(pcs.url, settings=ONE_TRY)
    with bundled(intel, pcs.url, tmp_path / "t.sqlite3", source=source) as provider:
        pcs.faults.server_error(503)
        with pytest.raises(ServiceUnavailable):
            provider.collateral_for_quote(sgx.quote())
        pcs.faults.clear()
        pcs.faults.outage()
        with pytest.raises(ProviderNetworkError, match="gave no answer"):
            provider.pck_cert_chain(platform_id(sgx))


def test_the_api_key_goes_to_intel_pcs(intel: SimulatedIntel, sgx: SimulatedPlatform, tmp_path: Path) -> None:
    with SimulatedPcs(intel, api_key="subscription") as keyed:
        keyless = bundled(intel, keyed.url, tmp_path / "a.sqlite3")
        with keyless, pytest.raises(UnexpectedProviderError, match="subscription key"):
            keyless.pck_cert_chain(platform_id(sgx))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UntrustedRootWarning)
            config = BundledConfig(url=keyed.url, api_key="subscription", store=str(tmp_path / "b.sqlite3"))
            with BundledProvider(config, trust=intel.trust_root) as provider:
                assert provider.pck_cert_chain(platform_id(sgx)).pem == sgx.pck_chain_pem


def test_clear_cache_forgets_the_kinds_asked_for(
    intel: SimulatedIntel, sgx: SimulatedPlatform, pcs: SimulatedPcs, tmp_path: Path
) -> None:
    quote = sgx.quote()
    with bundled(intel, pcs.url, tmp_path / "s.sqlite3") as provider:
        provider.pck_cert_chain(platform_id(sgx))
        provider.collateral_for_quote(quote)
        provider.clear_cache(CacheKind.CERTIFICATE)
        provider.pck_cert_chain(platform_id(sgx))
        provider.collateral_for_quote(quote)
        after_certificates = endpoint_counts(pcs)
        provider.clear_cache(CacheKind.QV_COLLATERAL)
        provider.collateral_for_quote(quote)
        after_collateral = endpoint_counts(pcs)
    assert (after_certificates["sgx/v4/pckcert"], after_certificates["sgx/v4/tcb"]) == (2, 1)
    assert (after_collateral["sgx/v4/pckcert"], after_collateral["sgx/v4/tcb"]) == (2, 2)


def test_logging_says_where_answers_came_from(
    intel: SimulatedIntel, sgx: SimulatedPlatform, pcs: SimulatedPcs, tmp_path: Path
) -> None:
    heard: list[tuple[LogLevel, str]] = []
    with bundled(intel, pcs.url, tmp_path / "s.sqlite3") as provider:
        provider.set_logging(lambda level, message: heard.append((level, message)), LogLevel.INFO)
        provider.collateral_for_quote(sgx.quote())
        provider.collateral_for_quote(sgx.quote())
        provider.set_logging(lambda level, message: heard.append((level, message)), LogLevel.ERROR)
        provider.collateral_for_quote(sgx.quote())
        with pytest.raises(CollateralNotFound):
            provider.verification_collateral(bytes(6), "platform")
        provider.set_logging(None)
        with pytest.raises(CollateralNotFound):
            provider.verification_collateral(bytes(6), "platform")
    fmspc = sgx.fmspc.hex()
    assert heard[0] == (
        LogLevel.INFO,
        f"[bundled] SGX collateral for FMSPC {fmspc} (processor CA): "
        + ", ".join(f"{part} upstream" for part in ("root_ca_crl", "pck_crl", "tcb_info", "qe_identity")),
    )
    assert heard[1][1].endswith("root_ca_crl memory, pck_crl memory, tcb_info memory, qe_identity memory")
    assert [level for level, _ in heard[2:]] == [LogLevel.ERROR]
    assert heard[2][1].startswith("[bundled] SGX collateral for FMSPC 000000000000 (platform CA) unavailable")


@pytest.mark.parametrize("service", ["pcs", "pccs", "azure"])
def test_each_kind_of_service(
    service: str, intel: SimulatedIntel, sgx: SimulatedPlatform, pcs: SimulatedPcs, tmp_path: Path
) -> None:
    pem = tmp_path / "root.pem"
    pem.write_bytes(intel.root_pem)
    env = {
        "PYDCAP_COLLATERAL_SERVICE": service,
        "PYDCAP_CACHE": str(tmp_path / "s.sqlite3"),
        "PYDCAP_TRUSTED_ROOT": str(pem),
    }
    with _service(service, intel, pcs, tmp_path) as url:
        env["PYDCAP_COLLATERAL_URL"] = url
        with pytest.warns(UntrustedRootWarning), open_provider("bundled", env=env) as provider:
            assert provider.collateral_for_quote(sgx.quote()).digest == intel.collateral_for(sgx).digest
            assert provider.pck_cert_chain(platform_id(sgx)).pem == sgx.pck_chain_pem


class _service:
    """The URL of a running service of the kind asked for, in front of the simulated Intel."""

    def __init__(self, kind: str, intel: SimulatedIntel, pcs: SimulatedPcs, tmp: Path) -> None:
        self.kind, self.intel, self.pcs, self.tmp = kind, intel, pcs, tmp
        self.running: PccsServer | SimulatedAzure | None = None

    def __enter__(self) -> str:
        if self.kind == "pcs":
            return self.pcs.url
        if self.kind == "azure":
            azure = self.running = SimulatedAzure(self.intel).start()
            return azure.url
        root = self.tmp / "pccs-root.pem"
        root.write_bytes(self.intel.root_pem)
        config = PccsConfig(
            port=0, upstream=self.pcs.url, insecure_http=True, root_ca=str(root),
            database=str(self.tmp / "pccs.sqlite3"), state_dir=str(self.tmp),
        )  # fmt: skip
        pccs = self.running = PccsServer.create(config).start()
        return f"{pccs.url}/sgx/certification/v4/"

    def __exit__(self, *exc: object) -> None:
        if self.running is not None:
            self.running.stop()
