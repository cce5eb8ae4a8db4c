"""The memory of recent failed fetches: small values (kind, message, fields, until when), a bounded number.

After a fetch fails, its key is not asked again until the failure's time is up: a negative answer (404, an
unknown FMSPC or platform) for ``not_found_ttl`` seconds, a 429 for as long as the service asked (at least
``retry_interval``), anything else for ``retry_interval``. The failure is kept as text and scalars, never as
the exception object (whose traceback and causes hold the responses and frames of the failed fetch), and
rebuilt as a fresh exception of the same type when it is the answer again.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from pydcap.errors import CollateralError
from pydcap.intel import EntryKey
from pydcap.sources.errors import CollateralNotFoundError, RateLimitedError
from pydcap.trust.lru import BoundedCache

# Longer messages are cut: an upstream's error body is quoted in them, and a failure must stay small.
MAX_MESSAGE = 1000
_SCALARS = (str, int, float, bool, type(None), enum.Enum, EntryKey)


@dataclass(frozen=True, slots=True)
class RememberedFailure:
    """One failed fetch: ``kind`` (its exception type) and ``message``, the exception's own scalar attributes
    (``status``, ``url``, ``retry_after``, ``failure``, ...) and ``until`` (``time.monotonic()``). A ``kind`` of
    None remembers a fetch that succeeded with a document already past its freshness (nothing to raise)."""

    kind: type[CollateralError] | None
    message: str
    fields: tuple[tuple[str, object], ...]
    until: float

    @classmethod
    def of(cls, error: CollateralError | None, until: float) -> RememberedFailure:
        if error is None:
            return cls(None, "", (), until)
        fields = tuple((k, _short(v)) for k, v in vars(error).items() if isinstance(v, _SCALARS))
        return cls(type(error), str(error)[:MAX_MESSAGE], fields, until)

    def error(self, now: float) -> CollateralError | None:
        """A new exception equal to the remembered one (no traceback, no cause); a ``retry_after`` is what is
        left of the wait."""
        if self.kind is None:
            return None
        error = self.kind.__new__(self.kind)
        error.args = (self.message,)
        error.__dict__.update(self.fields)
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            error.retry_after = max(0.0, self.until - now)
        return error

    @property
    def description(self) -> str:
        return self.message or "it was fetched moments ago and was already past its freshness"


def _short(value: object) -> object:
    return value[:MAX_MESSAGE] if isinstance(value, str) else value


class FailureMemory:
    """Recent failures by key, at most ``maxsize`` (the oldest is forgotten first); expired ones go on lookup.

    ``retry_interval``: how long a failure is the answer; ``not_found_ttl``: how long a 404 is (a negative
    answer: Intel does not know the FMSPC or platform). A 429's Retry-After is honoured when it is longer.
    """

    def __init__(
        self,
        *,
        retry_interval: float = 30.0,
        not_found_ttl: float = 600.0,
        maxsize: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maxsize < 1:
            raise ValueError("the failure memory needs room for at least one failure")
        self.retry_interval = retry_interval
        self.not_found_ttl = not_found_ttl
        self.maxsize = maxsize
        self._clock = clock
        self._failures: BoundedCache[RememberedFailure] = BoundedCache(maxsize)

    def ttl(self, error: CollateralError | None) -> float:
        """How long ``error`` stays the answer."""
        if isinstance(error, CollateralNotFoundError):
            return max(self.not_found_ttl, self.retry_interval)
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            return max(self.retry_interval, error.retry_after)
        return self.retry_interval

    def remember(self, key: Hashable, error: CollateralError | None) -> None:
        self._failures.put(key, RememberedFailure.of(error, self._clock() + self.ttl(error)))

    def recent(self, key: Hashable) -> RememberedFailure | None:
        """The failure remembered for ``key``, if its time is not up."""
        record = self._failures.get(key)
        if record is not None and self._clock() >= record.until:
            self._failures.pop(key)
            return None
        return record

    def raise_if_recent(self, key: Hashable) -> None:
        """Raise (a copy of) the failure remembered for ``key``, if any and its time is not up."""
        record = self.recent(key)
        error = record.error(self._clock()) if record is not None else None
        if error is not None:
            raise error

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key)

    def clear(self) -> None:
        self._failures.clear()

    def __len__(self) -> int:
        return len(self._failures)
