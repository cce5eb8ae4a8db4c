"""The two-tier cache with real Intel collateral (each bundle at its pinned time, through an injected clock):
fetch once, serve from memory and from the store, freshness from the documents, stale when the upstream is
down, refusal of anything unverifiable, and one upstream request for any number of concurrent misses."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from pydcap import verify_quote
from pydcap.cache import (
    AsyncCollateralService,
    CollateralCache,
    CollateralService,
    CollateralStore,
    EntryKey,
    NotCachedError,
    OutdatedCollateralError,
    StoreError,
    UntrustedCollateralError,
)
from pydcap.cache import schema as tables
from pydcap.collateral import TcbInfo
from pydcap.pki import TrustRoot
from pydcap.sources import CollateralRequest, Fetched, UpstreamUnreachableError
from tests.cache.bundle_source import BundleSource, platform_of
from tests.sources.pccs_replay import flip_signature_byte
from tests.support.keys import other_root
from tests.support.testdata import REAL, Bundle, bundle_params, require_testdata
from tests.support.threads import run_together

PARTS = {"root_ca_crl", "pck_crl", "tcb_info", "qe_identity"}


def _named(name: str) -> Bundle:
    require_testdata()
    return next(b for b in REAL if b.name == name)


class Clock:
    """A settable clock, starting at a bundle's pinned verification time."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self) -> float:
        return float(self.at)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[CollateralStore]:
    with CollateralStore.open(tmp_path / "c.sqlite3") as store:
        yield store


@pytest.mark.parametrize("bundle", bundle_params(REAL))
def test_each_real_bundle_is_fetched_once_and_verifies_as_intel_says(
    bundle: Bundle | None, sqlite_store: CollateralStore
) -> None:
    require_testdata()
    assert bundle is not None
    source = BundleSource(bundle)
    cache = CollateralCache(sqlite_store, clock=Clock(bundle.at))
    service = AsyncCollateralService(source, cache)

    first = asyncio.run(service.fetch(bundle.quote))
    assert dict(source.calls) == dict.fromkeys(PARTS, 1)
    assert set(first.origins.values()) == {"upstream"} and not first.stale_parts
    result = verify_quote(bundle.quote, first.collateral, at=bundle.at)
    assert (result.tcb_status.value if result.tcb_status else None) == bundle.expected["tcb_status"]
    assert (result.failure.value if result.failure else None) == bundle.expected["failure"]

    second = asyncio.run(service.fetch(bundle.quote))
    assert source.total() == 4, "the second lookup asks nobody"
    assert set(second.origins.values()) == {"memory"}
    assert second.collateral == first.collateral

    restarted = AsyncCollateralService(source, CollateralCache(sqlite_store, clock=Clock(bundle.at)))
    third = asyncio.run(restarted.fetch(bundle.quote))
    assert source.total() == 4, "a new cache on the same store asks nobody either"
    assert set(third.origins.values()) == {"store"}
    assert third.collateral == first.collateral


def test_the_same_holds_on_postgresql_and_sqlite(target: str) -> None:
    b = _named("phala-tdx-v4")
    source = BundleSource(b)
    with CollateralStore.open(target) as store:
        asyncio.run(AsyncCollateralService(source, CollateralCache(store, clock=Clock(b.at))).fetch(b.quote))
    with CollateralStore.open(target) as store:
        again = asyncio.run(AsyncCollateralService(source, CollateralCache(store, clock=Clock(b.at))).fetch(b.quote))
        assert store.counters()["upstream_fetches"] == 4
    assert source.total() == 4 and set(again.origins.values()) == {"store"}


