"""The collateral service against the simulated Intel PCS over real HTTP: what issue 4 must show.

Each part fetched once and never again (also by a new cache on the same store), a cached platform
verifying through an outage while an uncached one fails fast, Retry-After honoured, one upstream request
per part for a hundred concurrent verifications, a broken signature refused and never stored, the machine
certificate persisted. Every test runs on a SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pydcap import Verifier
from pydcap.cache import AsyncCollateralService, CollateralCache, CollateralStore, UntrustedCollateralError
from pydcap.sources import HttpSettings, PcsClient, RetryPolicy, UpstreamUnreachableError

server = pytest.importorskip("pydcap.sim.server", reason="the simulated Intel PCS (pydcap.sim.server) is not available")
from pydcap.serving import ThreadedServer  # noqa: E402
from pydcap.sim import SimulatedIntel  # noqa: E402
from pydcap.sim.server.faults import FaultInjector  # noqa: E402
from pydcap.sim.server.stats import RequestStats  # noqa: E402

SGX_PARTS = {"sgx/v4/rootcacrl": 1, "sgx/v4/pckcrl": 1, "sgx/v4/tcb": 1, "sgx/v4/qe/identity": 1}


@pytest.fixture(scope="module")
def intel() -> SimulatedIntel:
    return SimulatedIntel(seed=4)


@pytest.fixture(scope="module")
def _pcs(intel: SimulatedIntel) -> Iterator[Any]:
    with server.SimulatedPcs(intel) as pcs:
        yield pcs


@pytest.fixture
def pcs(_pcs: Any) -> Iterator[Any]:
    _pcs.faults.clear()
    _pcs.reset_stats()
    yield _pcs
    _pcs.faults.clear()


@pytest.fixture
def store(target: str) -> Iterator[CollateralStore]:
    with CollateralStore.open(target) as s:
        yield s


def _service(pcs: Any, store: CollateralStore, intel: SimulatedIntel, **settings: Any) -> AsyncCollateralService:
    http = HttpSettings(**settings) if settings else None
    return AsyncCollateralService(PcsClient(pcs.url, settings=http), CollateralCache(store, trust=intel.trust_root))


def _verify(intel: SimulatedIntel, quote: bytes, service: AsyncCollateralService) -> tuple[Any, Any]:
    fetched = asyncio.run(service.fetch(quote))
    return fetched, Verifier(trusted_root=intel.trust_root).verify(quote, fetched.collateral)


def test_each_part_is_fetched_once_then_never_again(pcs: Any, store: CollateralStore, intel: SimulatedIntel) -> None:
    quote = intel.sgx_platform().quote(report_data=b"first")
    first, result = _verify(intel, quote, _service(pcs, store, intel))
    assert result.accepted, result.reasons
    assert set(first.origins.values()) == {"upstream"}
    assert pcs.stats()["by_endpoint"] == SGX_PARTS
    service = _service(pcs, store, intel)
    restarted, _ = _verify(intel, quote, service)
    assert set(restarted.origins.values()) == {"store"}
    again, result = _verify(intel, intel.sgx_platform().quote(report_data=b"second"), service)
    assert result.accepted and set(again.origins.values()) == {"memory"}
    assert pcs.stats()["total"] == 4


def test_through_an_outage_a_cached_platform_verifies_and_an_uncached_one_fails_fast(
    pcs: Any, store: CollateralStore, intel: SimulatedIntel
) -> None:
    sgx = intel.sgx_platform().quote(report_data=b"cached")
    _verify(intel, sgx, _service(pcs, store, intel))
    pcs.faults.outage(True)
    fetched, result = _verify(intel, sgx, _service(pcs, store, intel))
    assert result.accepted and set(fetched.origins.values()) == {"store"}
    started = time.monotonic()
    with pytest.raises(UpstreamUnreachableError, match=pcs.url):
        _verify(intel, intel.tdx_platform().quote(report_data=b"new"), _service(pcs, store, intel))
    assert time.monotonic() - started < 10, "the default policy gives up within seconds"


def test_retry_after_is_honoured(pcs: Any, store: CollateralStore, intel: SimulatedIntel) -> None:
    pcs.faults.rate_limit(retry_after=3, count=1)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # the wait is recorded, not spent
        slept.append(seconds)

    quote = intel.sgx_platform().quote(report_data=b"429")
    _, result = _verify(intel, quote, _service(pcs, store, intel, sleep=sleep))
    assert result.accepted
    assert slept == [3.0], "retried before Retry-After allowed"
    stats = pcs.stats()
    assert stats["faulted"] == 1 and stats["total"] == 5


def test_server_errors_and_dropped_connections_are_retried(
    pcs: Any, store: CollateralStore, intel: SimulatedIntel
) -> None:
    pcs.faults.server_error(503, count=2)
    pcs.faults.drop_connections(count=1, endpoint="tcb")
    fast = {"retry": RetryPolicy(attempts=5, backoff=0.05)}
    _, result = _verify(intel, intel.sgx_platform().quote(report_data=b"5xx"), _service(pcs, store, intel, **fast))
    assert result.accepted and pcs.stats()["faulted"] == 3


def test_a_hundred_concurrent_verifications_make_one_request_per_part(
    pcs: Any, store: CollateralStore, intel: SimulatedIntel
) -> None:
    platform = intel.tdx_platform(name="concurrent")
    quotes = [platform.quote(report_data=i.to_bytes(4, "big")) for i in range(100)]
    pcs.faults.latency(0.3)
    service = _service(pcs, store, intel)
    verifier = Verifier(trusted_root=intel.trust_root)

    async def verify_all() -> list[bool]:
        fetched = await asyncio.gather(*(service.fetch(q) for q in quotes))
        return [verifier.verify(q, f.collateral).accepted for q, f in zip(quotes, fetched, strict=True)]

    assert all(asyncio.run(verify_all()))
    assert pcs.stats()["by_endpoint"] == {
        "sgx/v4/rootcacrl": 1,
        "sgx/v4/pckcrl": 1,
        "tdx/v4/tcb": 1,
        "tdx/v4/qe/identity": 1,
    }


class _BreakTcbSignatures:
    """Between the simulated PCS and its clients: flips a digit of every TCB info signature."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.on = True

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or "/tcb" not in scope["path"] or not self.on:
            await self.app(scope, receive, send)
            return

        async def tampering_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and b'"signature":"' in message.get("body", b""):
                body = message["body"]
                at = body.index(b'"signature":"') + 20
                message = {
                    **message,
                    "body": body[:at] + (b"1" if body[at : at + 1] == b"0" else b"0") + body[at + 1 :],
                }
            await send(message)

        await self.app(scope, receive, tampering_send)


