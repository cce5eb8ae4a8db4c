"""pydcap's Azure provider against the simulated Azure service: PCK certificates from THIM (with the metadata
header), then the local cache, then the secondary URL, THIM skipped for 30 s after a failure; collateral from
the cache first, kept as long as the service says; TDX collateral from THIM in the VM's region (named, or
learnt from the instance metadata service); the ``AZDCAP_*`` settings that change requests; the error codes
Microsoft's library returns; logging levels and the log file; the persistent store."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pydcap.cache import CollateralStore
from pydcap.provider import (
    AzureConfig,
    AzureProvider,
    LogLevel,
    NoPlatformCertData,
    PlatformId,
    ProviderConfigError,
    ProviderError,
    UntrustedRootWarning,
    open_provider,
)
from pydcap.provider.azure.provider import LOG_FILE
from pydcap.quote import TeeType
from pydcap.serving.tls import self_signed
from pydcap.sim import SimulatedIntel, SimulatedPlatform
from pydcap.sim.azure_server import AzureRequest, SimulatedAzure
from pydcap.sources import HttpSettings, RetryPolicy
from pydcap.sources.azure import (
    API_VERSION_COLLATERAL,
    API_VERSION_INSTANCE_METADATA,
    API_VERSION_PCK,
    CRL_URIS,
    crl_uri_param,
)
from tests.support.provider import platform_id

THIM_SUFFIX = "/sgx/certification"  # AZDCAP_BASE_CERT_URL_TDX after a region "localhost:<port>" of the simulation


class Clock:
    """A clock moved by hand: monotonic for the 30 s back-off, or wall time for the cache."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=21)


@pytest.fixture(scope="module")
def sgx(intel: SimulatedIntel) -> SimulatedPlatform:
    return intel.sgx_platform(name="azure-sgx")


@pytest.fixture(scope="module")
def tdx(intel: SimulatedIntel) -> SimulatedPlatform:
    return intel.tdx_platform(name="azure-tdx")


@pytest.fixture
def azure(intel: SimulatedIntel) -> Iterator[SimulatedAzure]:
    with SimulatedAzure(intel) as server:
        yield server


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for ``localhost`` and its key: regional THIM is asked over https, as Microsoft's client does."""
    cert, key = self_signed("localhost")
    directory = tmp_path_factory.mktemp("thim-tls")
    (directory / "cert.pem").write_bytes(cert)
    (directory / "key.pem").write_bytes(key)
    return directory / "cert.pem", directory / "key.pem"


@pytest.fixture
def regional(intel: SimulatedIntel, tls: tuple[Path, Path]) -> Iterator[SimulatedAzure]:
    """THIM in the simulated VM's region, at ``https://localhost:<port>/sgx/certification``."""
    with SimulatedAzure(intel, tls=tls) as server:
        yield server


def environment(azure: SimulatedAzure, tmp: Path, **extra: str) -> dict[str, str]:
    return {
        "AZDCAP_BASE_CERT_URL": azure.url,
        "AZDCAP_PRIMARY_BASE_CERT_URL": azure.thim_url,
        "AZDCAP_SECONDARY_BASE_CERT_URL": azure.url,
        "AZDCAP_CACHE": str(tmp),
        **extra,
    }


