"""The one ``Retry-After`` of pydcap's servers (``pydcap.serving.retry_after``): the wait a "retry later" error
carries, rounded up to whole seconds; a 429 that named none, the store or a lease in trouble, a fixed wait; an
error that asking again soon would not cure, none."""

from __future__ import annotations

import pytest

from pydcap.cache import StoreError
from pydcap.cache.errors import WaitTimeoutError
from pydcap.serving import STORE_RETRY_AFTER, retry_after
from pydcap.serving.retry import RATE_LIMITED_RETRY_AFTER
from pydcap.sources import RateLimitedError, ThrottledError, UpstreamUnreachableError


@pytest.mark.parametrize(
    ("exc", "wait"),
    [
        (ThrottledError("the TCB info", retry_after=0.2, rate=10, burst=100), 1),
        (ThrottledError("the TCB info", retry_after=119.2, rate=1 / 120, burst=1), 120),
        (RateLimitedError("the TCB info", "https://pcs", "429", "wait", retry_after=30.0), 30),
        (RateLimitedError("the TCB info", "https://pcs", "429", "wait", retry_after=None), RATE_LIMITED_RETRY_AFTER),
        (StoreError("the store failed"), STORE_RETRY_AFTER),
        (WaitTimeoutError("another process is fetching it"), STORE_RETRY_AFTER),
        (UpstreamUnreachableError("the TCB info", "https://pcs", None, "refused", "start it"), None),
        (ValueError("a bug"), None),
    ],
)
def test_retry_after(exc: BaseException, wait: int | None) -> None:
    assert retry_after(exc) == wait