def test_a_broken_signature_from_upstream_is_refused_and_never_stored(
    store: CollateralStore, intel: SimulatedIntel
) -> None:
    stats = RequestStats()
    tamper = _BreakTcbSignatures(server.build_app(intel, FaultInjector(), stats))
    upstream = ThreadedServer(tamper, "127.0.0.1", 0)
    upstream.start()
    try:
        url = f"http://127.0.0.1:{upstream.port}"
        quote = intel.sgx_platform().quote(report_data=b"tampered")
        service = AsyncCollateralService(
            PcsClient(url), CollateralCache(store, trust=intel.trust_root, retry_interval=0)
        )
        with pytest.raises(UntrustedCollateralError, match="TCB_INFO_INVALID_SIGNATURE"):
            asyncio.run(service.fetch(quote))
        kinds = {e.key.kind.value for _, e in store.entries()}
        assert "tcb_info" not in kinds and store.counters()["refused"] == 1
        tamper.on = False
        fetched = asyncio.run(service.fetch(quote))
        assert fetched.entries["tcb_info"].origin == "upstream"
        assert Verifier(trusted_root=intel.trust_root).verify(quote, fetched.collateral).accepted
    finally:
        upstream.stop()


def test_collateral_signed_by_another_root_is_refused(store: CollateralStore, intel: SimulatedIntel) -> None:
    with server.SimulatedPcs(intel.impostor()) as impostor:
        service = _service(impostor, store, intel)
        with pytest.raises(UntrustedCollateralError, match="root CA CRL"):
            asyncio.run(service.fetch(intel.sgx_platform().quote(report_data=b"impostor")))
    assert store.entries() == []


def test_the_machine_certificate_is_fetched_once_and_survives_an_outage(
    pcs: Any, store: CollateralStore, intel: SimulatedIntel
) -> None:
    platform = intel.sgx_platform(name="machine")
    ours = platform.platform_id
    cert = asyncio.run(_service(pcs, store, intel).pck_certificate(ours))
    assert cert.certificate.strip() == platform.pck_certificate_pem.strip()
    assert (cert.cpu_svn, cert.pce_svn, cert.fmspc) == (platform.cpu_svn, platform.pce_svn, platform.fmspc)
    assert pcs.stats()["by_endpoint"] == {"sgx/v4/pckcert": 1, "sgx/v4/pckcrl": 1, "sgx/v4/rootcacrl": 1}
    pcs.faults.outage(True)
    again = asyncio.run(_service(pcs, store, intel).pck_certificate(ours))
    assert again.entry.origin == "store" and again.certificate == cert.certificate and not again.stale
