"""The in-process tier: a thread-safe LRU of verified entries, bounded by count and by bytes.

The cache re-checks freshness on every hit; without a store, a stale entry here is what is served when the
upstream cannot provide a fresher one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from pydcap.cache.entry import Entry

DEFAULT_ENTRIES = 1024
DEFAULT_BYTES = 32 * 1024 * 1024
# What an entry costs beside its document and chain (the key, the meta, the objects): a rough figure that
# keeps many tiny entries from escaping the byte bound.
ENTRY_OVERHEAD = 1024


class MemoryTier:
    """At most ``maxsize`` entries and ``max_bytes`` bytes (documents, chains and ``ENTRY_OVERHEAD`` each); the
    least recently used goes first. An entry larger than the whole bound is not kept."""

    def __init__(self, maxsize: int = DEFAULT_ENTRIES, max_bytes: int = DEFAULT_BYTES) -> None:
        if maxsize < 1 or max_bytes < 1:
            raise ValueError("the memory tier needs room for at least one entry")
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: Entry) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= _cost(old)
            if _cost(entry) > self.max_bytes:
                return
            self._entries[key] = entry
            self.bytes += _cost(entry)
            while len(self._entries) > self.maxsize or self.bytes > self.max_bytes:
                _, dropped = self._entries.popitem(last=False)
                self.bytes -= _cost(dropped)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0

    def __len__(self) -> int:
        return len(self._entries)


def _cost(entry: Entry) -> int:
    return entry.size + ENTRY_OVERHEAD
