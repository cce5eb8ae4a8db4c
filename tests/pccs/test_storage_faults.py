"""Storage faults (issue 12, finding 6): the PCCS never answers 500. A verified answer it could not store is
served all the same; what needs the store answers 503 with ``Retry-After``. SQLite refuses writes the way it does
on a full disk (``max_page_count``: SQLITE_FULL) or on a read-only file (``query_only``: SQLITE_READONLY); the
PostgreSQL server terminates the PCCS's connections (``pg_terminate_backend``) while it serves."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import event

from pydcap.pccs import CachingMode, PccsServer
from pydcap.sim import SimulatedIntel
from pydcap.sim.server import SimulatedPcs
from tests.cache.databases import _PG_CONNINFO, postgres_schema
from tests.support.pccs import ADMIN, USER, V4, Factory, client, pckcert_params, registration

# What SQLite says when it cannot write: the disk is full, or the file is read-only.
REFUSALS = {"full": "PRAGMA max_page_count = 1", "read-only": "PRAGMA query_only = ON"}


@contextmanager
def refusing_writes(server: PccsServer, pragma: str) -> Iterator[None]:
    """Every connection of the PCCS's SQLite store refuses writes (``pragma``) until the block ends."""
    engine = server.app.service.store.engine

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(pragma)

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # the pooled connections were opened before
    try:
        yield
    finally:
        event.remove(engine, "connect", on_connect)
        engine.dispose()


def assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, (answer.status_code, answer.text)
    assert int(answer.headers["Retry-After"]) >= 1
    assert "sqlite" not in answer.text.lower() and "disk" not in answer.text.lower(), answer.text


@pytest.mark.parametrize("fault", sorted(REFUSALS))
def test_a_store_that_cannot_write_still_serves_what_was_verified(
    make_pccs: Factory, intel: SimulatedIntel, pcs: SimulatedPcs, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    pccs = make_pccs()
    cached = intel.sgx_platform(name=f"store-{fault}-cached")
    fresh = intel.tdx_platform(name=f"store-{fault}-fresh")
    with client(pccs) as c:
        assert c.get(f"{V4}/pckcert", params=pckcert_params(cached)).status_code == 200
        with refusing_writes(pccs, REFUSALS[fault]):
            # Cached: served as before. Not cached: fetched, verified, served, though not stored.
            assert c.get(f"{V4}/pckcert", params=pckcert_params(cached)).content == cached.pck.pem
            tcb = c.get("/tdx/certification/v4/tcb", params={"fmspc": fresh.fmspc.hex()})
            assert tcb.status_code == 200 and tcb.content == intel.tcb_info(fresh.fmspc, "tdx")
            other = intel.sgx_platform(name=f"store-{fault}-other", fmspc=bytes.fromhex("00906EA10000"))
            pck = c.get(f"{V4}/pckcert", params=pckcert_params(other))
            assert pck.status_code == 200 and pck.content == other.pck.pem
            # What must be stored to be done at all: 503 and Retry-After, the store's words only in the log.
            assert_unavailable(c.post(f"{V4}/platforms", json=registration(fresh), headers=USER))
            document = {"platforms": [], "collaterals": {"version": 4, "rootcacrl": intel.root_ca_crl().hex()}}
            assert_unavailable(c.put(f"{V4}/platformcollateral", json=document, headers=ADMIN))
        assert "pckcache.sqlite3 failed" in caplog.text  # the store's own words, in the log only
        # Writable again: the next registration is stored.
        assert c.post(f"{V4}/platforms", json=registration(fresh), headers=USER).status_code == 200


@pytest.mark.postgres
def test_postgresql_connections_killed_while_serving_never_give_500(make_pccs: Factory, intel: SimulatedIntel) -> None:
    with postgres_schema() as url:
        name = url.rsplit("%3D", 1)[1]  # the schema's name, also the connections' application_name
        pccs = make_pccs(CachingMode.REQ, database=f"{url}&application_name={name}")
        platforms = [intel.sgx_platform(name=f"pg-kill-{i}") for i in range(3)]
        with client(pccs) as c:
            for platform in platforms:
                assert c.post(f"{V4}/platforms", json=registration(platform), headers=USER).status_code == 200
        stop = threading.Event()
        killed = 0

        def kill() -> None:
            nonlocal killed
            with psycopg.connect(_PG_CONNINFO, autocommit=True) as conn:
                while not stop.is_set():
                    rows = conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (name,)
                    ).fetchall()
                    killed += len(rows)
                    time.sleep(0.003)

        killer = threading.Thread(target=kill, daemon=True)
        statuses: dict[int, int] = {}
        bad: list[str] = []
        killer.start()
        try:
            with client(pccs) as c:
                for i in range(400):
                    platform = platforms[i % len(platforms)]
                    if i % 2:
                        answer = c.get(f"{V4}/platforms", params={"source": "[]"}, headers=ADMIN)
                    else:
                        answer = c.post(f"{V4}/platforms", json=registration(platform), headers=USER)
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                    if answer.status_code != 200 and (answer.status_code != 503 or "Retry-After" not in answer.headers):
                        bad.append(f"{answer.status_code} {answer.text[:200]}")
        finally:
            stop.set()
            killer.join(10)
        assert killed > 10, "the connections were hardly killed: the test proved nothing"
        assert not bad, (statuses, bad[:3])
        with client(pccs) as c:  # and it recovers
            assert c.get(f"{V4}/pckcert", params=pckcert_params(platforms[0], with_ppid=False)).status_code == 200
