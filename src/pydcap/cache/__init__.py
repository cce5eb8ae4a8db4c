"""A persistent, verifying collateral cache that asks its upstream once, and the service built on it.

Layers (each usable alone)::

    CollateralService / AsyncCollateralService   source + cache: get_collateral(quote), pck_certificate(platform)
    CollateralCache                              memory LRU -> store -> one upstream fetch; verify before store
    CollateralStore                              SQLite (WAL) or PostgreSQL rows: entries, leases, counters

``CollateralCache(store, trust=, clock=)`` answers ``await cache.get(key, source)`` (and the typed
``root_ca_crl(source)``, ``pck_crl(source, ca)``, ``tcb_info(source, tee, fmspc, update)``,
``qe_identity(source, tee, update)``, ``qve_identity(source, update)``, ``pck_certificate(source, platform)``)
with an ``Entry``: ``data`` (DER CRL, served JSON, or PEM leaf), ``issuer_chain`` (PEM), ``fetched_at``,
``valid_until`` (the document's nextUpdate / notAfter), ``meta``, ``origin`` and ``stale``. ``source=None``
asks the cache only. ``refresh(key, source)`` refetches now; ``put(key, fetched)`` admits and stores a
document from elsewhere (an import); ``peek(key)`` never goes upstream. Concurrent misses share one fetch
in the process (single flight) and across processes (a lease row in the store). Whatever is fetched is
verified against the trust root first (``pydcap.cache.admission``); a refused document raises
``UntrustedCollateralError`` and is never stored. A document older than the one held (lower TCB evaluation
data number or CRL number), whether fetched or put, is refused too (``OutdatedCollateralError``). An
unreachable upstream yields the stale entry, flagged.

``CollateralStore.open(path_or_url, schema=None)``: ``get(root_id, key)``,
``put(root_id, entry, release=, count=)``, ``delete``, ``entries(root_id=, kind=)``, ``clear(kind=)``,
``try_lease(name, owner, ttl)`` / ``lease(name)`` / ``release(name, owner)``, ``count`` / ``counters``,
``summary(now)``, ``integrity_check()``. ``max_bytes`` bounds a client's store (``default_store_limit()``:
``$PYDCAP_CACHE_MAX_BYTES``, else 64 MiB; the oldest written go first); a SQLite file that cannot be written
is opened read-only (``read_only`` says why), with a warning. Rows are keyed by the trust root's id
(``cache.root_id``) and ``str(EntryKey)``; the store never verifies, so only admitted entries may be put.
"""

from pydcap.cache.admission import Admission, admit
from pydcap.cache.entry import Entry
from pydcap.cache.errors import (
    NotCachedError,
    OutdatedCollateralError,
    StoreError,
    UntrustedCollateralError,
    WaitTimeoutError,
)
from pydcap.cache.locations import default_store_limit
from pydcap.cache.service import AsyncCollateralService, CollateralService, FetchedCollateral, MachineCertificate
from pydcap.cache.store import CollateralStore, StoreSummary, default_store_path
from pydcap.cache.tiered import CacheStats, CollateralCache
from pydcap.intel import EntryKey, EntryKind, InvalidKeyError

__all__ = [
    "Admission",
    "AsyncCollateralService",
    "CacheStats",
    "CollateralCache",
    "CollateralService",
    "CollateralStore",
    "Entry",
    "EntryKey",
    "EntryKind",
    "FetchedCollateral",
    "InvalidKeyError",
    "MachineCertificate",
    "NotCachedError",
    "OutdatedCollateralError",
    "StoreError",
    "StoreSummary",
    "UntrustedCollateralError",
    "WaitTimeoutError",
    "admit",
    "default_store_limit",
    "default_store_path",
]
