"""The ``AZDCAP_*`` environment: Microsoft's defaults, every variable, the log level, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pydcap.provider.azure.config import DEFAULT_BASE_CERT_URL, DEFAULT_PRIMARY_BASE_CERT_URL, AzureConfig
from pydcap.provider.errors import ProviderConfigError
from pydcap.provider.interface import LogLevel


def test_defaults_are_microsofts() -> None:
    c = AzureConfig.from_env({"PATH": "/bin"})
    assert c.base_cert_url == DEFAULT_BASE_CERT_URL == "https://global.acccache.azure.net/sgx/certification"
    assert c.client_id == "production_client"
    assert c.pck_urls == (DEFAULT_PRIMARY_BASE_CERT_URL, DEFAULT_BASE_CERT_URL)
    assert (c.collateral_version, c.collateral_version_tdx) == ("v4", "v4")
    assert c.silent and c.log_level is None
    assert (c.disable_ondemand, c.cache_expiry_seconds, c.write_logs_to_file) == (False, 0, False)
    assert c.tdx_base_url is None  # without a region, the instance metadata service tells it (never the global URL)
    assert AzureConfig.from_env({"AZDCAP_REGION_URL": "useast"}).tdx_base_url == (
        "https://useast.thim.azure.net/sgx/certification"
    )
    assert c.probe_url() == (
        "https://global.acccache.azure.net/sgx/certification/v4/qe/identity?clientid=production_client"
        "&api-version=2018-10-01-preview"
    )
    assert c.variables_set == ()


def test_every_variable() -> None:
    env = {
        "AZDCAP_BASE_CERT_URL": "https://cache.example.test/sgx/certification/",
        "AZDCAP_CLIENT_ID": "pydcap-tests",
        "AZDCAP_PRIMARY_BASE_CERT_URL": "http://127.0.0.1:9/metadata/THIM/sgx/certification",
        "AZDCAP_SECONDARY_BASE_CERT_URL": "https://secondary.example.test/sgx/certification",
        "AZDCAP_BYPASS_BASE_URL": "TRUE",
        "AZDCAP_BASE_CERT_URL_TDX": ".thim.example.test/sgx/certification",
        "AZDCAP_REGION_URL": "westeurope",
        "AZDCAP_COLLATERAL_VERSION": "v3",
        "AZDCAP_COLLATERAL_VERSION_TDX": "v4",
        "AZDCAP_DEBUG_LOG_LEVEL": "WARNING",
        "AZDCAP_DISABLE_ONDEMAND": "1",
        "AZDCAP_CACHE_EXPIRY_IN_SECONDS": "86400",
        "AZDCAP_WRITE_LOGS_TO_FILE": "TRUE",
        "AZDCAP_CACHE": "/var/cache/pydcap",
    }
    c = AzureConfig.from_env(env)
    assert c.base_cert_url == "https://cache.example.test/sgx/certification"
    assert c.client_id == "pydcap-tests"
    assert c.pck_urls == ("https://secondary.example.test/sgx/certification",)  # primary bypassed
    assert c.tdx_base_url == "https://westeurope.thim.example.test/sgx/certification"
    assert c.collateral_version == "v3" and c.log_level == LogLevel.WARNING
    assert c.disable_ondemand and c.cache_expiry_seconds == 86400 and c.write_logs_to_file
    assert c.cache_directory() == Path("/var/cache/pydcap/.az-dcap-client")
    assert len(c.variables_set) == len(env)
    assert c.to_dict()["log_level"] == "WARNING"


def test_a_region_and_tdx_suffix_make_a_url_as_microsofts_client_concatenates_them() -> None:
    env = {"AZDCAP_REGION_URL": "localhost:8443", "AZDCAP_BASE_CERT_URL_TDX": "/sgx/certification"}
    assert AzureConfig.from_env(env).tdx_base_url == "https://localhost:8443/sgx/certification"
    assert AzureConfig().tdx_url_in("westeurope") == "https://westeurope.thim.azure.net/sgx/certification"
    with pytest.raises(ProviderConfigError, match="Invalid port") as info:
        AzureConfig.from_env({**env, "AZDCAP_BASE_CERT_URL_TDX": ":9/sgx/certification"})
    assert info.value.key == "AZDCAP_BASE_CERT_URL_TDX"


@pytest.mark.parametrize(
    ("value", "level"),
    [("FATAL", None), ("NONE", None), ("ERROR", LogLevel.ERROR), ("SGX_QL_LOG_INFO", LogLevel.INFO), ("", None)],
)
def test_log_level(value: str, level: LogLevel | None) -> None:
    c = AzureConfig.from_env({"AZDCAP_DEBUG_LOG_LEVEL": value})
    assert c.log_level == level
    assert c.silent == (level is None)


def test_cache_directory_search() -> None:
    c = AzureConfig.from_env({})
    assert c.cache_directory({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/.az-dcap-client")
    assert c.cache_directory({"HOME": "/h", "TMPDIR": "/t"}) == Path("/h/.az-dcap-client")
    assert c.cache_directory({}) == Path("/tmp/.az-dcap-client")


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("AZDCAP_DEBUG_LOG_LEVEL", "VERBOSE", "or FATAL to silence the client"),
        ("AZDCAP_DEBUG_LOG_LEVEL", "info", "must be INFO, WARNING or ERROR"),
        ("AZDCAP_COLLATERAL_VERSION", "v5", "must be v2, v3 or v4"),
        ("AZDCAP_COLLATERAL_VERSION_TDX", "v3", "must be v4"),
        ("AZDCAP_CACHE_EXPIRY_IN_SECONDS", "86401", "from 0 to 86400"),
        ("AZDCAP_CACHE_EXPIRY_IN_SECONDS", "-5", "whole number"),
        ("AZDCAP_BASE_CERT_URL", "global.acccache.azure.net", "not an http:// or https:// URL"),
        ("AZDCAP_BASE_CERT_URL_TDX", "https://x.test/sgx", "host suffix"),
        ("AZDCAP_BASE_CERT_URL_TDX", ".thim.azure.net/tdx/certification", "host suffix"),  # no /sgx/ to swap
        ("AZDCAP_REGION_URL", "https://useast.example", "region name"),
        ("AZDCAP_BYPASS_BASE_URL", "yes", "true or false"),
        ("AZDCAP_DISABLE_ONDEMAND", "true", "must be 1"),
        ("AZDCAP_WRITE_LOGS_TO_FILE", "true", "recognises exactly TRUE"),
        ("AZDCAP_DEBUG_LOG", "INFO", "did you mean AZDCAP_DEBUG_LOG_LEVEL?"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, reason: str) -> None:
    with pytest.raises(ProviderConfigError) as info:
        AzureConfig.from_env({name: value})
    assert info.value.key == name and info.value.source == "environment"
    assert reason in str(info.value)
