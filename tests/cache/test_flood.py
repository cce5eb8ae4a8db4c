"""A service fetching collateral for untrusted quotes (the FMSPC read from a certificate nobody checked yet):
thousands of quotes naming made-up FMSPCs are not thousands of requests to Intel, and the service's memory
stays flat (the FMSPC of the quote's PCK certificate is changed: nothing checks its signature before the
collateral is fetched). The cache's memory of failures holds small values, a bounded number of them, and a 404 is the
answer for its TTL. ``PYDCAP_FLOOD_SECONDS`` makes the flood last that long and prints its numbers."""

from __future__ import annotations

import asyncio
import gc
import os
import random
import sys
import time
import tracemalloc
from pathlib import Path

import httpx
import pytest

from pydcap.cache import AsyncCollateralService, CollateralCache, CollateralStore
from pydcap.cache.failures import FailureMemory, RememberedFailure
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from pydcap.sources import CollateralNotFoundError, CollateralUnavailableError, PcsClient
from pydcap.sources.budget import RequestBudget
from pydcap.sources.errors import ThrottledError
from tests.flood import flood_seconds, rss_bytes
from tests.pem_patch import patch_certificate

RATE, BURST = 5.0, 20


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=12)


@pytest.fixture(scope="module")
def pcs(intel: SimulatedIntel) -> SimulatedPcs:
    with SimulatedPcs(intel) as server:
        yield server  # type: ignore[misc]


def test_quotes_with_made_up_fmspcs_do_not_become_requests_to_intel(
    tmp_path: Path, pcs: SimulatedPcs, intel: SimulatedIntel
) -> None:
    platform = intel.sgx_platform()
    quote = platform.quote(report_data=b"flood")
    seconds = flood_seconds()
    rng = random.Random(12)
    with CollateralStore.open(tmp_path / "cache.sqlite3") as store:
        cache = CollateralCache(store, trust=intel.trust_root, budget=RequestBudget(RATE, BURST))
        service = AsyncCollateralService(PcsClient(pcs.url), cache)

        async def run(count: int, *, timed: bool = True) -> tuple[int, dict[str, int]]:
            outcomes: dict[str, int] = {}
            deadline = time.monotonic() + seconds if seconds is not None and timed else None
            sent = 0
            while (sent < count) if deadline is None else (time.monotonic() < deadline):
                forged = patch_certificate(quote, 0, b"\x04\x06" + platform.fmspc, b"\x04\x06" + rng.randbytes(6))
                sent += 1
                try:
                    await service.fetch(forged)
                    name = "fetched"
                except CollateralUnavailableError as exc:
                    name = type(exc).__name__
                outcomes[name] = outcomes.get(name, 0) + 1
            return sent, outcomes

        async def scenario() -> None:
            assert (await service.fetch(quote)).entries["tcb_info"].origin == "upstream"
            await run(300, timed=False)  # warm up and spend the burst
            await asyncio.sleep(0.5)
            pcs.reset_stats()
            before = rss_bytes(os.getpid())
            started = time.monotonic()
            sent, outcomes = await run(2000)
            elapsed = time.monotonic() - started
            after = rss_bytes(os.getpid())
            upstream = pcs.stats()["total"]
            allowed = BURST + RATE * elapsed
            print(
                f"\nservice flood: {sent} quotes in {elapsed:.0f} s, outcomes {outcomes}, {upstream} upstream "
                f"requests (budget {allowed:.0f}), RSS {before / 2**20:.1f} -> {after / 2**20:.1f} MiB",
                file=sys.stderr,
            )
            assert set(outcomes) <= {"ThrottledError", "CollateralNotFoundError"}, outcomes
            assert upstream <= allowed, f"{upstream} upstream requests for {sent} quotes"
            assert after - before < 20 * 2**20
            assert (await service.fetch(quote)).entries["tcb_info"].origin == "memory"
            await service.aclose()

        asyncio.run(scenario())


def _not_found_transport(calls: list[str]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(404, text="x" * 5000)  # a long body: quoted in the error, cut in the memory

    return httpx.MockTransport(answer)


def test_failures_are_remembered_as_small_values_a_bounded_number_of_them() -> None:
    calls: list[str] = []
    source = PcsClient("https://pcs.invalid", client=httpx.AsyncClient(transport=_not_found_transport(calls)))
    cache = CollateralCache(None, budget=None, failure_memory=50)

    async def scenario() -> None:
        for i in range(300):
            with pytest.raises(CollateralNotFoundError):
                await cache.tcb_info(source, "sgx", i.to_bytes(6, "big"))

    tracemalloc.start()
    try:
        asyncio.run(scenario())
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(calls) == 300 and len(cache.failures) == 50
    records = [record for _, record in cache.failures._failures.items()]
    assert all(isinstance(r, RememberedFailure) for r in records)
    assert all(not isinstance(v, BaseException) for r in records for _, v in r.fields)
    assert max(len(r.message) for r in records) <= 1000
    assert held < 2**20, f"{held} bytes held after 300 failures"


def test_a_404_is_the_answer_for_its_ttl_and_a_fresh_exception_each_time() -> None:
    calls: list[str] = []
    source = PcsClient("https://pcs.invalid", client=httpx.AsyncClient(transport=_not_found_transport(calls)))
    cache = CollateralCache(None, budget=None)
    now = [0.0]
    cache.failures = FailureMemory(retry_interval=0, not_found_ttl=600, clock=lambda: now[0])

    async def ask() -> CollateralNotFoundError:
        with pytest.raises(CollateralNotFoundError) as caught:
            await cache.tcb_info(source, "sgx", "00906ed50000")
        return caught.value

    first = asyncio.run(ask())
    second = asyncio.run(ask())
    assert len(calls) == 1, "the upstream's 404 was the answer the second time"
    assert second is not first and second.__traceback__ is not None and second.__cause__ is None
    assert str(second) == str(first)[:1000] and second.status == 404 and second.url == first.url
    now[0] += 599
    asyncio.run(ask())
    assert len(calls) == 1
    now[0] += 1
    asyncio.run(ask())
    assert len(calls) == 2


def test_over_the_budget_a_miss_is_refused_with_the_wait() -> None:
    calls: list[str] = []
    source = PcsClient("https://pcs.invalid", client=httpx.AsyncClient(transport=_not_found_transport(calls)))
    now = [0.0]
    cache = CollateralCache(None, budget=RequestBudget(2.0, 3, clock=lambda: now[0]))

    async def ask(i: int) -> None:
        await cache.tcb_info(source, "sgx", i.to_bytes(6, "big"))

    for i in range(3):
        with pytest.raises(CollateralNotFoundError):
            asyncio.run(ask(i))
    with pytest.raises(ThrottledError) as caught:
        asyncio.run(ask(3))
    assert caught.value.retry_after == pytest.approx(0.5) and "retry in 1 s" in str(caught.value)
    assert len(calls) == 3 and cache.stats().throttled == 1
    now[0] += 0.5
    with pytest.raises(CollateralNotFoundError):
        asyncio.run(ask(4))
    assert len(calls) == 4
