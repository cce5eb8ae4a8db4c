"""The Azure DCAP client's configuration: the ``AZDCAP_*`` environment, with Microsoft's defaults.

Azure's library logs a complaint and falls back to a default for a bad value; pydcap refuses it and names
the variable. ``AZDCAP_DEBUG_LOG_LEVEL=FATAL`` (or leaving it unset) keeps the client silent.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydcap.provider.endpoints import azure_identity_url
from pydcap.provider.errors import ProviderConfigError
from pydcap.provider.interface import LogLevel
from pydcap.sources import AzureClient, HttpSettings
from pydcap.sources.azure import (
    AZURE_INSTANCE_METADATA_URL,
    AZURE_THIM_METADATA_URL,
    DEFAULT_CLIENT_ID,
)
from pydcap.sources.defaults import AZURE_GLOBAL_CACHE_URL
from pydcap.sources.http import service_url

PREFIX = "AZDCAP_"
DEFAULT_BASE_CERT_URL = AZURE_GLOBAL_CACHE_URL
DEFAULT_PRIMARY_BASE_CERT_URL = AZURE_THIM_METADATA_URL
DEFAULT_TDX_BASE_SUFFIX = ".thim.azure.net/sgx/certification"
MAX_CACHE_EXPIRY_SECONDS = 86400
SKIP_PRIMARY_AFTER_FAILURE_SECONDS = 30
_REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]+)?")
SUPPORTED_COLLATERAL_VERSIONS = ("v3", "v4")  # what pydcap's Azure provider reads; Azure's client also knows v2

VARIABLES = (
    "AZDCAP_BASE_CERT_URL",
    "AZDCAP_CLIENT_ID",
    "AZDCAP_PRIMARY_BASE_CERT_URL",
    "AZDCAP_SECONDARY_BASE_CERT_URL",
    "AZDCAP_BYPASS_BASE_URL",
    "AZDCAP_BASE_CERT_URL_TDX",
    "AZDCAP_REGION_URL",
    "AZDCAP_COLLATERAL_VERSION",
    "AZDCAP_COLLATERAL_VERSION_TDX",
    "AZDCAP_DEBUG_LOG_LEVEL",
    "AZDCAP_DISABLE_ONDEMAND",
    "AZDCAP_CACHE_EXPIRY_IN_SECONDS",
    "AZDCAP_WRITE_LOGS_TO_FILE",
    "AZDCAP_CACHE",
)

_LOG_LEVELS: dict[str, LogLevel | None] = {
    "ERROR": LogLevel.ERROR,
    "SGX_QL_LOG_ERROR": LogLevel.ERROR,
    "WARNING": LogLevel.WARNING,
    "SGX_QL_LOG_WARNING": LogLevel.WARNING,
    "INFO": LogLevel.INFO,
    "SGX_QL_LOG_INFO": LogLevel.INFO,
    "FATAL": None,
    "NONE": None,
    "SGX_QL_LOG_NONE": None,
}


@dataclass(frozen=True)
class AzureConfig:
    """The Azure client's settings. ``log_level`` None means silent. ``instance_metadata_url`` is where the
    VM's region is asked when ``AZDCAP_REGION_URL`` is unset (no variable sets it: Microsoft's is fixed)."""

    base_cert_url: str = DEFAULT_BASE_CERT_URL
    client_id: str = DEFAULT_CLIENT_ID
    primary_base_cert_url: str = DEFAULT_PRIMARY_BASE_CERT_URL
    secondary_base_cert_url: str = DEFAULT_BASE_CERT_URL
    bypass_base_url: bool = False
    base_cert_url_tdx: str = DEFAULT_TDX_BASE_SUFFIX
    region_url: str | None = None
    collateral_version: str = "v4"
    collateral_version_tdx: str = "v4"
    log_level: LogLevel | None = None
    disable_ondemand: bool = False
    cache_expiry_seconds: int = 0
    write_logs_to_file: bool = False
    cache_dir: Path | None = None
    instance_metadata_url: str = AZURE_INSTANCE_METADATA_URL
    variables_set: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AzureConfig:
        e = os.environ if env is None else env
        given = {k: v for k, v in e.items() if k.startswith(PREFIX)}
        for name in given:
            if name not in VARIABLES:
                close = difflib.get_close_matches(name, VARIABLES, n=1, cutoff=0.75)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ProviderConfigError("environment", f"not a variable the Azure DCAP client reads{hint}", key=name)
        values: dict[str, Any] = {}
        for name, value in given.items():
            if value == "":
                continue  # Azure treats an empty variable as unset
            try:
                values.update(_parse(name, value))
            except ValueError as exc:
                raise ProviderConfigError("environment", f"{value!r}: {exc}", key=name) from exc
        config = cls(**values, variables_set=tuple(n for n in VARIABLES if given.get(n)))
        if config.tdx_base_url is not None:
            try:
                service_url(config.tdx_base_url, "the regional THIM URL")
            except ValueError as exc:
                key = "AZDCAP_BASE_CERT_URL_TDX" if "base_cert_url_tdx" in values else "AZDCAP_REGION_URL"
                raise ProviderConfigError(
                    "environment", f"{exc} (AZDCAP_REGION_URL + AZDCAP_BASE_CERT_URL_TDX)", key=key
                ) from exc
        return config

    @property
    def silent(self) -> bool:
        return self.log_level is None

    @property
    def pck_urls(self) -> tuple[str, ...]:
        """Base URLs tried for PCK certificates, in order (primary skipped when bypassed)."""
        urls = (self.secondary_base_cert_url,)
        return urls if self.bypass_base_url else (self.primary_base_cert_url, *urls)

    @property
    def tdx_base_url(self) -> str | None:
        """The regional THIM URL where TDX collateral comes from, when ``AZDCAP_REGION_URL`` names the region;
        None when the instance metadata service is to tell it (as Microsoft's client, never the global cache)."""
        return self.tdx_url_in(self.region_url) if self.region_url else None

    def tdx_url_in(self, region: str) -> str:
        """``https://<region><AZDCAP_BASE_CERT_URL_TDX>``, as Microsoft's client builds it."""
        return f"https://{region}{self.base_cert_url_tdx}"

    def collateral_client(self, settings: HttpSettings | None = None, region: str | None = None) -> AzureClient:
        """The client of the collateral URL and of THIM in ``region`` (default: ``AZDCAP_REGION_URL``); no
        request is sent here."""
        region = region or self.region_url
        return AzureClient(
            self.base_cert_url,
            tdx_url=self.tdx_url_in(region) if region else None,
            client_id=self.client_id,
            collateral_version=self.collateral_version,
            settings=settings,
        )

    def probe_url(self) -> str:
        """What ``pydcap doctor`` asks the collateral URL."""
        return azure_identity_url(self.base_cert_url, self.collateral_version, self.client_id)

    def check_supported(self) -> None:
        """Refuse what pydcap's Azure provider cannot serve although Azure's client accepts it."""
        if self.collateral_version not in SUPPORTED_COLLATERAL_VERSIONS:
            raise ProviderConfigError(
                "environment",
                f"{self.collateral_version}: pydcap's Azure provider reads v3 and v4 collateral; use "
                "AZDCAP_COLLATERAL_VERSION=v4",
                key="AZDCAP_COLLATERAL_VERSION",
            )

    def cache_directory(self, env: Mapping[str, str] | None = None) -> Path:
        """Where the disk cache lives: the first set of AZDCAP_CACHE, XDG_CACHE_HOME, HOME, TMPDIR, /tmp."""
        e = os.environ if env is None else env
        if self.cache_dir is not None:
            return self.cache_dir / ".az-dcap-client"
        for name in ("XDG_CACHE_HOME", "HOME", "TMPDIR"):
            if e.get(name):
                return Path(e[name]) / ".az-dcap-client"
        return Path("/tmp/.az-dcap-client")

    def to_dict(self) -> dict[str, Any]:
        return {
            "variables_set": list(self.variables_set),
            "base_cert_url": self.base_cert_url,
            "client_id": self.client_id,
            "primary_base_cert_url": self.primary_base_cert_url,
            "secondary_base_cert_url": self.secondary_base_cert_url,
            "bypass_base_url": self.bypass_base_url,
            "base_cert_url_tdx": self.base_cert_url_tdx,
            "region_url": self.region_url,
            "collateral_version": self.collateral_version,
            "collateral_version_tdx": self.collateral_version_tdx,
            "log_level": self.log_level.name if self.log_level is not None else "silent",
            "disable_ondemand": self.disable_ondemand,
            "cache_expiry_seconds": self.cache_expiry_seconds,
            "write_logs_to_file": self.write_logs_to_file,
            "cache_dir": str(self.cache_dir) if self.cache_dir else None,
            "tdx_base_url": self.tdx_base_url,  # None: from the location the instance metadata service reports
        }


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http:// or https:// URL")
    return value.rstrip("/")


def _parse(name: str, value: str) -> dict[str, Any]:
    if name in ("AZDCAP_BASE_CERT_URL", "AZDCAP_PRIMARY_BASE_CERT_URL", "AZDCAP_SECONDARY_BASE_CERT_URL"):
        return {name.removeprefix(PREFIX).lower(): _url(value)}
    if name == "AZDCAP_CLIENT_ID":
        return {"client_id": value}
    if name == "AZDCAP_BYPASS_BASE_URL":
        if value.lower() not in ("true", "false"):
            raise ValueError("must be true or false")
        return {"bypass_base_url": value.lower() == "true"}
    if name == "AZDCAP_BASE_CERT_URL_TDX":
        # Microsoft's client writes https://, the region, then this; it swaps /sgx/ for /tdx/ for TDX documents.
        suffix = value.rstrip("/")
        if "://" in suffix or "/sgx/" not in suffix or any(c.isspace() for c in suffix):
            raise ValueError("must be a host suffix and path such as '.thim.azure.net/sgx/certification'")
        return {"base_cert_url_tdx": suffix}
    if name == "AZDCAP_REGION_URL":
        if not _REGION.fullmatch(value):
            raise ValueError("must be a region name such as 'useast' (or a host[:port]), not a URL")
        return {"region_url": value}
    if name == "AZDCAP_COLLATERAL_VERSION":
        if value not in ("v2", "v3", "v4"):
            raise ValueError("must be v2, v3 or v4")
        return {"collateral_version": value}
    if name == "AZDCAP_COLLATERAL_VERSION_TDX":
        if value != "v4":
            raise ValueError("must be v4 (the only TDX collateral version)")
        return {"collateral_version_tdx": value}
    if name == "AZDCAP_DEBUG_LOG_LEVEL":
        if value.upper() not in _LOG_LEVELS or value.upper() != value:
            raise ValueError("must be INFO, WARNING or ERROR, or FATAL to silence the client")
        return {"log_level": _LOG_LEVELS[value]}
    if name == "AZDCAP_DISABLE_ONDEMAND":
        if value not in ("0", "1"):
            raise ValueError("must be 1 (do not send the encrypted PPID) or 0")
        return {"disable_ondemand": value == "1"}
    if name == "AZDCAP_CACHE_EXPIRY_IN_SECONDS":
        if not value.isdigit() or int(value) > MAX_CACHE_EXPIRY_SECONDS:
            raise ValueError(f"must be a whole number of seconds from 0 to {MAX_CACHE_EXPIRY_SECONDS}")
        return {"cache_expiry_seconds": int(value)}
    if name == "AZDCAP_WRITE_LOGS_TO_FILE":
        if value not in ("TRUE", "FALSE"):
            raise ValueError("must be TRUE or FALSE (Azure's client recognises exactly TRUE)")
        return {"write_logs_to_file": value == "TRUE"}
    if name == "AZDCAP_CACHE":
        return {"cache_dir": Path(value)}
    raise ValueError("unknown variable")  # from_env checks names first; kept for direct callers
