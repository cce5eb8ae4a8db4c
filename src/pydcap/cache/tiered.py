"""``CollateralCache``: memory, then the persistent store, then one upstream request, verified before use.

A lookup returns a fresh entry from memory or from the store (re-verified when it leaves the store);
otherwise one fetch serves every concurrent caller (single flight within the process, a lease row across
processes sharing the store), and what comes back is admitted (verified) before it is stored. When the
upstream fails or answers something untrustworthy, the last verified entry is served, flagged ``stale``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from pydcap.cache.admission import Admission, admit, pck_ca_of
from pydcap.cache.coalesce import coalesced
from pydcap.cache.entry import Entry
from pydcap.cache.errors import NotCachedError, StoreError, UntrustedCollateralError, WaitTimeoutError
from pydcap.cache.failures import FailureMemory
from pydcap.cache.flight import SingleFlight
from pydcap.cache.keys import trust_root_id
from pydcap.cache.memory import DEFAULT_BYTES, DEFAULT_ENTRIES, MemoryTier
from pydcap.cache.owners import LeaseHolder, new_owner
from pydcap.cache.store import CollateralStore
from pydcap.cache.upstream import fetch_document, refuse_rollback
from pydcap.intel import Clock, EntryKey, EntryKind, PckCa, PlatformId, Tee, Update, iso
from pydcap.lazy import remember
from pydcap.pki import TrustRoot
from pydcap.sources.base import CollateralSource
from pydcap.sources.budget import RequestBudget
from pydcap.sources.errors import CollateralUnavailableError, ThrottledError
from pydcap.sources.models import Fetched
from pydcap.trust import PkiMemo

log = logging.getLogger("pydcap.cache")

DEFAULT_PCK_MAX_AGE = 7 * 24 * 3600.0
_STORE_FAILURE_REPEAT = 600.0  # seconds before the same store failure is said again at warning level
# Documents named by an FMSPC or a platform: anyone can name new ones, so a miss of these spends the budget.
# The others (CRLs, identities) are a handful of fixed names, which single flight and the failure memory bound.
_OPEN_ENDED = frozenset({EntryKind.TCB_INFO, EntryKind.PCK_CERTIFICATE})


class _Default(enum.Enum):
    BUDGET = "a RequestBudget of its own, with the default rate and burst"


@dataclass
class CacheStats:
    """What this cache instance did since it was made (the store keeps totals across processes)."""

    memory_hits: int = 0
    store_hits: int = 0
    upstream_fetches: int = 0
    joined_in_process: int = 0
    waited_for_peer: int = 0
    stale_served: int = 0
    refused: int = 0
    upstream_errors: int = 0
    store_entries_rejected: int = 0
    throttled: int = 0


class CollateralCache:
    """Two tiers of verified collateral in front of any ``CollateralSource``.

    ``store``: a ``CollateralStore`` (None keeps everything in memory only). ``trust``: the root every
    document must chain to (Intel's by default); entries are kept apart per trust root. ``clock``: unix
    seconds, used for freshness and fetch times (tests pin it to the time real collateral was valid).
    ``max_age`` (seconds) bounds any entry's freshness, as does the ``max_age`` a source put in an entry's meta
    (how long its service said to keep it); ``pck_max_age`` bounds a PCK certificate's (7 days: a TCB
    recovery brings new certificates). After an upstream failure a key is not asked again for
    ``retry_interval`` seconds, after a 404 (an FMSPC or platform the upstream does not know) for
    ``not_found_ttl``: its stale entry (or the same error) is the answer meanwhile; at most ``failure_memory``
    failures are remembered, as small values. ``memory_size`` entries and ``memory_bytes`` bytes bound the
    memory tier. ``budget`` bounds the upstream requests of misses of TCB infos and PCK certificates (whose
    names anyone can make up): over it a miss raises ``ThrottledError`` (or serves its stale entry) instead of
    asking; share one ``RequestBudget`` between caches of one upstream; None: no bound. ``lease_ttl``
    bounds how long another process's fetch is waited for. ``namespace`` keeps a second set of documents
    under the same names apart in a shared store (the PCCS's API v3 documents).
    """

    def __init__(
        self,
        store: CollateralStore | None = None,
        *,
        trust: TrustRoot | None = None,
        clock: Clock | None = None,
        memory_size: int = DEFAULT_ENTRIES,
        memory_bytes: int = DEFAULT_BYTES,
        max_age: float | None = None,
        pck_max_age: float | None = DEFAULT_PCK_MAX_AGE,
        retry_interval: float = 30.0,
        not_found_ttl: float = 600.0,
        failure_memory: int = 4096,
        budget: RequestBudget | Literal[_Default.BUDGET] | None = _Default.BUDGET,
        lease_ttl: float = 60.0,
        namespace: str = "",
    ) -> None:
        self.store = store
        self.trust = trust if trust is not None else TrustRoot.intel()
        self.root_id = trust_root_id(self.trust) + (f".{namespace}" if namespace else "")
        self.clock: Clock = clock if clock is not None else time.time
        self.max_age = max_age
        self.pck_max_age = pck_max_age
        self.failures = FailureMemory(
            retry_interval=retry_interval, not_found_ttl=not_found_ttl, maxsize=failure_memory
        )
        self.budget = RequestBudget() if budget is _Default.BUDGET else budget
        self.lease_ttl = lease_ttl
        self._memory = MemoryTier(memory_size, memory_bytes)
        self._flights: SingleFlight[Entry] = SingleFlight()
        self._lock = threading.Lock()
        self._memo = PkiMemo(trust=self.trust)
        self._owner = new_owner()
        self._stats = CacheStats()
        self._store_failures: dict[str, float] = {}  # why the store failed -> when that was last said

    @property
    def retry_interval(self) -> float:
        return self.failures.retry_interval

    @retry_interval.setter
    def retry_interval(self, seconds: float) -> None:
        self.failures.retry_interval = seconds

    # ---- typed lookups ---------------------------------------------------------------------------
    # ``source=None`` asks the cache only: a stale entry is served, a missing one raises NotCachedError.

    async def root_ca_crl(self, source: CollateralSource | None) -> Entry:
        return await self.get(EntryKey.root_ca_crl(), source)

    async def pck_crl(self, source: CollateralSource | None, ca: PckCa | str) -> Entry:
        return await self.get(EntryKey.pck_crl(ca), source)

    async def tcb_info(
        self, source: CollateralSource | None, tee: Tee | str, fmspc: bytes | str, update: Update | str = "standard"
    ) -> Entry:
        return await self.get(EntryKey.tcb_info(tee, fmspc, update), source)

    async def qe_identity(
        self, source: CollateralSource | None, tee: Tee | str, update: Update | str = "standard"
    ) -> Entry:
        return await self.get(EntryKey.qe_identity(tee, update), source)

    async def qve_identity(self, source: CollateralSource | None, update: Update | str = "standard") -> Entry:
        return await self.get(EntryKey.qve_identity(update), source)

    async def pck_certificate(self, source: CollateralSource | None, platform: PlatformId) -> Entry:
        """The machine certificate of ``platform`` (the one its service selects for its raw TCB)."""
        return await self.get(EntryKey.pck_certificate(platform), source, platform=platform)

    # ---- generic operations ----------------------------------------------------------------------

    def now(self) -> int:
        return int(self.clock())

    def is_fresh(self, entry: Entry, now: int | None = None) -> bool:
        at = self.now() if now is None else now
        if at >= entry.valid_until:
            return False
        if self.max_age is not None and at >= entry.fetched_at + self.max_age:
            return False
        kept_for = entry.meta.get("max_age", "")  # how long the service said to keep it (Azure's Cache-Control)
        if kept_for.isdigit() and at >= entry.fetched_at + int(kept_for):
            return False
        pck = entry.key.kind is EntryKind.PCK_CERTIFICATE
        return not (pck and self.pck_max_age is not None and at >= entry.fetched_at + self.pck_max_age)

    async def get(self, key: EntryKey, source: CollateralSource | None, *, platform: PlatformId | None = None) -> Entry:
        """The entry for ``key``: fresh from memory or the store, else fetched once from ``source``."""
        hit = self._memory.get(str(key))
        if hit is not None and self.is_fresh(hit):
            self._bump("memory_hits")
            return hit
        return await self._flights.run(str(key), lambda: self._resolve(key, source, platform, force=False))

    async def refresh(self, key: EntryKey, source: CollateralSource, *, platform: PlatformId | None = None) -> Entry:
        """Fetch ``key`` again now, whatever its freshness (what a scheduled refresh does)."""
        return await self._flights.run(("refresh", str(key)), lambda: self._resolve(key, source, platform, force=True))

    async def put(self, key: EntryKey, fetched: Fetched, *, source: CollateralSource | None = None) -> Entry:
        """Admit and store a document obtained elsewhere (an import). Its dependencies (root CA CRL, PCK
        CRL) come from the cache, or from ``source`` when given: import the root CA CRL first. A document
        older than the verified one held is refused (``OutdatedCollateralError``), as a refresh refuses it."""
        entry = await self._admitted_entry(key, fetched, source)
        refuse_rollback(await self._load(key, source), entry)
        if self.store is not None:
            await asyncio.to_thread(self.store.put, self.root_id, entry, count="imported")
        self._memory.put(str(key), replace(entry, origin="memory"))
        return entry

    async def peek(self, key: EntryKey) -> Entry | None:
        """What the cache holds for ``key`` (verified, possibly stale), without asking any upstream."""
        try:
            return await self.get(key, None)
        except CollateralUnavailableError:
            return None

    def forget(self, *, failures: bool = True) -> None:
        """Drop the memory tier and, unless ``failures`` is False, the memory of recent failures (the store is
        untouched). What another process stored is found without forgetting failures: the store is read first."""
        self._memory.clear()
        if failures:
            self.failures.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            return replace(self._stats, joined_in_process=self._flights.joined)

    # ---- internals -------------------------------------------------------------------------------

    def _bump(self, name: str) -> None:
        with self._lock:
            setattr(self._stats, name, getattr(self._stats, name) + 1)

    def _serve_stale(self, entry: Entry, why: str) -> Entry:
        self._bump("stale_served")
        log.warning("serving the stale %s (fresh until %s): %s", entry.key.description, iso(entry.valid_until), why)
        return replace(entry, stale=True)

    async def _resolve(
        self, key: EntryKey, source: CollateralSource | None, platform: PlatformId | None, *, force: bool
    ) -> Entry:
        mkey = str(key)
        stored = await self._load(key, source)
        if stored is not None and not force and self.is_fresh(stored):
            if stored.origin == "memory":
                self._bump("memory_hits")
            else:
                self._memory.put(mkey, replace(stored, origin="memory"))
                self._bump("store_hits")
            return stored
        if source is None:
            if stored is not None:
                return self._serve_stale(stored, "no source was given to refresh it")
            raise NotCachedError(key)
        if not force:
            attempt = self.failures.recent(mkey)
            if attempt is not None:
                if stored is not None:
                    return self._serve_stale(stored, f"not asking again yet: {attempt.description}")
                self.failures.raise_if_recent(mkey)
            if self.budget is not None and key.kind in _OPEN_ENDED:
                try:
                    self.budget.spend(f"the {key.description}")
                except ThrottledError as exc:
                    self._bump("throttled")
                    if stored is not None:
                        return self._serve_stale(stored, str(exc))
                    raise
        return await self._fetch_once(key, source, platform, stored)

    async def _load(self, key: EntryKey, source: CollateralSource | None) -> Entry | None:
        """The last verified entry, fresh or not: the stored one, verified again (the store may be shared,
        copied or tampered with), or, without a store, the one in memory."""
        if self.store is None:
            return self._memory.get(str(key))
        try:
            entry = await asyncio.to_thread(self.store.get, self.root_id, key)
        except StoreError as exc:  # serve on from memory and the upstream; the store may come back
            self._store_failed(f"cannot read the {key.description} from the store (using memory and the upstream)", exc)
            return self._memory.get(str(key))
        if entry is None:
            return None
        try:
            admission = await self._admit(key, entry.data, entry.issuer_chain, dict(entry.meta), source, entry.source)
        except UntrustedCollateralError as exc:
            self._bump("store_entries_rejected")
            log.warning("ignoring the stored %s: %s", key.description, exc.reason)
            return None
        except CollateralUnavailableError as exc:
            log.warning("cannot verify the stored %s now: %s", key.description, exc)
            return None
        # What verification derives replaces what the row says (freshness, TCBm, FMSPC, CA type, issue order).
        return replace(entry, valid_until=admission.valid_until, meta={**entry.meta, **admission.meta})

    async def _admit(
        self,
        key: EntryKey,
        data: bytes,
        issuer_chain: bytes,
        meta: dict[str, str],
        source: CollateralSource | None,
        origin: str,
    ) -> Admission:
        root = None if key.kind is EntryKind.ROOT_CA_CRL else await self.root_ca_crl(source)
        pck_crl = None
        if key.kind is EntryKind.PCK_CERTIFICATE:
            pck_crl = await self.pck_crl(source, pck_ca_of(key, data, origin))
        return admit(
            key,
            data,
            issuer_chain,
            self.trust,
            root_ca_crl=root.data if root is not None else None,
            pck_crl=pck_crl.data if pck_crl is not None else None,
            meta=meta,
            source=origin,
            memo=self._memo,
        )

    async def _admitted_entry(self, key: EntryKey, fetched: Fetched, source: CollateralSource | None) -> Entry:
        admission = await self._admit(key, fetched.data, fetched.issuer_chain, dict(fetched.meta), source, fetched.url)
        return Entry.admitted(key, fetched, admission, self.now())

    async def _fetch_once(
        self, key: EntryKey, source: CollateralSource, platform: PlatformId | None, stored: Entry | None
    ) -> Entry:
        """Fetch unless another process is already fetching this key; then wait for what it stores."""
        if self.store is None:
            return await self._fetch_and_store(key, source, platform, stored, None)
        name = f"{self.root_id}/{key}"

        async def reload() -> Entry | None:
            latest = await self._load(key, source)
            if latest is None or (stored is not None and latest.stored_at == stored.stored_at):
                return None  # the other process gave up without storing anything: try ourselves
            if self.is_fresh(latest):
                self._memory.put(str(key), replace(latest, origin="memory"))
                return latest
            return replace(latest, stale=True)

        def timed_out(holder: LeaseHolder) -> Entry:
            if stored is not None:
                return self._serve_stale(stored, f"{holder.owner} is still fetching it")
            raise WaitTimeoutError(
                f"the {key.description} is being fetched by {holder.owner}, which has not finished in "
                f"{self.lease_ttl:.0f} s; retry later"
            )

        try:
            return await coalesced(
                self.store, name, self._owner, ttl=self.lease_ttl, patience=self.lease_ttl + 5.0,
                work=lambda: self._fetch_and_store(key, source, platform, stored, name), reload=reload,
                timed_out=timed_out, on_wait=lambda: self._bump("waited_for_peer"),
            )  # fmt: skip
        except StoreError as exc:  # the store cannot say who fetches: fetch alone (one flight in this process)
            self._store_failed(f"the store cannot share the fetch of the {key.description} (fetching it alone)", exc)
            return await self._fetch_and_store(key, source, platform, stored, None)

    async def _fetch_and_store(
        self,
        key: EntryKey,
        source: CollateralSource,
        platform: PlatformId | None,
        stored: Entry | None,
        lease: str | None,
    ) -> Entry:
        mkey = str(key)
        released = lease is None
        try:
            try:
                fetched = await fetch_document(key, source, platform)
                self._bump("upstream_fetches")
                entry = await self._admitted_entry(key, fetched, source)
                refuse_rollback(stored, entry)
            except UntrustedCollateralError as exc:
                self._bump("refused")
                self.failures.remember(mkey, exc)
                log.error("%s", exc)
                if self.store is not None:
                    await self._stored("the count of refusals", self.store.count, "refused")
                if stored is not None:
                    return self._serve_stale(stored, str(exc))
                raise
            except CollateralUnavailableError as exc:
                self._bump("upstream_errors")
                self.failures.remember(mkey, exc)
                if stored is not None:
                    return self._serve_stale(stored, str(exc))
                raise
            if self.store is not None:
                release = (lease, self._owner) if lease is not None else None
                released = await self._stored(
                    f"the verified {key.description}", self.store.put, self.root_id, entry, release=release,
                    count="upstream_fetches",
                )  # fmt: skip
            self._memory.put(mkey, replace(entry, origin="memory"))
            if self.is_fresh(entry):
                self.failures.forget(mkey)
                return entry
            # Already past its freshness as served: keep it, but do not ask again at every lookup.
            self.failures.remember(mkey, None)
            return replace(entry, stale=True)
        finally:
            if not released and self.store is not None and lease is not None:
                await self._stored(f"the release of the lease on the {key.description}", self.store.release, lease,
                                   self._owner)  # fmt: skip

    async def _stored(self, what: str, write: Callable[..., object], *args: object, **kwargs: object) -> bool:
        """``write(*args, **kwargs)`` in a thread; False, with a warning, when the store fails (full disk, read-only
        file, lost database connection): what was fetched and verified is served from memory all the same."""
        try:
            await asyncio.to_thread(write, *args, **kwargs)
        except StoreError as exc:
            self._store_failed(f"{what} could not be stored (it is served from memory)", exc)
            return False
        return True

    def _store_failed(self, what: str, exc: StoreError) -> None:
        """Say that the store failed: a warning the first time it fails so (the same reason), then only at debug
        level for ``_STORE_FAILURE_REPEAT`` seconds: a store that is down must not become a flood of lines."""
        reason = str(exc)
        now = time.monotonic()
        with self._lock:
            last = self._store_failures.get(reason)
            if last is None or now - last >= _STORE_FAILURE_REPEAT:
                remember(self._store_failures, reason, now, 32)
                last = None
        if last is None:
            log.warning("%s: %s", what, reason)
        else:
            log.debug("%s: %s", what, reason)