def test_an_entry_is_refetched_after_its_next_update_and_served_stale_when_the_upstream_is_down(
    sqlite_store: CollateralStore,
) -> None:
    b = _named("phala-sgx-v3")
    clock = Clock(b.at)
    source = BundleSource(b)
    cache = CollateralCache(sqlite_store, clock=clock, retry_interval=0)
    service = AsyncCollateralService(source, cache)
    asyncio.run(service.fetch(b.quote))
    tcb_next_update = TcbInfo.parse((b.path / "collateral" / "tcb_info.json").read_bytes()).next_update

    clock.at = tcb_next_update + 60  # the TCB info and PCK CRL are past their nextUpdate, the root CA CRL is not
    refreshed = asyncio.run(service.fetch(b.quote))
    assert source.calls["tcb_info"] == 2 and source.calls["pck_crl"] == 2 and source.calls["root_ca_crl"] == 1
    assert refreshed.origins["root_ca_crl"] == "memory"
    assert set(refreshed.stale_parts) == {"pck_crl", "tcb_info", "qe_identity"}, "Intel's copy is as old as ours"

    source.down = True
    stale = asyncio.run(AsyncCollateralService(source, CollateralCache(sqlite_store, clock=clock)).fetch(b.quote))
    assert set(stale.stale_parts) == {"pck_crl", "tcb_info", "qe_identity"}
    assert stale.entries["tcb_info"].origin == "store"
    result = verify_quote(b.quote, stale.collateral, at=clock.at)
    assert result.tcb_status is not None and result.collateral_expired, "the verifier flags it; policy decides"


def test_nothing_cached_and_the_upstream_down_fails_at_once_and_is_not_asked_again_soon(
    sqlite_store: CollateralStore,
) -> None:
    b = _named("phala-sgx-v3")
    source = BundleSource(b)
    source.down = True
    cache = CollateralCache(sqlite_store, clock=Clock(b.at), retry_interval=60)
    with pytest.raises(UpstreamUnreachableError):
        asyncio.run(cache.tcb_info(source, "sgx", "00a067110000"))
    with pytest.raises(UpstreamUnreachableError):
        asyncio.run(cache.tcb_info(source, "sgx", "00a067110000"))
    assert source.calls["tcb_info"] == 1, "within retry_interval the failure is the answer"
    assert cache.stats().upstream_errors == 1


def test_a_document_that_does_not_verify_is_refused_and_never_stored(sqlite_store: CollateralStore) -> None:
    b = _named("phala-sgx-v3")
    source = BundleSource(b)
    source.tamper["tcb_info"] = flip_signature_byte
    cache = CollateralCache(sqlite_store, clock=Clock(b.at), retry_interval=0)
    with pytest.raises(UntrustedCollateralError, match="TCB info"):
        asyncio.run(AsyncCollateralService(source, cache).fetch(b.quote))
    stored = {str(e.key) for _, e in sqlite_store.entries()}
    assert "tcb_info/sgx/00a067110000/standard" not in stored
    assert sqlite_store.counters()["refused"] == 1
    assert cache.stats().refused == 1

    del source.tamper["tcb_info"]
    fixed = asyncio.run(AsyncCollateralService(source, cache).fetch(b.quote))
    assert fixed.entries["tcb_info"].origin == "upstream" and not fixed.stale_parts


def test_a_refused_refresh_keeps_serving_the_verified_entry_as_stale(sqlite_store: CollateralStore) -> None:
    b = _named("phala-sgx-v3")
    clock = Clock(b.at)
    source = BundleSource(b)
    cache = CollateralCache(sqlite_store, clock=clock, retry_interval=0)
    before = asyncio.run(cache.tcb_info(source, "sgx", "00a067110000"))
    clock.at = before.valid_until + 1
    source.tamper["tcb_info"] = flip_signature_byte
    after = asyncio.run(cache.tcb_info(source, "sgx", "00a067110000"))
    assert after.stale and after.data == before.data
    stored = sqlite_store.get(cache.root_id, EntryKey.tcb_info("sgx", "00a067110000"))
    assert stored is not None and stored.data == before.data


@pytest.mark.parametrize("persistent", [True, False], ids=["store", "memory-only"])
def test_an_older_document_than_the_cached_one_is_refused(sqlite_store: CollateralStore, persistent: bool) -> None:
    newer, older = _named("teepot-vault_proxy"), _named("teepot-sw_hardening")
    clock = Clock(newer.at)
    cache = CollateralCache(sqlite_store if persistent else None, clock=clock, retry_interval=0)
    kept = asyncio.run(cache.tcb_info(BundleSource(newer), "sgx", "00606a000000"))
    clock.at = kept.valid_until + 1
    replayed = asyncio.run(cache.tcb_info(BundleSource(older), "sgx", "00606a000000"))
    assert replayed.stale and replayed.data == kept.data
    assert cache.stats().refused == 1


