"""Work coalesced across the processes sharing a store (SQLite and PostgreSQL): one holder works, the others
read what it stored; a holder that stores nothing lets the next one try; nobody waits past its patience."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from pydcap.cache import CollateralStore
from pydcap.cache.coalesce import coalesced
from pydcap.cache.owners import LeaseHolder, new_owner

LEASE = "work/k"
ELSEWHERE = "another-host:4242:0123456789ab"  # a live owner on another host: its lease can only expire


class Peers:
    """``n`` callers of ``coalesced`` on one lease. Whoever holds it reads again first (a peer may have stored
    meanwhile), else runs ``fetch(owner)``, and releases. ``all_waiting`` is set once ``n - 1`` callers wait."""

    def __init__(self, store: CollateralStore, n: int, fetch: Callable[[str], Awaitable[str]]) -> None:
        self.store = store
        self.n = n
        self.fetch = fetch
        self.stored: list[str] = []
        self.waiting = 0
        self.all_waiting = asyncio.Event()

    def on_wait(self) -> None:
        self.waiting += 1
        if self.waiting == self.n - 1:
            self.all_waiting.set()

    async def reload(self) -> str | None:
        return self.stored[-1] if self.stored else None

    async def work(self, owner: str) -> str:
        try:
            latest = await self.reload()
            return latest if latest is not None else await self.fetch(owner)
        finally:
            self.store.release(LEASE, owner)

    async def call(self) -> str:
        owner = new_owner()
        return await coalesced(
            self.store, LEASE, owner, ttl=30, patience=30, work=lambda: self.work(owner), reload=self.reload,
            timed_out=_no_timeout, on_wait=self.on_wait,
        )  # fmt: skip

    async def run(self) -> list[str | BaseException]:
        return await asyncio.gather(*(self.call() for _ in range(self.n)), return_exceptions=True)


def _no_timeout(holder: LeaseHolder) -> str:
    raise AssertionError(f"timed out waiting for {holder.owner}")


def test_one_caller_works_and_the_others_read_what_it_stored(store: CollateralStore) -> None:
    fetched: list[str] = []

    async def main() -> list[str | BaseException]:
        async def fetch(owner: str) -> str:
            fetched.append(owner)
            await asyncio.wait_for(peers.all_waiting.wait(), 30)
            peers.stored.append(f"stored by {owner}")
            return f"stored by {owner}"

        peers = Peers(store, 6, fetch)
        return await peers.run()

    results = asyncio.run(main())
    assert len(fetched) == 1
    assert results == [f"stored by {fetched[0]}"] * 6
    assert store.lease(LEASE) is None


def test_a_holder_that_stores_nothing_lets_the_next_one_try(store: CollateralStore) -> None:
    fetched: list[str] = []

    async def main() -> list[str | BaseException]:
        async def fetch(owner: str) -> str:
            fetched.append(owner)
            if len(fetched) == 1:
                await asyncio.wait_for(peers.all_waiting.wait(), 30)
                raise RuntimeError("the upstream failed")
            peers.stored.append(f"stored by {owner}")
            return f"stored by {owner}"

        peers = Peers(store, 4, fetch)
        return await peers.run()

    results = asyncio.run(main())
    assert len(fetched) == 2, "one failure, then one more holder; the rest read its result"
    assert [str(r) for r in results if isinstance(r, BaseException)] == ["the upstream failed"]
    assert [r for r in results if isinstance(r, str)] == [f"stored by {fetched[1]}"] * 3


def test_a_holder_elsewhere_is_waited_for_until_its_lease_expires_or_patience_ends(store: CollateralStore) -> None:
    worked: list[str] = []

    async def work() -> str:
        worked.append("me")
        return "mine"

    async def nothing() -> str | None:
        return None

    def gave_up(holder: LeaseHolder) -> str:
        return f"gave up on {holder.owner}"

    def attempt(patience: float) -> str:
        return asyncio.run(
            coalesced(
                store, LEASE, new_owner(), ttl=30, patience=patience, work=work, reload=nothing, timed_out=gave_up
            )
        )

    assert store.try_lease(LEASE, ELSEWHERE, 3600) is None
    assert attempt(0.2) == f"gave up on {ELSEWHERE}" and worked == []
    store.release(LEASE, ELSEWHERE)
    assert store.try_lease(LEASE, ELSEWHERE, 0.3) is None
    assert attempt(30) == "mine" and worked == ["me"], "an expired lease is taken over"
