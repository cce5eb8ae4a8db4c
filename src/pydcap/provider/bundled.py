"""The bundled provider, pydcap's default: needs no setup. It asks one collateral service (Intel PCS unless
configured otherwise) through ``pydcap.cache``, so every document is verified before it is kept, and the
machine certificate and collateral persist on disk (SQLite under the XDG cache directory, or PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pydcap.cache import CollateralCache, CollateralService, CollateralStore, Entry
from pydcap.cache.locations import STORE_ENV
from pydcap.intel import PlatformId
from pydcap.pki import TrustRoot
from pydcap.provider.bundled_config import MISSING_API_KEY, BundledConfig
from pydcap.provider.errors import ProviderError, error_for
from pydcap.provider.interface import LogLevel
from pydcap.provider.messages import ProviderLog
from pydcap.provider.service import CachingProvider, open_own_store
from pydcap.provider.source_errors import ObtainFailure
from pydcap.provider.trust import announce_root, load_trusted_root
from pydcap.sources.base import CollateralSource
from pydcap.sources.errors import UpstreamRejectedError


class BundledProvider(CachingProvider):
    """PCK certificates and collateral from one ``CollateralSource`` through a verifying, persistent cache.

    ``config`` (default: ``BundledConfig.from_env(env)``) names the service, store and trust root; ``source``,
    ``store`` and ``trust`` override them (a store the provider opened is closed with it, a given one is
    not). ``clock`` (unix seconds) is the cache's idea of now.
    """

    name = "bundled"

    def __init__(
        self,
        config: BundledConfig | None = None,
        *,
        source: CollateralSource | None = None,
        store: CollateralStore | None = None,
        trust: TrustRoot | None = None,
        clock: Callable[[], float] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config if config is not None else BundledConfig.from_env(env)
        if trust is None and self.config.trusted_root is not None:
            trust = load_trusted_root(self.config.trusted_root)
        self.trust = trust if trust is not None else TrustRoot.intel()
        announce_root(self.trust, self.name)
        upstream = source if source is not None else self.config.make_source()
        opened = open_own_store(self.config.store_location, STORE_ENV) if store is None else None
        cache = CollateralCache(store or opened, trust=self.trust, clock=clock)
        service = CollateralService(upstream, cache, update=self.config.update)
        super().__init__(service, ProviderLog("pydcap.provider.bundled", LogLevel.TRACE), opened)

    @property
    def source(self) -> CollateralSource:
        return self.service.inner.source

    def _pck_entry(self, platform: PlatformId) -> Entry:
        return self.service.pck_certificate(platform).entry

    def _error(self, exc: ObtainFailure, not_found: int) -> ProviderError:
        error = super()._error(exc, not_found)
        c = self.config
        if isinstance(exc, UpstreamRejectedError) and exc.status == 401 and c.service == "pcs" and not c.api_key:
            return error_for(error.code, f"{exc.what}: {exc.url} answered 401. {MISSING_API_KEY}")
        return error