def test_without_a_store_the_last_verified_entry_is_served_stale_when_the_upstream_is_down() -> None:
    b = _named("phala-sgx-v3")
    clock = Clock(b.at)
    source = BundleSource(b)
    cache = CollateralCache(None, clock=clock, retry_interval=0)
    before = asyncio.run(cache.tcb_info(source, "sgx", "00a067110000"))
    clock.at = before.valid_until + 1
    source.down = True
    after = asyncio.run(cache.tcb_info(source, "sgx", "00a067110000"))
    assert after.stale and after.origin == "memory" and after.data == before.data
    assert source.calls["tcb_info"] == 2 and cache.stats().stale_served == 1


def test_max_age_bounds_freshness() -> None:
    b = _named("phala-tdx-v4")
    clock = Clock(b.at)
    source = BundleSource(b)
    cache = CollateralCache(None, clock=clock, max_age=30)
    asyncio.run(cache.qe_identity(source, "tdx"))
    clock.at += 10
    asyncio.run(cache.qe_identity(source, "tdx"))
    assert source.calls["qe_identity"] == 1
    clock.at += 30
    asyncio.run(cache.qe_identity(source, "tdx"))
    assert source.calls["qe_identity"] == 2


def test_a_tampered_store_is_not_believed(sqlite_store: CollateralStore) -> None:
    b = _named("phala-sgx-v3")
    source = BundleSource(b)
    cache = CollateralCache(sqlite_store, clock=Clock(b.at))
    asyncio.run(cache.tcb_info(source, "sgx", "00a067110000"))
    t = tables.entries
    with sqlite_store.engine.begin() as conn:
        doc = conn.execute(t.select().where(t.c.kind == "tcb_info")).one().data
        conn.execute(update(t).where(t.c.kind == "tcb_info").values(data=flip_signature_byte(bytes(doc))))
    fresh_cache = CollateralCache(sqlite_store, clock=Clock(b.at))
    entry = asyncio.run(fresh_cache.tcb_info(source, "sgx", "00a067110000"))
    assert entry.origin == "upstream" and fresh_cache.stats().store_entries_rejected == 1
    assert source.calls["tcb_info"] == 2


def test_what_a_stored_row_says_beside_the_document_is_not_believed(sqlite_store: CollateralStore) -> None:
    b = _named("phala-sgx-v3")
    source = BundleSource(b)
    platform = platform_of(b)
    asyncio.run(
        AsyncCollateralService(source, CollateralCache(sqlite_store, clock=Clock(b.at))).pck_certificate(platform)
    )
    t = tables.entries
    with sqlite_store.engine.begin() as conn:
        conn.execute(update(t).where(t.c.kind == "pck_certificate").values(meta=json.dumps({"ca_type": "platform"})))
        conn.execute(update(t).where(t.c.kind == "root_ca_crl").values(meta="{not json"))
    restarted = AsyncCollateralService(source, CollateralCache(sqlite_store, clock=Clock(b.at)))
    cert = asyncio.run(restarted.pck_certificate(platform))
    assert cert.entry.origin == "store" and cert.ca_type == "processor", "the certificate says processor"
    assert source.total() == 3, "nothing was fetched again"


def test_a_failing_store_does_not_stop_a_verified_answer(
    sqlite_store: CollateralStore, caplog: pytest.LogCaptureFixture
) -> None:
    b = _named("phala-sgx-v3")
    with sqlite_store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE pydcap_entries")
    cache = CollateralCache(sqlite_store, clock=Clock(b.at))
    entry = asyncio.run(cache.root_ca_crl(BundleSource(b)))
    assert entry.origin == "upstream" and not entry.stale
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(said) == 1 and "no such table" in said[0], said  # once, until the store works again
    with pytest.raises(StoreError, match="no such table"):
        sqlite_store.entries()


