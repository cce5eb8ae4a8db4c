"""The in-process tier: a bounded, thread-safe LRU of verified entries.

The cache re-checks freshness on every hit; without a store, a stale entry here is what is served when the
upstream cannot provide a fresher one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from pydcap.cache.entry import Entry


class MemoryTier:
    """At most ``maxsize`` entries by key; the least recently used goes first."""

    def __init__(self, maxsize: int = 1024) -> None:
        if maxsize < 1:
            raise ValueError("the memory tier needs room for at least one entry")
        self.maxsize = maxsize
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
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
