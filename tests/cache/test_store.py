"""The persistent store on a real SQLite file and a real PostgreSQL: entries, leases, counters, opening."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import update

from pydcap.cache import CollateralStore, Entry, EntryKey, StoreError, default_store_limit, default_store_path
from pydcap.cache import schema as tables
from pydcap.cache.owners import new_owner, owner_is_dead
from pydcap.provider.service import open_own_store
from tests.cache.databases import PG_URL, schema_name
from tests.support.threads import run_together

ROOT = "r" * 32


def _entry(key: EntryKey, data: bytes = b"document", valid_until: int = 2_000_000_000) -> Entry:
    return Entry(
        key=key,
        data=data,
        issuer_chain=b"-----BEGIN CERTIFICATE-----\n...",
        fetched_at=1_700_000_000,
        valid_until=valid_until,
        source="http://127.0.0.1/x",
        meta={"next_update": "2033-05-18T03:33:20Z", "crl_number": "7"},
    )


def test_an_entry_comes_back_as_it_was_put(store: CollateralStore) -> None:
    key = EntryKey.tcb_info("tdx", "b0c06f000000")
    entry = _entry(key, b"\x00\xffbinary-safe")
    store.put(ROOT, entry)
    got = store.get(ROOT, key)
    assert got is not None
    assert (got.key, got.data, got.issuer_chain, got.meta) == (key, entry.data, entry.issuer_chain, entry.meta)
    assert (got.fetched_at, got.valid_until, got.source, got.origin) == (
        1_700_000_000,
        2_000_000_000,
        entry.source,
        "store",
    )
    assert got.stored_at > 0
    assert store.get("another root", key) is None, "entries of one trust root are invisible to another"


def test_put_replaces_and_each_write_is_told_apart(store: CollateralStore) -> None:
    key = EntryKey.root_ca_crl()
    store.put(ROOT, _entry(key, b"first"))
    first = store.get(ROOT, key)
    store.put(ROOT, _entry(key, b"second"))
    second = store.get(ROOT, key)
    assert first is not None and second is not None
    assert second.data == b"second" and second.stored_at >= first.stored_at
    assert len(store.entries()) == 1


def test_listing_deleting_clearing_and_summary(store: CollateralStore) -> None:
    keys = [
        EntryKey.root_ca_crl(),
        EntryKey.pck_crl("platform"),
        EntryKey.tcb_info("sgx", "00a067110000"),
        EntryKey.qe_identity("sgx"),
    ]
    for i, key in enumerate(keys):
        store.put(ROOT, _entry(key, b"x" * (10 + i), valid_until=1000 if i == 0 else 3000))
    assert [str(e.key) for _, e in store.entries()] == sorted(str(k) for k in keys)
    assert [str(e.key) for _, e in store.entries(kind="tcb_info")] == ["tcb_info/sgx/00a067110000/standard"]
    summary = store.summary(now=2000)
    assert summary.entries == 4
    by_kind = {k.kind: k for k in summary.kinds}
    assert by_kind["root_ca_crl"].fresh == 0 and by_kind["pck_crl"].fresh == 1
    assert by_kind["tcb_info"].bytes == 12 + len(_entry(keys[2]).issuer_chain)
    assert store.delete(ROOT, keys[1]) and not store.delete(ROOT, keys[1])
    assert store.clear(kind="qe_identity") == 1
    assert store.clear() == 2
    assert store.entries() == []


def test_what_was_stored_survives_closing_and_reopening(target: str) -> None:
    key = EntryKey.pck_crl("processor")
    with CollateralStore.open(target) as store:
        store.put(ROOT, _entry(key), count="upstream_fetches")
    with CollateralStore.open(target) as again:
        got = again.get(ROOT, key)
        assert got is not None and got.data == b"document"
        assert again.counters() == {"upstream_fetches": 1}


def test_counters_add_up(store: CollateralStore) -> None:
    store.count("refused")
    store.count("refused", 2)
    store.put(ROOT, _entry(EntryKey.root_ca_crl()), count="upstream_fetches")
    assert store.counters() == {"refused": 3, "upstream_fetches": 1}


def test_a_lease_has_one_holder_until_released_or_expired(store: CollateralStore) -> None:
    a, b = new_owner(), new_owner()
    assert store.try_lease("k", a, 30) is None
    holder = store.try_lease("k", b, 30)
    assert holder is not None and holder.owner == a
    assert store.try_lease("k", a, 30) is None, "the holder may renew"
    store.release("k", b)
    assert store.lease("k") is not None, "only the holder releases"
    store.release("k", a)
    assert store.lease("k") is None
    assert store.try_lease("k", b, 0.2) is None
    assert store.try_lease("k", a, 30) is not None
    time.sleep(0.3)
    assert store.try_lease("k", a, 30) is None, "an expired lease is free"


def test_a_lease_whose_owner_died_on_this_host_is_taken_over_at_once(store: CollateralStore) -> None:
    child = subprocess.Popen(["sleep", "0"])
    child.wait()
    dead = new_owner().split(":")
    dead[1] = str(child.pid)
    dead_owner = ":".join(dead)
    assert owner_is_dead(dead_owner) and not owner_is_dead(new_owner())
    assert store.try_lease("k", dead_owner, 3600) is None
    assert store.lease("k") is None, "a dead owner holds nothing"
    me = new_owner()
    assert store.try_lease("k", me, 30) is None


def test_a_new_sqlite_file_opens_while_another_connection_holds_its_lock(tmp_path: Path) -> None:
    """Switching a new file to WAL needs it to itself, and SQLite refuses at once (no busy wait) while another
    connection holds a lock: the store waits, as it waits for any lock, instead of failing to open."""
    path = tmp_path / "new.sqlite"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE elsewhere (x)")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        with CollateralStore.open(path) as store:
            store.put(ROOT, _entry(EntryKey.root_ca_crl()))
    finally:
        release.join()
        other.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_many_processes_worth_of_stores_open_one_new_file_at_once(tmp_path: Path) -> None:
    def open_and_write(i: int) -> None:
        with CollateralStore.open(tmp_path / "shared.sqlite") as store:
            store.put(ROOT, _entry(EntryKey.tcb_info("sgx", f"{i:012x}")))

    run_together(open_and_write, 8)
    with CollateralStore.open(tmp_path / "shared.sqlite") as store:
        assert len(list(store.entries(root_id=ROOT))) == 8


def test_only_one_of_many_threads_gets_a_lease(store: CollateralStore) -> None:
    owners = [new_owner() for _ in range(12)]
    won: list[str] = []

    def take(i: int) -> None:
        if store.try_lease("contended", owners[i], 30) is None:
            won.append(owners[i])

    run_together(take, len(owners))
    assert len(won) == 1


def test_a_database_that_fails_under_a_store_is_a_store_error_naming_it(store: CollateralStore) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE pydcap_entries")
    for operation in (
        lambda: store.get(ROOT, EntryKey.root_ca_crl()),
        lambda: store.put(ROOT, _entry(EntryKey.root_ca_crl())),
    ):
        with pytest.raises(StoreError, match="pydcap_entries") as caught:
            operation()
        assert str(caught.value).startswith(f"the cache store {store.location} failed: ")
        assert "\n" not in str(caught.value), "one line, without SQLAlchemy's statement dump"


def test_a_row_whose_meta_is_unreadable_still_comes_back(store: CollateralStore) -> None:
    key = EntryKey.qe_identity("sgx")
    store.put(ROOT, _entry(key))
    for damaged in ("{not json", "[1, 2]"):
        with store.engine.begin() as conn:
            conn.execute(update(tables.entries).values(meta=damaged))
        got = store.get(ROOT, key)
        assert got is not None and got.data == b"document" and got.meta == {}
        assert [e.key for _, e in store.entries()] == [key]


def test_sqlite_is_in_wal_mode_and_private(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "c.sqlite3"
    with CollateralStore.open(path) as store:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert store.integrity_check() == "ok"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_store_from_a_newer_pydcap_is_refused(target: str) -> None:
    with CollateralStore.open(target) as store, store.engine.begin() as conn:
        conn.execute(update(tables.settings).where(tables.settings.c.name == "schema_version").values(value="99"))
    with pytest.raises(StoreError, match="newer pydcap"):
        CollateralStore.open(target)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("mysql://user@host/db", "unsupported database"),
        ("sqlite://", "in-memory"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/none", "cannot open"),
    ],
)
def test_unusable_locations_are_named(target: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        CollateralStore.open(target)


@pytest.mark.postgres
def test_a_postgresql_schema_of_its_own_is_created_and_used() -> None:
    with schema_name() as name:
        with CollateralStore.open(PG_URL, schema=name) as store:
            assert store.location.endswith(f"(schema {name})")
            store.put(ROOT, _entry(EntryKey.root_ca_crl()))
        with psycopg.connect(PG_URL.replace("+psycopg", ""), autocommit=True) as conn:
            query = "SELECT table_schema FROM information_schema.tables WHERE table_name = 'pydcap_entries'"
            assert (name,) in conn.execute(query).fetchall()
            assert conn.execute(f'SELECT count(*) FROM "{name}".pydcap_entries').fetchone() == (1,)


def test_a_bad_schema_name_is_refused() -> None:
    with pytest.raises(StoreError, match="identifier"):
        CollateralStore.open("postgresql+psycopg://postgres@127.0.0.1:5432/postgres", schema='x"; drop')


def test_default_location_follows_xdg_and_pydcap_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("PYDCAP_CACHE", raising=False)
    assert default_store_path() == tmp_path / "xdg" / "pydcap" / "collateral.sqlite3"
    with CollateralStore.open() as store:
        assert store.location == str(tmp_path / "xdg" / "pydcap" / "collateral.sqlite3")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / ".cache" / "pydcap" / "collateral.sqlite3"
    monkeypatch.setenv("PYDCAP_CACHE", str(tmp_path / "explicit.db"))
    with CollateralStore.open() as store:
        assert store.location == str(tmp_path / "explicit.db")
    assert os.path.exists(tmp_path / "explicit.db")


def test_a_bounded_store_deletes_what_was_written_longest_ago(tmp_path: Path) -> None:
    with CollateralStore.open(tmp_path / "bounded.sqlite3", max_bytes=50_000) as store:
        for i in range(20):
            key = EntryKey.tcb_info("sgx", i.to_bytes(6, "big"))
            store.put("root", Entry(key, b"x" * 4_000, b"c" * 1_000, 0, 1))
        kept = sorted(int(e.key.fmspc or "0", 16) for _, e in store.entries())
        assert kept == list(range(11, 20))  # nine entries of ~5 KB fit in 50 KB: the newest nine
        assert store.counters()["evicted"] == 11
        assert sum(k.bytes for k in store.summary(0).kinds) <= 50_000


def test_a_clients_store_is_bounded_by_default_and_the_bound_is_a_setting(tmp_path: Path) -> None:
    assert default_store_limit({}) == 64 * 1024 * 1024
    assert default_store_limit({"PYDCAP_CACHE_MAX_BYTES": "1000000"}) == 1_000_000
    assert default_store_limit({"PYDCAP_CACHE_MAX_BYTES": "0"}) is None
    with pytest.raises(StoreError, match="PYDCAP_CACHE_MAX_BYTES"):
        default_store_limit({"PYDCAP_CACHE_MAX_BYTES": "lots"})
    with open_own_store(tmp_path / "own.sqlite3", "PYDCAP_CACHE") as store:
        assert store.max_bytes == 64 * 1024 * 1024
