"""pydcap's Azure provider against the simulated Azure service: PCK certificates from THIM (with the metadata
header), then the local cache, then the secondary URL, THIM skipped for 30 s after a failure; collateral from
the cache first; the ``AZDCAP_*`` settings that change requests; logging levels; the persistent store."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
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
    UntrustedRootWarning,
    open_provider,
)
from pydcap.sim import SimulatedIntel, SimulatedPlatform
from pydcap.sim.azure_server import AzureRequest, SimulatedAzure
from pydcap.sources.azure import API_VERSION_COLLATERAL, API_VERSION_PCK, CRL_URIS
from tests.provider.conftest import platform_id


class Clock:
    """The monotonic clock of the 30 s back-off, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=21)


@pytest.fixture(scope="module")
def sgx(intel: SimulatedIntel) -> SimulatedPlatform:
    return intel.sgx_platform(name="azure-sgx")


@pytest.fixture
def azure(intel: SimulatedIntel) -> Iterator[SimulatedAzure]:
    with SimulatedAzure(intel) as server:
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
    intel: SimulatedIntel, azure: SimulatedAzure, tmp: Path, clock: Clock | None = None, **extra: str
) -> AzureProvider:
    config = AzureConfig.from_env(environment(azure, tmp, **extra))
    store = CollateralStore.open(tmp / "store.sqlite3")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrustedRootWarning)
        return AzureProvider(config, store=store, trust=intel.trust_root, monotonic=clock or Clock())


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
    # Verifying the certificate needed the PCK CRL and root CA CRL, from the global cache without the header.
    crls = [r for r in azure.requests if r.path.endswith("/pckcrl")]
    assert {r.params["uri"] for r in crls} == {CRL_URIS["root"], CRL_URIS["processor"]}
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
        clock.now += 2
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
    tcb = next(r for r in asked if r.path.endswith("/tcb"))
    assert (tcb.params["fmspc"], tcb.params["api-version"]) == (sgx.fmspc.hex().upper(), API_VERSION_COLLATERAL)


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
        source = p.service.inner.source
        assert source.collateral.tdx_url == "https://useast.thim.azure.net/sgx/certification"  # type: ignore[attr-defined]


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
    assert messages[0] == f"[azure] Trying to fetch response from primary URL: '{azure.thim_url}'."
    assert "[azure] Certificate not found in local cache. Trying secondary URL" in messages[3]


def test_logs_to_file_and_to_a_callback(
    intel: SimulatedIntel,
    sgx: SimulatedPlatform,
    azure: SimulatedAzure,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    with provider(intel, azure, tmp_path, AZDCAP_DEBUG_LOG_LEVEL="INFO", AZDCAP_WRITE_LOGS_TO_FILE="TRUE") as p:
        p.pck_cert_chain(platform_id(sgx))
    lines = (tmp_path / "dcapLog.txt").read_text().splitlines()
    assert lines[0] == f"[INFO]: [azure] Trying to fetch response from primary URL: '{azure.thim_url}'."
    heard: list[tuple[LogLevel, str]] = []
    with provider(intel, azure, tmp_path / "quiet", AZDCAP_DEBUG_LOG_LEVEL="FATAL") as p:
        p.set_logging(lambda level, message: heard.append((level, message)), LogLevel.INFO)
        p.pck_cert_chain(platform_id(sgx))
    assert heard[:2] == [
        (LogLevel.INFO, f"[azure] Trying to fetch response from primary URL: '{azure.thim_url}'."),
        (LogLevel.INFO, "[azure] Successfully fetched certificate from primary URL."),
    ]
