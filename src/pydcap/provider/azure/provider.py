"""pydcap's Azure provider: the Azure DCAP client's behaviour over ``pydcap.sources.AzureClient`` and the
``AZDCAP_*`` environment: PCK certificates from THIM (skipped 30 s after a failure), the local cache, then the
secondary URL; collateral cache first, SGX collateral from the global cache, TDX collateral (CRLs included) from
THIM in the VM's region (``AZDCAP_REGION_URL``, else the instance metadata service's location); failures named
with the ``quote3_error_t`` Microsoft's library returns. Unlike Azure's library, it verifies everything before
caching it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import httpx

from pydcap.cache import (
    AsyncCollateralService,
    CollateralCache,
    CollateralService,
    CollateralStore,
    Entry,
    EntryKey,
    FetchedCollateral,
)
from pydcap.errors import CollateralError
from pydcap.intel import PckCa, PlatformId, Tee, Update
from pydcap.pki import TrustRoot
from pydcap.provider import codes
from pydcap.provider.azure.config import SKIP_PRIMARY_AFTER_FAILURE_SECONDS, AzureConfig
from pydcap.provider.endpoints import tls_verification
from pydcap.provider.errors import ProviderError, error_for
from pydcap.provider.interface import LogLevel
from pydcap.provider.messages import ProviderLog
from pydcap.provider.service import CachingProvider, open_own_store
from pydcap.provider.source_errors import ObtainFailure
from pydcap.provider.trust import announce_root, trusted_root_from_env
from pydcap.sources import AzureClient, HttpSettings, RetryPolicy
from pydcap.sources.azure import instance_location
from pydcap.sources.errors import (
    MalformedResponseError,
    UpstreamError,
    UpstreamUnreachableError,
)
from pydcap.sources.http import HttpTransport
from pydcap.sources.models import Fetched

STORE_FILE = "pydcap-collateral.sqlite3"
LOG_FILE = Path("/tmp/dcapLog.txt")  # where Azure's library writes every message when AZDCAP_WRITE_LOGS_TO_FILE=TRUE
DEFAULT_EXPIRY_SECONDS = 86400  # Azure's cache lifetime when the service says none
PRIMARY_SETTINGS = HttpSettings(connect_timeout=2.0, read_timeout=10.0, retry=RetryPolicy(attempts=1, deadline=10.0))


class RegionalThim:
    """THIM in the VM's region, where Microsoft's client gets all TDX collateral: the collateral client with its
    TDX URL set from ``AZDCAP_REGION_URL``, else from the location the instance metadata service reports (asked
    on the first TDX request, never for SGX; asked again after a failure)."""

    def __init__(self, config: AzureConfig, settings: HttpSettings, client: AzureClient | None = None) -> None:
        self.config = config
        self.settings = settings
        self.client = client
        self.metadata = HttpTransport(
            "the Azure instance metadata service", replace(PRIMARY_SETTINGS, verify_tls=settings.verify_tls)
        )
        self._lock = asyncio.Lock()

    async def get(self) -> AzureClient:
        async with self._lock:
            if self.client is None:
                location = await instance_location(self.metadata, self.config.instance_metadata_url)
                self.client = self.config.collateral_client(self.settings, region=location)
            return self.client

    async def aclose(self) -> None:
        await self.metadata.aclose()
        if self.client is not None:
            await self.client.aclose()


class AzureCollateralSource:
    """Azure's services as one ``CollateralSource``: SGX collateral from the collateral client, TDX TCB info
    and TD QE identity from regional THIM, PCK certificates from the secondary (the cache asks this when the
    primary failed and nothing is cached). It closes the primary's HTTP client too, once the service has let
    every request in flight finish."""

    def __init__(
        self,
        collateral: AzureClient,
        secondary: AzureClient,
        regional: RegionalThim,
        primary_http: httpx.AsyncClient | None = None,
    ) -> None:
        self.collateral = collateral
        self.secondary = secondary
        self.regional = regional
        self.primary_http = primary_http

    @property
    def description(self) -> str:
        return self.collateral.description

    async def root_ca_crl(self) -> Fetched:
        return await self.collateral.root_ca_crl()

    async def pck_crl(self, ca: PckCa) -> Fetched:
        return await self.collateral.pck_crl(ca)

    async def tcb_info(self, tee: Tee, fmspc: bytes, update: Update = Update.STANDARD) -> Fetched:
        client = await self.regional.get() if tee is Tee.TDX else self.collateral
        return await client.tcb_info(tee, fmspc, update)

    async def qe_identity(self, tee: Tee, update: Update = Update.STANDARD) -> Fetched:
        client = await self.regional.get() if tee is Tee.TDX else self.collateral
        return await client.qe_identity(tee, update)

    async def qve_identity(self, update: Update = Update.STANDARD) -> Fetched:
        return await self.collateral.qve_identity(update)

    async def pck_certificate(self, platform: PlatformId) -> Fetched:
        return await self.secondary.pck_certificate(platform)

    async def aclose(self) -> None:
        await self.collateral.aclose()
        if self.secondary is not self.collateral:
            await self.secondary.aclose()
        await self.regional.aclose()
        if self.primary_http is not None:
            await self.primary_http.aclose()


class TdxCollateralSource(AzureCollateralSource):
    """The same services as Microsoft's client asks them for TDX collateral: the CRLs from regional THIM too.
    It shares the clients of ``azure`` and closes nothing (``azure`` does)."""

    def __init__(self, azure: AzureCollateralSource) -> None:
        super().__init__(azure.collateral, azure.secondary, azure.regional)

    async def root_ca_crl(self) -> Fetched:
        return await (await self.regional.get()).root_ca_crl(Tee.TDX)

    async def pck_crl(self, ca: PckCa) -> Fetched:
        return await (await self.regional.get()).pck_crl(ca, Tee.TDX)

    async def aclose(self) -> None:
        return None


def microsoft_code(exc: ObtainFailure, pck: bool) -> int | None:
    """The ``quote3_error_t`` Microsoft's library (Linux) returns for the same failure; None for failures it
    cannot have (pydcap's verification and store). A PCK certificate: any failed request is a network error
    except a 404, which pydcap names NO_PLATFORM_CERT_DATA as Microsoft's outer handler means to; collateral: an
    error status is NO_QUOTE_COLLATERAL_DATA, no answer a network error; an answer it cannot read, unexpected."""
    if isinstance(exc, MalformedResponseError):
        return codes.ERROR_UNEXPECTED
    if isinstance(exc, UpstreamUnreachableError):
        return codes.NETWORK_ERROR
    if isinstance(exc, UpstreamError):
        if pck:
            return codes.NO_PLATFORM_CERT_DATA if exc.status == 404 else codes.NETWORK_ERROR
        return codes.NO_QUOTE_COLLATERAL_DATA
    return None


class AzureProvider(CachingProvider):
    """The Azure DCAP client in Python. ``config`` defaults to ``AzureConfig.from_env(env)``; ``store``
    (default: a SQLite file in the Azure client's cache directory), ``trust`` (default: Intel's root, or
    ``$PYDCAP_TRUSTED_ROOT``), ``clock`` (unix seconds, for freshness) and ``monotonic`` (for the 30 s
    primary back-off) may be given; ``settings`` configures HTTP to the global cache, secondary and regional
    THIM; ``log_file`` is where ``AZDCAP_WRITE_LOGS_TO_FILE=TRUE`` writes (Microsoft's ``/tmp/dcapLog.txt``)."""

    name = "azure"

    def __init__(
        self,
        config: AzureConfig | None = None,
        *,
        store: CollateralStore | None = None,
        trust: TrustRoot | None = None,
        clock: Callable[[], float] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        settings: HttpSettings | None = None,
        env: Mapping[str, str] | None = None,
        log_file: Path = LOG_FILE,
    ) -> None:
        self.config = c = config if config is not None else AzureConfig.from_env(env)
        c.check_supported()
        self.trust = trust or trusted_root_from_env(env) or TrustRoot.intel()
        announce_root(self.trust, self.name)
        log = ProviderLog("pydcap.provider.azure", c.log_level, log_file if c.write_logs_to_file else None)
        http = settings or HttpSettings()
        version = c.collateral_version
        collateral = AzureClient(c.base_cert_url, client_id=c.client_id, collateral_version=version, settings=http)
        regional = RegionalThim(c, http, c.collateral_client(http) if c.region_url else None)
        secondary = collateral
        if c.secondary_base_cert_url != c.base_cert_url:
            secondary = AzureClient(
                c.secondary_base_cert_url, client_id=c.client_id, collateral_version=version, settings=http
            )
        self.primary: AzureClient | None = None
        metadata_http: httpx.AsyncClient | None = None
        if not c.bypass_base_url:
            # THIM behind the instance metadata service wants this header on every request.
            metadata_http = httpx.AsyncClient(
                headers={"metadata": "true"},
                timeout=PRIMARY_SETTINGS.timeout(),
                verify=tls_verification(http.verify_tls),
            )
            self.primary = AzureClient(
                c.primary_base_cert_url,
                client_id=c.client_id,
                collateral_version=version,
                settings=PRIMARY_SETTINGS,
                client=metadata_http,
            )
        self._monotonic = monotonic
        self._primary_down_until = float("-inf")
        opened = open_own_store(c.cache_directory(env) / STORE_FILE, "AZDCAP_CACHE") if store is None else None
        expiry = c.cache_expiry_seconds or DEFAULT_EXPIRY_SECONDS
        cache = CollateralCache(store or opened, trust=self.trust, clock=clock, max_age=expiry, pck_max_age=expiry)
        source = AzureCollateralSource(collateral, secondary, regional, metadata_http)
        self._tdx = AsyncCollateralService(TdxCollateralSource(source), cache)
        super().__init__(CollateralService(source, cache), log, opened)

    def _collateral(self, tee: Tee, fmspc: bytes, ca: PckCa) -> FetchedCollateral:
        if tee is Tee.TDX:
            return self.service.run(self._tdx.collateral_for(tee, fmspc, ca))
        return super()._collateral(tee, fmspc, ca)

    def _error(self, exc: ObtainFailure, not_found: int) -> ProviderError:
        # ``not_found`` says what was asked for: NO_PLATFORM_CERT_DATA only for a PCK certificate.
        code = microsoft_code(exc, pck=not_found == codes.NO_PLATFORM_CERT_DATA)
        return super()._error(exc, not_found) if code is None else error_for(code, str(exc))

    def _pck_entry(self, platform: PlatformId) -> Entry:
        if self.config.disable_ondemand:
            platform = replace(platform, encrypted_ppid=None)  # AZDCAP_DISABLE_ONDEMAND=1: no PPID sent
        return self.service.run(self._pck_certificate(platform))

    async def _pck_certificate(self, platform: PlatformId) -> Entry:
        """Azure's order: the primary (THIM), then the local cache, then the secondary URL."""
        key = EntryKey.pck_certificate(platform)
        cache, source = self.service.cache, self.service.inner.source
        if self.primary is not None:
            if self._monotonic() <= self._primary_down_until:  # Microsoft's client asks again only after 30 s
                self._say(LogLevel.INFO, f"not asking the primary URL {self.primary.url}: it failed moments ago")
            else:
                self._say(LogLevel.INFO, f"asking the primary URL (THIM) {self.primary.url}")
                try:
                    entry = await cache.put(key, await self.primary.pck_certificate(platform), source=source)
                except CollateralError as exc:
                    self._primary_down_until = self._monotonic() + SKIP_PRIMARY_AFTER_FAILURE_SECONDS
                    self._say(
                        LogLevel.WARNING,
                        f"the primary URL failed; not asked again for {SKIP_PRIMARY_AFTER_FAILURE_SECONDS} s: {exc}",
                    )
                else:
                    self._say(LogLevel.INFO, "the primary URL gave the PCK certificate")
                    return entry
        self._say(LogLevel.INFO, "looking in the local cache")
        cached = await cache.peek(key)
        if cached is not None and not cached.stale:
            self._say(LogLevel.INFO, "the local cache has the PCK certificate")
            return cached
        url = self.config.secondary_base_cert_url
        self._say(LogLevel.INFO, f"not in the local cache; asking the secondary URL {url}")
        return await cache.pck_certificate(source, platform)
