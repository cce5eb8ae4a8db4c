"""The one bounded, thread-safe LRU map pydcap keeps things in: checks and parsed certificates (the memo, the
verifier), verified collateral in memory (the cache's memory tier), remembered failures, the QCNL provider's items.

It is bounded by entry count, by bytes (given a way to size its values), or both; the least recently used entry
goes first, and a value larger than the whole byte bound is not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")
DEFAULT_ENTRIES = 256


class BoundedCache(Generic[V]):
    """Least-recently-used map of at most ``maxsize`` entries and, with ``max_bytes``, of at most ``max_bytes`` bytes
    of values as ``sizeof`` estimates them (without either bound: ``DEFAULT_ENTRIES`` entries). Values must be
    immutable, or change only in ways every reader accepts. ``nbytes`` is what the held values weigh."""

    def __init__(
        self,
        maxsize: int | None = None,
        *,
        max_bytes: int | None = None,
        sizeof: Callable[[V], int] | None = None,
    ) -> None:
        if max_bytes is not None and sizeof is None:
            raise ValueError("a cache bounded by bytes needs sizeof")
        if (maxsize is not None and maxsize < 0) or (max_bytes is not None and max_bytes < 0):
            raise ValueError("a bounded cache cannot hold fewer than nothing")
        self.maxsize = maxsize if maxsize is not None or max_bytes is not None else DEFAULT_ENTRIES
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._sizeof = sizeof if max_bytes is not None else None
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value for ``key`` (now the most recently used), or None."""
        data, lock = self._data, self._lock
        lock.acquire()  # (not ``with``: its __enter__ and __exit__ calls cost as much as the rest, on every get)
        try:
            value = data.get(key)
            if value is not None:
                data.move_to_end(key)
        finally:
            lock.release()
        return value

    def put(self, key: Hashable, value: V) -> None:
        """Store ``value`` under ``key``, evicting the least recently used entries beyond the bounds."""
        data, sizeof = self._data, self._sizeof
        with self._lock:
            old = data.pop(key, None)
            if sizeof is None:
                data[key] = value
                while self.maxsize is not None and len(data) > self.maxsize:
                    data.popitem(last=False)
                return
            assert self.max_bytes is not None
            if old is not None:
                self.nbytes -= sizeof(old)
            size = sizeof(value)
            if size > self.max_bytes:
                return
            data[key] = value
            self.nbytes += size
            while self.nbytes > self.max_bytes or (self.maxsize is not None and len(data) > self.maxsize):
                self.nbytes -= sizeof(data.popitem(last=False)[1])

    def pop(self, key: Hashable) -> V | None:
        """Forget ``key``; its value, or None."""
        with self._lock:
            value = self._data.pop(key, None)
            if value is not None and self._sizeof is not None:
                self.nbytes -= self._sizeof(value)
            return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The value for ``key``, computed (outside the lock: concurrent misses may both compute) if absent."""
        value = self.get(key)
        if value is None:
            value = compute()
            self.put(key, value)
        return value

    def items(self) -> list[tuple[Hashable, V]]:
        """What is held at this moment, least recently used first."""
        with self._lock:
            return list(self._data.items())

    def keys_now(self) -> list[Hashable]:
        """The keys held at this moment, least recently used first."""
        with self._lock:
            return list(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.nbytes = 0