def test_entries_are_kept_apart_per_trust_root(sqlite_store: CollateralStore) -> None:
    b = _named("phala-sgx-v3")
    source = BundleSource(b)
    asyncio.run(CollateralCache(sqlite_store, clock=Clock(b.at)).root_ca_crl(source))
    other = CollateralCache(sqlite_store, trust=other_root(), clock=Clock(b.at))
    with pytest.raises(UntrustedCollateralError):
        asyncio.run(other.root_ca_crl(source))
    assert len(sqlite_store.entries()) == 1


def test_the_cache_alone_serves_what_it_has_and_names_what_it_lacks(sqlite_store: CollateralStore) -> None:
    b = _named("phala-tdx-v4")
    cache = CollateralCache(sqlite_store, clock=Clock(b.at))
    with pytest.raises(NotCachedError, match="TD QE identity"):
        asyncio.run(cache.qe_identity(None, "tdx"))
    assert asyncio.run(cache.peek(EntryKey.root_ca_crl())) is None
    source = BundleSource(b)
    asyncio.run(cache.qe_identity(source, "tdx"))
    assert asyncio.run(CollateralCache(sqlite_store, clock=Clock(b.at)).qe_identity(None, "tdx")).origin == "store"
    asyncio.run(cache.refresh(EntryKey.qe_identity("tdx"), source))
    assert source.calls["qe_identity"] == 2


def test_documents_from_elsewhere_are_imported_only_when_they_verify(sqlite_store: CollateralStore) -> None:
    b = _named("phala-sgx-v3")
    d = b.path / "collateral"
    cache = CollateralCache(sqlite_store, clock=Clock(b.at))
    tcb_key = EntryKey.tcb_info("sgx", "00a067110000")
    tcb = Fetched((d / "tcb_info.json").read_bytes(), (d / "tcb_info_issuer_chain.pem").read_bytes(), "import")
    with pytest.raises(NotCachedError, match="root CA CRL"):
        asyncio.run(cache.put(tcb_key, tcb))
    asyncio.run(cache.put(EntryKey.root_ca_crl(), Fetched((d / "root_ca_crl.der").read_bytes(), b"", "import")))
    bad = Fetched(flip_signature_byte(tcb.data), tcb.issuer_chain, "import")
    with pytest.raises(UntrustedCollateralError):
        asyncio.run(cache.put(tcb_key, bad))
    asyncio.run(cache.put(tcb_key, tcb))
    served = asyncio.run(CollateralCache(sqlite_store, clock=Clock(b.at)).tcb_info(None, "sgx", "00a067110000"))
    assert served.data == tcb.data and sqlite_store.counters()["imported"] == 2


@pytest.mark.parametrize("persistent", [True, False], ids=["store", "memory-only"])
def test_an_import_older_than_the_cached_document_is_refused(sqlite_store: CollateralStore, persistent: bool) -> None:
    newer, older = _named("teepot-vault_proxy"), _named("teepot-sw_hardening")
    cache = CollateralCache(sqlite_store if persistent else None, clock=Clock(newer.at))
    key = EntryKey.tcb_info("sgx", "00606a000000")

    def tcb_info(b: Bundle) -> Fetched:
        d = b.path / "collateral"
        return Fetched((d / "tcb_info.json").read_bytes(), (d / "tcb_info_issuer_chain.pem").read_bytes(), "import")

    root = (newer.path / "collateral" / "root_ca_crl.der").read_bytes()
    asyncio.run(cache.put(EntryKey.root_ca_crl(), Fetched(root, b"", "import")))
    kept = asyncio.run(cache.put(key, tcb_info(newer)))
    with pytest.raises(OutdatedCollateralError, match="older than the one already cached"):
        asyncio.run(cache.put(key, tcb_info(older)))
    assert asyncio.run(cache.tcb_info(None, "sgx", "00606a000000")).data == kept.data
    if persistent:
        stored = sqlite_store.get(cache.root_id, key)
        assert stored is not None and stored.data == kept.data
    asyncio.run(cache.put(key, tcb_info(newer)))  # the same issue again is no rollback


