"""A bounded, thread-safe LRU map used to remember the results of expensive, deterministic checks.

It is bounded by entry count, or by bytes when given a way to size its values (a verifier's memory budget).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedCache(Generic[V]):
    """Least-recently-used cache of at most ``maxsize`` entries or, with ``max_bytes``, of at most ``max_bytes``
    bytes of values as ``sizeof`` estimates them. Values must be immutable, or change only in ways every reader
    accepts."""

    def __init__(
        self, maxsize: int = 256, *, max_bytes: int | None = None, sizeof: Callable[[V], int] | None = None
    ) -> None:
        if max_bytes is not None and sizeof is None:
            raise ValueError("a cache bounded by bytes needs sizeof")
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._sizeof = sizeof
        self._data: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value for ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> None:
        """Store ``value`` under ``key``, evicting the least recently used entries beyond the bound."""
        data, sizeof = self._data, self._sizeof
        with self._lock:
            old = data.pop(key, None)
            data[key] = value
            if sizeof is None or self.max_bytes is None:
                while len(data) > self.maxsize:
                    data.popitem(last=False)
                return
            self.nbytes += sizeof(value) - (0 if old is None else sizeof(old))
            while self.nbytes > self.max_bytes and data:
                self.nbytes -= sizeof(data.popitem(last=False)[1])

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The value for ``key``, computed (outside the lock: concurrent misses may both compute) if absent."""
        value = self.get(key)
        if value is None:
            value = compute()
            self.put(key, value)
        return value

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
