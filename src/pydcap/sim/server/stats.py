"""Request counters of the simulated PCS: how many API requests arrived, per endpoint, so tests can prove what a
cache did or did not forward."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

_API_ROOTS = ("sgx/certification/", "tdx/certification/")


def endpoint_key(path: str) -> str:
    """``/sgx/certification/v4/qe/identity`` -> ``sgx/v4/qe/identity``; other paths are kept (without slashes
    at the ends)."""
    trimmed = path.strip("/")
    for root in _API_ROOTS:
        if trimmed.startswith(root):
            return f"{root.split('/')[0]}/{trimmed[len(root) :]}"
    return trimmed


class RequestStats:
    """Thread-safe counters: total API requests, requests per endpoint, and how many a fault answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_endpoint: Counter[str] = Counter()
        self._faulted = 0

    def count(self, endpoint: str) -> None:
        with self._lock:
            self._by_endpoint[endpoint] += 1

    def count_fault(self) -> None:
        with self._lock:
            self._faulted += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": sum(self._by_endpoint.values()),
                "by_endpoint": dict(sorted(self._by_endpoint.items())),
                "faulted": self._faulted,
            }

    def reset(self) -> None:
        with self._lock:
            self._by_endpoint.clear()
            self._faulted = 0
