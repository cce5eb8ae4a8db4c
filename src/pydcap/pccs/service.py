"""``PccsService``: the caching service without HTTP. Collateral documents come from the verifying cache
(``pydcap.cache``), PCK certificates from the PCCS tables, and the caching mode decides what a miss does:
LAZY asks the upstream, REQ and OFFLINE answer from what registration or import put there.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from sqlalchemy import Connection

from pydcap.cache import CollateralCache, CollateralStore, Entry, EntryKey
from pydcap.errors import CollateralError
from pydcap.intel.time import Clock
from pydcap.pccs.config import CachingMode, PccsConfig
from pydcap.pccs.errors import NotCached, unavailable
from pydcap.pccs.platforms import PlatformCertificates
from pydcap.pccs.registry import PlatformRegistry
from pydcap.pccs.upstream import MeteredUpstream, make_upstreams
from pydcap.pki import TrustRoot
from pydcap.serving.metrics import Metrics
from pydcap.sources.budget import RequestBudget
from pydcap.trust import PkiMemo

__all__ = ["GENERATION_COUNTER", "PLATFORM_FETCH_REQUESTS", "Clock", "PccsService"]  # Clock: pydcap.intel's

GENERATION_COUNTER = "pccs_generation"
# A platform's fetch is at most seven upstream requests (pckcerts, two CRLs, four TCB infos), each within the
# upstream timeout, and then one write: a replica that holds it longer than eight timeouts died or hangs.
PLATFORM_FETCH_REQUESTS = 8


class PccsService:
    """Collateral and PCK certificates of one trust root, on one store, in one caching mode.

    ``upstream`` / ``upstream_v3`` serve API v4 and v3 documents (None: never asked, as in OFFLINE mode).
    Documents of API v3 live beside the v4 ones in the same store, under their own namespace. ``aclose``
    closes the upstreams, and the store too when ``owns_store`` (``from_config`` opened it). A fetch of a
    platform's certificates holds a lease in the store for ``lease_ttl`` seconds: other services sharing the
    store wait that long at most for its result. ``budget`` bounds the upstream requests of misses (TCB infos
    and PCK certificates of FMSPCs and platforms not cached yet), for both API versions together (None: no
    bound); a 404 from the upstream is the answer for ``not_found_ttl`` seconds.
    """

    def __init__(
        self,
        store: CollateralStore,
        *,
        mode: CachingMode = CachingMode.LAZY,
        trust: TrustRoot | None = None,
        upstream: MeteredUpstream | None = None,
        upstream_v3: MeteredUpstream | None = None,
        metrics: Metrics | None = None,
        clock: Clock | None = None,
        retry_interval: float = 30.0,
        not_found_ttl: float = 600.0,
        budget: RequestBudget | None = None,
        lease_ttl: float = 60.0,
        owns_store: bool = False,
    ) -> None:
        self.store = store
        self.owns_store = owns_store
        self.lease_ttl = lease_ttl
        self.mode = mode
        self.trust = trust if trust is not None else TrustRoot.intel()
        self.metrics = metrics if metrics is not None else Metrics()
        self.clock: Clock = clock if clock is not None else time.time
        self.upstream = upstream
        self.upstream_v3 = upstream_v3
        self.budget = budget
        self.cache = self._cache(retry_interval, not_found_ttl)
        # API v3 documents (TCB info v2, identities without advisories) are other documents under the same
        # names: a namespace keeps them apart in the shared store.
        self.cache_v3 = self._cache(retry_interval, not_found_ttl, namespace="v3")
        self.registry = PlatformRegistry(store.engine, self.cache.root_id, clock=self.clock)
        self.memo = PkiMemo(trust=self.trust)
        self.platforms = PlatformCertificates(self)

    def _cache(self, retry_interval: float, not_found_ttl: float, namespace: str = "") -> CollateralCache:
        return CollateralCache(
            self.store, trust=self.trust, clock=self.clock, retry_interval=retry_interval,
            not_found_ttl=not_found_ttl, budget=self.budget, namespace=namespace,
        )  # fmt: skip

    @classmethod
    def from_config(
        cls, config: PccsConfig, *, clock: Clock | None = None, store: CollateralStore | None = None
    ) -> PccsService:
        """The service ``config`` describes, on ``store`` (default: the configured one, opened here)."""
        trust = TrustRoot.from_pem(Path(config.root_ca).read_bytes()) if config.root_ca else None
        owns_store = store is None
        if store is None:
            store = CollateralStore.open(config.database_target)
        metrics = Metrics()
        upstream = upstream_v3 = None
        if config.mode is not CachingMode.OFFLINE:
            upstream, upstream_v3 = make_upstreams(config, metrics)
        return cls(
            store, mode=config.mode, trust=trust, upstream=upstream, upstream_v3=upstream_v3, metrics=metrics,
            clock=clock, lease_ttl=PLATFORM_FETCH_REQUESTS * config.upstream_timeout, owns_store=owns_store,
            not_found_ttl=config.not_found_ttl, budget=RequestBudget(config.upstream_rate, config.upstream_burst),
        )  # fmt: skip

    # ---- documents ----------------------------------------------------------------------------------

    def cache_for(self, api: int) -> CollateralCache:
        return self.cache_v3 if api == 3 else self.cache

    def upstream_for(self, api: int) -> MeteredUpstream | None:
        return self.upstream_v3 if api == 3 else self.upstream

    async def document(self, key: EntryKey, api: int = 4, *, fetch: bool | None = None) -> Entry:
        """The verified document for ``key`` (from API ``api``). On a miss the upstream is asked when
        ``fetch`` says so, or, when ``fetch`` is None, in LAZY mode only."""
        if fetch is None:
            fetch = self.mode is CachingMode.LAZY
        source = self.upstream_for(api) if fetch else None
        try:
            return await self.cache_for(api).get(key, source)
        except CollateralError as exc:
            raise unavailable(key.description, exc, self.mode) from exc

    async def optional_document(self, key: EntryKey, api: int = 4, *, fetch: bool | None = None) -> Entry | None:
        """The document, or None when there is none (upstream 404 or not cached); other failures raise."""
        try:
            return await self.document(key, api, fetch=fetch)
        except NotCached:
            return None

    # ---- changes seen by every process sharing the store -------------------------------------------

    def generation(self) -> int:
        return self.store.counters().get(GENERATION_COUNTER, 0)

    async def changed(self) -> None:
        """Tell the other processes on this store that cached answers changed (imports, refreshes)."""
        await asyncio.to_thread(self.count_change)

    def count_change(self, conn: Connection | None = None) -> None:
        """``changed``, in ``conn`` when given (the store's ``transaction()`` that made the change)."""
        self.store.count(GENERATION_COUNTER, conn=conn)

    async def aclose(self) -> None:
        for upstream in (self.upstream, self.upstream_v3):
            if upstream is not None:
                await upstream.aclose()
        if self.owns_store:
            await asyncio.to_thread(self.store.close)
