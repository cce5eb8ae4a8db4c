"""The in-process tier: a thread-safe LRU of verified entries, bounded by count and by bytes.

The cache re-checks freshness on every hit; without a store, a stale entry here is what is served when the
upstream cannot provide a fresher one.
"""

from __future__ import annotations

from pydcap.cache.entry import Entry
from pydcap.trust.lru import BoundedCache

DEFAULT_ENTRIES = 1024
DEFAULT_BYTES = 32 * 1024 * 1024
# What an entry costs beside its document and chain (the key, the meta, the objects): a rough figure that
# keeps many tiny entries from escaping the byte bound.
ENTRY_OVERHEAD = 1024


class MemoryTier(BoundedCache[Entry]):
    """At most ``maxsize`` entries and ``max_bytes`` bytes (documents, chains and ``ENTRY_OVERHEAD`` each); the
    least recently used goes first. An entry larger than the whole bound is not kept."""

    def __init__(self, maxsize: int = DEFAULT_ENTRIES, max_bytes: int = DEFAULT_BYTES) -> None:
        if maxsize < 1 or max_bytes < 1:
            raise ValueError("the memory tier needs room for at least one entry")
        super().__init__(maxsize, max_bytes=max_bytes, sizeof=_cost)

    @property
    def bytes(self) -> int:
        return self.nbytes


def _cost(entry: Entry) -> int:
    return entry.size + ENTRY_OVERHEAD
