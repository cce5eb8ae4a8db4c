"""One piece of work for all the processes sharing a store: whoever takes its lease does it, the others wait
for the lease to go (never longer than they were told) and then read what the holder stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydcap.cache.owners import LeaseHolder
from pydcap.cache.store import CollateralStore

T = TypeVar("T")


async def lease_released(store: CollateralStore, name: str, deadline: float) -> bool:
    """Wait until nobody holds the lease ``name`` (released, expired, or its owner died on this host);
    False when the ``time.monotonic()`` ``deadline`` passed first."""
    delay = 0.02
    while await asyncio.to_thread(store.lease, name) is not None:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    return True


async def coalesced(
    store: CollateralStore,
    name: str,
    owner: str,
    *,
    ttl: float,
    patience: float,
    work: Callable[[], Awaitable[T]],
    reload: Callable[[], Awaitable[T | None]],
    timed_out: Callable[[LeaseHolder], T],
    on_wait: Callable[[], None] = lambda: None,
) -> T:
    """``work()`` when ``owner`` takes the lease ``name`` (for ``ttl`` seconds); ``work`` must release it,
    alone or in the transaction that stores its result. While another holds it, wait for it to go, then
    ``reload()`` what it stored: None means it stored nothing, so take the lease (or wait for the next holder)
    again. ``on_wait()`` is called the first time this caller waits; after ``patience`` seconds of waiting
    the answer is ``timed_out(holder)`` (a value, or it raises)."""
    give_up = time.monotonic() + patience
    waited = False
    while True:
        holder = await asyncio.to_thread(store.try_lease, name, owner, ttl)
        if holder is None:
            return await work()
        if not waited:
            waited = True
            on_wait()
        if not await lease_released(store, name, give_up):
            return timed_out(holder)
        latest = await reload()
        if latest is not None:
            return latest
