"""Keeping the cache current: the full refresh Intel's PCCS runs on its ``RefreshSchedule``, a refresh of each
document shortly before its ``nextUpdate`` (Intel's PCCS has none), and noticing what other processes on
the same store changed. Only one process on a store refreshes at a time (a lease in the store).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydcap.cache import CollateralCache, Entry, EntryKey
from pydcap.cache.owners import new_owner
from pydcap.errors import CollateralError
from pydcap.pccs.schedule import RefreshSchedule
from pydcap.pccs.service import PccsService

log = logging.getLogger("pydcap.pccs")

LEASE = "pydcap-pccs/refresh"


@dataclass
class RefreshReport:
    refreshed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: bool = False  # another process holds the refresh lease

    @property
    def ok(self) -> bool:
        return not self.failed


class Refresher:
    """Runs in the server's event loop. ``on_change`` is called when cached answers may have changed (here
    or in another process sharing the store): the server drops its prepared responses then."""

    def __init__(
        self,
        service: PccsService,
        schedule: RefreshSchedule,
        *,
        margin: float = 86_400.0,
        on_change: Callable[[], None] = lambda: None,
        tick: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.service = service
        self.schedule = schedule
        self.margin = margin
        self.on_change = on_change
        self.tick = tick
        self._sleep = sleep
        self._generation: int | None = None
        self._attempted: dict[str, float] = {}
        self._next_full = schedule.next_after(service.clock())
        self._next_scan = 0.0
        self._owner = new_owner()

    def _caches(self) -> list[tuple[CollateralCache, int]]:
        return [(self.service.cache, 4), (self.service.cache_v3, 3)]

    async def run(self) -> None:
        while True:
            try:
                await self.step()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must survive anything; say what happened
                log.exception("the refresh loop failed; retrying")
            await self._sleep(self.tick)

    async def step(self) -> None:
        await self.check_generation()
        if not self.service.mode.refreshable:
            return
        now = self.service.clock()
        if now >= self._next_full:
            self._next_full = self.schedule.next_after(now)
            report = await self.refresh_all()
            if not report.skipped:
                outcome = "ok" if report.ok else "failed"
                self.service.metrics.refresh(f"scheduled_{outcome}")
                log.info("scheduled refresh: %d refreshed, %d failed", len(report.refreshed), len(report.failed))
        if now >= self._next_scan:
            self._next_scan = now + min(60.0, max(self.tick, self.margin / 10))
            await self.refresh_due()

    async def check_generation(self) -> None:
        generation = await asyncio.to_thread(self.service.generation)
        if self._generation is not None and generation != self._generation:
            # Failures stay remembered: a 404 of Intel's is not undone by another platform's registration.
            self.service.cache.forget(failures=False)
            self.service.cache_v3.forget(failures=False)
            self.on_change()
        self._generation = generation

    async def _entries(self) -> list[tuple[CollateralCache, int, Entry]]:
        out = []
        for cache, api in self._caches():
            rows = await asyncio.to_thread(self.service.store.entries, root_id=cache.root_id)
            out += [(cache, api, entry) for _, entry in rows]
        return out

    async def _refresh(self, cache: CollateralCache, api: int, key: EntryKey, report: RefreshReport) -> None:
        source = self.service.upstream_for(api)
        if source is None:
            return
        name = f"v{api}/{key}"
        # Whatever asked (the schedule or a nextUpdate close by), this document is not asked again before long.
        self._attempted[f"{cache.root_id}/{key}"] = self.service.clock()
        try:
            entry = await cache.refresh(key, source)
        except CollateralError as exc:
            report.failed[name] = str(exc)
            return
        if entry.stale:
            report.failed[name] = "the upstream could not be reached or refused; the cached one is kept"
        else:
            report.refreshed.append(name)

    async def _leased(self, work: Callable[[RefreshReport], Awaitable[None]]) -> RefreshReport:
        """``work`` under the store's refresh lease (skipped when another process holds it); then, if anything
        changed, the other processes are told."""
        report = RefreshReport()
        store, owner = self.service.store, self._owner
        holder = await asyncio.to_thread(store.try_lease, LEASE, owner, 600.0)
        if holder is not None:
            report.skipped = True
            return report
        try:
            await work(report)
        finally:
            await asyncio.to_thread(store.release, LEASE, owner)
        if report.refreshed:
            await self.service.changed()
        return report

    async def refresh_all(self) -> RefreshReport:
        """Every cached document again from the upstream (Intel's scheduled refresh, per document: one that
        fails keeps its verified predecessor and does not stop the others)."""

        async def work(report: RefreshReport) -> None:
            for cache, api, entry in await self._entries():
                await self._refresh(cache, api, entry.key, report)

        return await self._leased(work)

    async def refresh_due(self) -> RefreshReport:
        """The documents whose ``nextUpdate`` is less than ``margin`` away (each tried at most every
        ``margin / 4``, so an upstream serving the same issue again is not hammered)."""
        now = self.service.clock()
        wait = max(60.0, self.margin / 4)
        due = [
            (cache, api, entry)
            for cache, api, entry in await self._entries()
            if entry.valid_until - now <= self.margin
            and now - self._attempted.get(f"{cache.root_id}/{entry.key}", -wait) >= wait
        ]
        if not due:
            return RefreshReport()

        async def work(report: RefreshReport) -> None:
            for cache, api, entry in due:
                await self._refresh(cache, api, entry.key, report)

        report = await self._leased(work)
        if report.refreshed or report.failed:
            log.info(
                "refreshed %d documents before their nextUpdate (%d failed)", len(report.refreshed), len(report.failed)
            )
            self.service.metrics.refresh("next_update_ok" if report.ok else "next_update_failed")
        return report
