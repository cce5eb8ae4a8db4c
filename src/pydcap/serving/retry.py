"""How long pydcap's servers tell a client to wait (``Retry-After``) when an answer cannot be had now but may be
soon: the wait an error of the "unavailable, retry later" family carries (an upstream budget spent, an upstream's
429, any future one with ``retry_after``), or a short fixed wait while the store or a lease holder is in trouble.
The PCCS and the attestation service both answer 503 with this header.
"""

from __future__ import annotations

import math

from pydcap.cache.errors import StoreError, WaitTimeoutError
from pydcap.sources.errors import RateLimitedError

# Seconds a client is told to wait when the store failed: a lost database connection is replaced at the next
# request, a full disk or a database restart takes longer, and the client is not the one to hurry it.
STORE_RETRY_AFTER = 5
# An upstream that answered 429 without saying how long to wait: Intel's PCS limits per minute.
RATE_LIMITED_RETRY_AFTER = 60


def retry_after(exc: BaseException) -> int | None:
    """Whole seconds (at least 1) a client should wait before asking again after ``exc``, or None when ``exc`` is
    not a "retry later" error (asking again soon would meet the same failure, e.g. an unreachable upstream)."""
    wait = getattr(exc, "retry_after", None)
    if isinstance(wait, int | float) and not isinstance(wait, bool) and math.isfinite(wait):
        return max(1, math.ceil(wait))
    if isinstance(exc, RateLimitedError):
        return RATE_LIMITED_RETRY_AFTER
    if isinstance(exc, StoreError | WaitTimeoutError):
        return STORE_RETRY_AFTER
    return None