def provider(
    intel: SimulatedIntel,
    azure: SimulatedAzure,
    tmp: Path,
    clock: Clock | None = None,
    *,
    wall: Clock | None = None,
    settings: HttpSettings | None = None,
    imds: str | None = None,
    log_file: Path = LOG_FILE,
    **extra: str,
) -> AzureProvider:
    """The provider in front of ``azure``, whose instance metadata service (or ``imds``) tells the region."""
    config = AzureConfig.from_env(environment(azure, tmp, **extra))
    config = replace(config, instance_metadata_url=imds or azure.instance_url)
    store = CollateralStore.open(tmp / "store.sqlite3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrustedRootWarning)
        return AzureProvider(
            config,
            store=store,
            trust=intel.trust_root,
            monotonic=clock or Clock(),
            clock=wall,
            settings=settings,
            log_file=log_file,
        )


def trusting(tls: tuple[Path, Path]) -> HttpSettings:
    return HttpSettings(verify_tls=str(tls[0]), retry=RetryPolicy(attempts=1))


def tdx_of(p: SimulatedPlatform) -> TeeType:
    return TeeType.TDX if p.tee == "tdx" else TeeType.SGX


def seen(azure: SimulatedAzure) -> list[tuple[str, str]]:
    """(service, endpoint) of every request since the last look, and forget them."""
    requests = azure.requests
    azure.clear_requests()
    return [(r.service, r.path.rsplit("/v4/", 1)[1]) for r in requests]


def pck_requests(azure: SimulatedAzure) -> list[AzureRequest]:
    return [r for r in azure.requests if r.path.endswith("/pckcert")]


# ---- PCK certificates ----------------------------------------------------------------------------


def test_pck_certificate_from_thim_with_the_metadata_header(
    intel: SimulatedIntel, sgx: SimulatedPlatform, azure: SimulatedAzure, tmp_path: Path
) -> None:
    with provider(intel, azure, tmp_path) as p:
        chain = p.pck_cert_chain(platform_id(sgx))
    assert chain.pem == sgx.pck_chain_pem and (chain.cert_cpu_svn, chain.cert_pce_svn) == (sgx.cpu_svn, sgx.pce_svn)
    (thim,) = pck_requests(azure)
    assert (thim.service, thim.headers["metadata"]) == ("thim", "true")
    assert thim.params["qeid"] == sgx.qe_id.hex() and thim.params["encrypted_ppid"] == sgx.encrypted_ppid.hex()
    assert (thim.params["clientid"], thim.params["api-version"]) == ("production_client", API_VERSION_PCK)
    # Verifying the certificate needed the PCK CRL and root CA CRL, from the global cache without the header,
    # each named by Intel's URL percent-encoded (so encoded twice on the wire), as Microsoft's client names them.
    crls = [r for r in azure.requests if r.path.endswith("/pckcrl")]
    assert {r.params["uri"] for r in crls} == {
        "https%3a%2f%2fcertificates.trustedservices.intel.com%2fintelsgxrootca.crl",
        "https%3a%2f%2fcertificates.trustedservices.intel.com%2fintelsgxpckprocessor.crl",
    }
    assert crl_uri_param(CRL_URIS["platform"]) == (
        "https%3a%2f%2fapi.trustedservices.intel.com%2fsgx%2fcertification%2fv3%2fpckcrl%3fca%3dplatform%26encoding%3dpem"
    )
    assert all(r.service == "global" and "metadata" not in r.headers for r in crls)


def test_thim_failing_falls_back_to_cache_then_secondary_and_is_skipped_for_30_s(
    intel: SimulatedIntel, sgx: SimulatedPlatform, azure: SimulatedAzure, tmp_path: Path
) -> None:
    clock = Clock()
    with provider(intel, azure, tmp_path, clock) as p:
        azure.thim_status = 503
        p.pck_cert_chain(platform_id(sgx))  # nothing cached yet: the secondary answers
        assert [e for e in seen(azure) if e[1] == "pckcert"] == [("thim", "pckcert"), ("global", "pckcert")]
        clock.now += 29
        assert p.pck_cert_chain(platform_id(sgx)).pem == sgx.pck_chain_pem
        assert seen(azure) == []  # THIM skipped, the local cache answered
        clock.now += 1
        p.pck_cert_chain(platform_id(sgx))
        assert seen(azure) == []  # 30 s exactly: still skipped (Microsoft's client waits more than 30 s)
        clock.now += 1
        p.pck_cert_chain(platform_id(sgx))
        assert seen(azure) == [("thim", "pckcert")]  # asked again, failed again, the cache answered
        azure.thim_status = None
        clock.now += 31
        p.pck_cert_chain(platform_id(sgx))
        assert seen(azure) == [("thim", "pckcert")]


def test_bypass_never_asks_thim(
    intel: SimulatedIntel, sgx: SimulatedPlatform, azure: SimulatedAzure, tmp_path: Path
) -> None:
    with provider(intel, azure, tmp_path, AZDCAP_BYPASS_BASE_URL="true") as p:
        assert p.primary is None
        p.pck_cert_chain(platform_id(sgx))
    assert [r.service for r in pck_requests(azure)] == ["global"]


def test_disable_ondemand_sends_no_encrypted_ppid(
    intel: SimulatedIntel, sgx: SimulatedPlatform, azure: SimulatedAzure, tmp_path: Path
) -> None:
    with provider(intel, azure, tmp_path, AZDCAP_DISABLE_ONDEMAND="1") as p:
        p.pck_cert_chain(platform_id(sgx))
    (thim,) = pck_requests(azure)
    assert "encrypted_ppid" not in thim.params and thim.params["qeid"] == sgx.qe_id.hex()


def test_an_unknown_platform(intel: SimulatedIntel, azure: SimulatedAzure, tmp_path: Path) -> None:
    stranger = PlatformId(b"\x07" * 16, bytes(16), 1, 0)
    with provider(intel, azure, tmp_path) as p, pytest.raises(NoPlatformCertData) as caught:
        p.pck_cert_chain(stranger)
    assert "404" in caught.value.detail
    assert [r.service for r in pck_requests(azure)] == ["thim", "global"]


# ---- collateral ----------------------------------------------------------------------------------


def test_collateral_comes_from_the_cache_first(
    intel: SimulatedIntel, sgx: SimulatedPlatform, azure: SimulatedAzure, tmp_path: Path
) -> None:
    quote = sgx.quote()
    with provider(intel, azure, tmp_path, AZDCAP_CLIENT_ID="my_client") as p:
        first = p.collateral_for_quote(quote)
        asked = azure.requests
        second = p.collateral_for_quote(quote)
    assert first.digest == second.digest == intel.collateral_for(sgx).digest
    assert len(azure.requests) == len(asked) == 4  # root CA CRL, PCK CRL, TCB info, QE identity: once each
    assert {r.params["clientid"] for r in asked} == {"my_client"}
    assert {r.service for r in asked} == {"global"}  # SGX never needs the region
    tcb = next(r for r in asked if r.path.endswith("/tcb"))
    assert (tcb.params["fmspc"], tcb.params["api-version"]) == (sgx.fmspc.hex(), API_VERSION_COLLATERAL)  # lower case


def test_a_document_is_kept_as_long_as_the_service_says(
    intel: SimulatedIntel, sgx: SimulatedPlatform, tmp_path: Path
) -> None:
    quote = sgx.quote()
    wall = Clock(time.time())
    with SimulatedAzure(intel, max_age=600) as azure:
        with provider(intel, azure, tmp_path / "service", wall=wall) as p:
            p.collateral_for_quote(quote)
            assert len(seen(azure)) == 4
            wall.now += 599
            p.collateral_for_quote(quote)
            assert seen(azure) == []
            wall.now += 2  # past the service's max-age: asked again, as Microsoft's client does
            p.collateral_for_quote(quote)
            assert len(seen(azure)) == 4
        # AZDCAP_CACHE_EXPIRY_IN_SECONDS shortens what the service says, never lengthens it.
        with provider(intel, azure, tmp_path / "shorter", wall=wall, AZDCAP_CACHE_EXPIRY_IN_SECONDS="300") as p:
            p.collateral_for_quote(quote)
            wall.now += 301
            seen(azure)
            p.collateral_for_quote(quote)
            assert len(seen(azure)) == 4


# ---- TDX: THIM in the VM's region ----------------------------------------------------------------


def test_tdx_without_a_region_asks_the_instance_metadata_service_then_regional_thim(
    intel: SimulatedIntel,
    tdx: SimulatedPlatform,
    sgx: SimulatedPlatform,
    azure: SimulatedAzure,
    regional: SimulatedAzure,
    tls: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    azure.location = f"LocalHost:{regional.port}"  # the client lower-cases what the service reports
    env = {"AZDCAP_BASE_CERT_URL_TDX": THIM_SUFFIX, "AZDCAP_CLIENT_ID": "tdx-tests"}
    with provider(intel, azure, tmp_path, settings=trusting(tls), **env) as p:
        collateral = p.collateral_for_quote(tdx.quote())
        p.verification_collateral(tdx.fmspc, "platform" if tdx.ca == "processor" else "processor", tdx_of(tdx))
        p.collateral_for_quote(sgx.quote())
    assert collateral.digest == intel.collateral_for(tdx).digest
    (imds,) = [r for r in azure.requests if r.service == "imds"]  # once, for the first TDX request
    assert (imds.headers["metadata"], imds.params) == ("true", {"api-version": API_VERSION_INSTANCE_METADATA})
    assert not [r for r in azure.requests if "/tdx/" in r.path]  # never the global cache for TDX
    thim = {(r.path, tuple(sorted(r.params.items()))) for r in regional.requests}
    client = ("clientid", "tdx-tests")
    documents = (("api-version", API_VERSION_COLLATERAL), client)
    assert thim == {
        ("/sgx/certification/v4/rootcacrl", (client,)),  # CRLs: no api-version, as Microsoft's client asks
        ("/sgx/certification/v4/pckcrl", (("ca", "processor"), client)),
        ("/sgx/certification/v4/pckcrl", (("ca", "platform"), client)),
        ("/tdx/certification/v4/tcb", (*documents, ("fmspc", tdx.fmspc.hex()))),
        ("/tdx/certification/v4/qe/identity", documents),
    }
    assert {r.headers["host"] for r in regional.requests} == {f"localhost:{regional.port}"}


def test_tdx_with_a_region_never_asks_the_instance_metadata_service_and_is_v4(
    intel: SimulatedIntel,
    tdx: SimulatedPlatform,
    azure: SimulatedAzure,
    regional: SimulatedAzure,
    tls: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    env = {
        "AZDCAP_REGION_URL": f"localhost:{regional.port}",
        "AZDCAP_BASE_CERT_URL_TDX": THIM_SUFFIX,
        "AZDCAP_COLLATERAL_VERSION": "v3",  # SGX only: TDX collateral is v4 (AZDCAP_COLLATERAL_VERSION_TDX)
    }
    with provider(intel, azure, tmp_path, settings=trusting(tls), **env) as p:
        assert p.collateral_for_quote(tdx.quote()).digest == intel.collateral_for(tdx).digest
    assert azure.requests == []
    assert len(regional.requests) == 4 and all("/v4/" in r.path for r in regional.requests)


def test_tdx_without_a_region_or_instance_metadata_is_a_network_error(
    intel: SimulatedIntel, tdx: SimulatedPlatform, azure: SimulatedAzure, tmp_path: Path
) -> None:
    closed = SimulatedAzure(intel).start()
    imds = closed.instance_url
    closed.stop()
    with provider(intel, azure, tmp_path, imds=imds) as p, pytest.raises(ProviderError) as caught:
        p.collateral_for_quote(tdx.quote())
    assert (caught.value.code, caught.value.name) == (0xE019, "SGX_QL_NETWORK_ERROR")
    assert "AZDCAP_REGION_URL" in caught.value.detail
    assert azure.requests == []  # no falling back to the global cache


# ---- errors: the quote3_error_t Microsoft's library returns --------------------------------------


def test_errors_are_named_as_microsofts_library_names_them(
    intel: SimulatedIntel, sgx: SimulatedPlatform, azure: SimulatedAzure, tmp_path: Path
) -> None:
    once = HttpSettings(retry=RetryPolicy(attempts=1))
    with provider(intel, azure, tmp_path, settings=once) as p:
        with pytest.raises(ProviderError) as caught:
            p.verification_collateral(bytes.fromhex("00aabbccddee"), "processor")  # 404: no such FMSPC
        assert caught.value.name == "SGX_QL_NO_QUOTE_COLLATERAL_DATA"
        azure.thim_status = azure.cache_status = 503
        with pytest.raises(ProviderError) as caught:
            p.pck_cert_chain(platform_id(sgx))
        assert caught.value.name == "SGX_QL_NETWORK_ERROR"  # any failed PCK request but a 404
        with pytest.raises(ProviderError) as caught:
            p.verification_collateral(sgx.fmspc, "platform")  # nothing of it cached: 503s
        assert caught.value.name == "SGX_QL_NO_QUOTE_COLLATERAL_DATA"  # any error status, for collateral


def test_the_store_lives_in_the_azure_cache_directory_and_survives(
    intel: SimulatedIntel, sgx: SimulatedPlatform, azure: SimulatedAzure, tmp_path: Path
) -> None:
    pem = tmp_path / "root.pem"
    pem.write_bytes(intel.root_pem)
    env = {**environment(azure, tmp_path), "PYDCAP_TRUSTED_ROOT": str(pem)}
    with pytest.warns(UntrustedRootWarning), open_provider("azure", env=env) as p:
        collateral = p.collateral_for_quote(sgx.quote())
    assert (tmp_path / ".az-dcap-client" / "pydcap-collateral.sqlite3").is_file()
    azure.stop()
    with pytest.warns(UntrustedRootWarning), open_provider("azure", env=env) as p:
        assert p.collateral_for_quote(sgx.quote()).digest == collateral.digest


def test_v2_collateral_and_a_tdx_region(azure: SimulatedAzure, tmp_path: Path) -> None:
    with pytest.raises(ProviderConfigError, match="reads v3 and v4 collateral") as caught:
        AzureProvider(AzureConfig(collateral_version="v2"), store=CollateralStore.open(tmp_path / "s.sqlite3"))
    assert caught.value.key == "AZDCAP_COLLATERAL_VERSION"
    config = AzureConfig.from_env({"AZDCAP_REGION_URL": "useast", "AZDCAP_CACHE": str(tmp_path)})
    with AzureProvider(config) as p:
        regional = p.service.inner.source.regional.client  # type: ignore[attr-defined]
        assert regional.tdx_url == "https://useast.thim.azure.net/sgx/certification"


# ---- logging -------------------------------------------------------------------------------------


def test_fatal_or_unset_is_silent_and_info_is_not(
    intel: SimulatedIntel,
    sgx: SimulatedPlatform,
    azure: SimulatedAzure,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="pydcap.provider.azure")
    for level in (None, "FATAL"):
        extra = {"AZDCAP_DEBUG_LOG_LEVEL": level} if level else {}
        with provider(intel, azure, tmp_path / str(level), **extra) as p:
            p.pck_cert_chain(platform_id(sgx))
        assert [r for r in caplog.records if r.name == "pydcap.provider.azure"] == []
    azure.thim_status = 503
    with provider(intel, azure, tmp_path / "warning", AZDCAP_DEBUG_LOG_LEVEL="WARNING") as p:
        p.pck_cert_chain(platform_id(sgx))
    warned = [r for r in caplog.records if r.name == "pydcap.provider.azure"]
    assert [r.levelname for r in warned] == ["WARNING"] and "the primary URL failed" in warned[0].getMessage()
    caplog.clear()
    with provider(intel, azure, tmp_path / "info", AZDCAP_DEBUG_LOG_LEVEL="INFO") as p:
        p.pck_cert_chain(platform_id(sgx))
    messages = [r.getMessage() for r in caplog.records if r.name == "pydcap.provider.azure"]
    assert messages[0] == f"[azure] asking the primary URL (THIM) {azure.thim_url}"
    assert "[azure] not in the local cache; asking the secondary URL" in messages[3]


def test_logs_to_file_and_to_a_callback(
    intel: SimulatedIntel,
    sgx: SimulatedPlatform,
    azure: SimulatedAzure,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert str(LOG_FILE) == "/tmp/dcapLog.txt"  # Microsoft's, wherever the process runs
    caplog.set_level(logging.DEBUG, logger="pydcap.provider.azure")
    log = tmp_path / "dcapLog.txt"
    with provider(intel, azure, tmp_path, log_file=log, AZDCAP_WRITE_LOGS_TO_FILE="TRUE") as p:
        p.pck_cert_chain(platform_id(sgx))
    # Every message goes to the file, whatever AZDCAP_DEBUG_LOG_LEVEL says (unset here: silent elsewhere).
    lines = log.read_text().splitlines()
    assert lines[0] == f"[INFO]: [azure] asking the primary URL (THIM) {azure.thim_url}"
    assert [r for r in caplog.records if r.name == "pydcap.provider.azure"] == []
    heard: list[tuple[LogLevel, str]] = []
    with provider(intel, azure, tmp_path / "quiet", AZDCAP_DEBUG_LOG_LEVEL="FATAL") as p:
        p.set_logging(lambda level, message: heard.append((level, message)), LogLevel.INFO)
        p.pck_cert_chain(platform_id(sgx))
    assert heard[:2] == [
        (LogLevel.INFO, f"[azure] asking the primary URL (THIM) {azure.thim_url}"),
        (LogLevel.INFO, "[azure] the primary URL gave the PCK certificate"),
    ]