def test_the_machine_certificate_is_fetched_once_and_persisted(sqlite_store: CollateralStore) -> None:
    b = _named("phala-sgx-v3")
    source = BundleSource(b)
    platform = platform_of(b)
    service = AsyncCollateralService(source, CollateralCache(sqlite_store, clock=Clock(b.at)))
    cert = asyncio.run(service.pck_certificate(platform))
    request = CollateralRequest.from_quote(b.quote)
    assert (cert.cpu_svn, cert.pce_svn) == (platform.cpu_svn, platform.pce_svn)
    assert (cert.fmspc, cert.ca_type) == (request.fmspc, request.ca.value)
    assert cert.pem_chain.count(b"BEGIN CERTIFICATE") == 3 and not cert.stale
    assert source.calls == {"pck_certificate": 1, "root_ca_crl": 1, "pck_crl": 1}
    restarted = AsyncCollateralService(source, CollateralCache(sqlite_store, clock=Clock(b.at)))
    again = asyncio.run(restarted.pck_certificate(platform))
    assert again.entry.origin == "store" and again.certificate == cert.certificate
    assert source.calls["pck_certificate"] == 1


def test_a_hundred_concurrent_lookups_make_one_request_per_part(target: str) -> None:
    b = _named("phala-tdx-v4")
    source = BundleSource(b, latency=0.1)
    with CollateralStore.open(target) as store:
        service = AsyncCollateralService(source, CollateralCache(store, clock=Clock(b.at)))

        async def many() -> None:
            results = await asyncio.gather(*(service.fetch(b.quote) for _ in range(100)))
            assert len({r.collateral.digest for r in results}) == 1

        asyncio.run(many())
    assert dict(source.calls) == dict.fromkeys(PARTS, 1)


def test_threads_sharing_the_sync_service_make_one_request_per_part(sqlite_store: CollateralStore) -> None:
    b = _named("phala-sgx-v3")
    source = BundleSource(b, latency=0.1)
    digests: list[bytes] = []
    with CollateralService(source, CollateralCache(sqlite_store, clock=Clock(b.at))) as service:
        run_together(lambda _: digests.append(service.get_collateral(b.quote).digest), 16)
    assert len(digests) == 16 and len(set(digests)) == 1
    assert dict(source.calls) == dict.fromkeys(PARTS, 1)


def test_threads_with_their_own_event_loops_share_one_cache_and_one_fetch() -> None:
    b = _named("phala-tdx-v4")
    source = BundleSource(b, latency=0.2)
    cache = CollateralCache(None, clock=Clock(b.at))
    digests: list[bytes] = []

    def run(_: int) -> None:
        digests.append(asyncio.run(AsyncCollateralService(source, cache).get_collateral(b.quote)).digest)

    run_together(run, 8)
    assert len(digests) == 8 and len(set(digests)) == 1
    assert dict(source.calls) == dict.fromkeys(PARTS, 1)
    assert cache.stats().joined_in_process >= 7


def test_caches_sharing_a_store_wait_for_each_other_instead_of_fetching_twice(target: str) -> None:
    """Two cache instances (as in two processes) on separate event loops, one store, one request per part."""
    b = _named("phala-sgx-v3")
    source = BundleSource(b, latency=0.3)
    origins: list[str] = []

    def run(_: int) -> None:
        with CollateralStore.open(target) as store:
            cache = CollateralCache(store, clock=Clock(b.at))
            got = asyncio.run(AsyncCollateralService(source, cache).fetch(b.quote))
            origins.extend(got.origins.values())

    run_together(run, 4)
    assert dict(source.calls) == dict.fromkeys(PARTS, 1)
    assert origins.count("upstream") == 4 and origins.count("store") == 12


def test_stats_count_what_happened() -> None:
    b = _named("phala-sgx-v3")
    source = BundleSource(b)
    cache = CollateralCache(None, clock=Clock(b.at), trust=TrustRoot.intel())
    service = AsyncCollateralService(source, cache)
    asyncio.run(service.fetch(b.quote))
    asyncio.run(service.fetch(b.quote))
    stats = cache.stats()
    assert stats.upstream_fetches == 4 and stats.memory_hits >= 4 and stats.refused == 0
