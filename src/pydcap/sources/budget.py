"""How many requests an upstream may be sent for lookups that miss: a token bucket, shared by everything
that asks the same upstream (the PCCS's API v3 and v4 caches and its PCK certificate fetches, for one).

``RequestBudget(rate, burst)`` allows ``burst`` requests at once and ``rate`` per second after that;
``spend()`` takes one or raises ``ThrottledError`` saying how long until there is room, without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pydcap.sources.errors import ThrottledError

DEFAULT_RATE = 10.0
DEFAULT_BURST = 100


class RequestBudget:
    """A token bucket: ``burst`` tokens, refilled at ``rate`` per second (``time.monotonic`` unless ``clock``)."""

    def __init__(
        self, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a request budget needs a positive rate and burst, not {rate}/s and {burst}")
        self.rate = float(rate)
        self.burst = int(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()
        self.spent = 0
        self.refused = 0

    def try_spend(self) -> float:
        """Take one request's token: 0.0 when taken, else the seconds until one is available (none taken)."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                self.spent += 1
                return 0.0
            self.refused += 1
            return (1.0 - self._tokens) / self.rate

    def spend(self, what: str) -> None:
        """Take a token for fetching ``what``, or raise ``ThrottledError`` (nothing is sent)."""
        wait = self.try_spend()
        if wait > 0:
            raise ThrottledError(what, retry_after=wait, rate=self.rate, burst=self.burst)
