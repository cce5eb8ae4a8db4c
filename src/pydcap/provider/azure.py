"""pydcap's Azure provider: the Azure DCAP client's behaviour over ``pydcap.sources.AzureClient`` and the
``AZDCAP_*`` environment: PCK certificates from THIM (skipped 30 s after a failure), the local cache, then the
secondary URL; collateral cache first. Unlike Azure's library, it verifies everything before caching it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import httpx

from pydcap.cache import CollateralCache, CollateralService, CollateralStore, Entry, EntryKey
from pydcap.pki import TrustRoot
from pydcap.provider.azure_config import SKIP_PRIMARY_AFTER_FAILURE_SECONDS, AzureConfig
from pydcap.provider.interface import LogLevel
from pydcap.provider.messages import ProviderLog
from pydcap.provider.service import CachingProvider, open_own_store
from pydcap.provider.service_probe import tls_verification
from pydcap.provider.trust import announce_root, trusted_root_from_env
from pydcap.sources import AzureClient, HttpSettings, RetryPolicy
from pydcap.sources import PlatformId as SourcePlatformId
from pydcap.sources.errors import CollateralUnavailableError
from pydcap.sources.models import Fetched, PckCa, Tee, Update

STORE_FILE = "pydcap-collateral.sqlite3"
LOG_FILE = "dcapLog.txt"  # where Azure's library writes its log when AZDCAP_WRITE_LOGS_TO_FILE=TRUE
DEFAULT_EXPIRY_SECONDS = 86400  # Azure's cache lifetime when the service says none
PRIMARY_SETTINGS = HttpSettings(connect_timeout=2.0, read_timeout=10.0, retry=RetryPolicy(attempts=1, deadline=10.0))


class AzureCollateralSource:
    """Azure's services as one ``CollateralSource``: collateral from the collateral client, PCK certificates
    from the secondary (the cache asks this when the primary failed and nothing is cached). It closes the
    primary's HTTP client too, once the service has let every request in flight finish."""

    def __init__(
        self, collateral: AzureClient, secondary: AzureClient, primary_http: httpx.AsyncClient | None = None
    ) -> None:
        self.collateral = collateral
        self.secondary = secondary
        self.primary_http = primary_http

    @property
    def description(self) -> str:
        return self.collateral.description

    async def root_ca_crl(self) -> Fetched:
        return await self.collateral.root_ca_crl()

    async def pck_crl(self, ca: PckCa) -> Fetched:
        return await self.collateral.pck_crl(ca)

    async def tcb_info(self, tee: Tee, fmspc: bytes, update: Update = Update.STANDARD) -> Fetched:
        return await self.collateral.tcb_info(tee, fmspc, update)

    async def qe_identity(self, tee: Tee, update: Update = Update.STANDARD) -> Fetched:
        return await self.collateral.qe_identity(tee, update)

    async def qve_identity(self, update: Update = Update.STANDARD) -> Fetched:
        return await self.collateral.qve_identity(update)

    async def pck_certificate(self, platform: SourcePlatformId) -> Fetched:
        return await self.secondary.pck_certificate(platform)

    async def aclose(self) -> None:
        await self.collateral.aclose()
        if self.secondary is not self.collateral:
            await self.secondary.aclose()
        if self.primary_http is not None:
            await self.primary_http.aclose()


class AzureProvider(CachingProvider):
    """The Azure DCAP client in Python. ``config`` defaults to ``AzureConfig.from_env(env)``; ``store``
    (default: a SQLite file in the Azure client's cache directory), ``trust`` (default: Intel's root, or
    ``$PYDCAP_TRUSTED_ROOT``), ``clock`` (unix seconds, for freshness) and ``monotonic`` (for the 30 s
    primary back-off) may be given; ``settings`` configures HTTP to the global cache and secondary."""

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
    ) -> None:
        self.config = c = config if config is not None else AzureConfig.from_env(env)
        c.check_supported()
        self.trust = trust or trusted_root_from_env(env) or TrustRoot.intel()
        announce_root(self.trust, self.name)
        log = ProviderLog("pydcap.provider.azure", c.log_level, Path(LOG_FILE) if c.write_logs_to_file else None)
        http = settings or HttpSettings()
        version = c.collateral_version
        collateral = c.collateral_client(http)
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
        service = CollateralService(AzureCollateralSource(collateral, secondary, metadata_http), cache)
        super().__init__(service, log, opened)

    def _pck_entry(self, platform: SourcePlatformId) -> Entry:
        if self.config.disable_ondemand:
            platform = replace(platform, encrypted_ppid=None)  # AZDCAP_DISABLE_ONDEMAND=1: no PPID sent
        return self.service.run(self._pck_certificate(platform))

    async def _pck_certificate(self, platform: SourcePlatformId) -> Entry:
        """Azure's order: the primary (THIM), then the local cache, then the secondary URL."""
        key = EntryKey.pck_certificate(platform)
        cache, source = self.service.cache, self.service.inner.source
        if self.primary is not None:
            if self._monotonic() < self._primary_down_until:
                self._say(LogLevel.INFO, f"not asking the primary URL {self.primary.url}: it failed moments ago")
            else:
                self._say(LogLevel.INFO, f"Trying to fetch response from primary URL: '{self.primary.url}'.")
                try:
                    entry = await cache.put(key, await self.primary.pck_certificate(platform), source=source)
                except CollateralUnavailableError as exc:
                    self._primary_down_until = self._monotonic() + SKIP_PRIMARY_AFTER_FAILURE_SECONDS
                    self._say(
                        LogLevel.WARNING,
                        f"the primary URL failed; not asked again for {SKIP_PRIMARY_AFTER_FAILURE_SECONDS} s: {exc}",
                    )
                else:
                    self._say(LogLevel.INFO, "Successfully fetched certificate from primary URL.")
                    return entry
        self._say(LogLevel.INFO, "Trying to fetch response from local cache.")
        cached = await cache.peek(key)
        if cached is not None and not cached.stale:
            self._say(LogLevel.INFO, "Successfully fetched certificate from cache.")
            return cached
        url = self.config.secondary_base_cert_url
        self._say(LogLevel.INFO, f"Certificate not found in local cache. Trying secondary URL: '{url}'.")
        return await cache.pck_certificate(source, platform)
